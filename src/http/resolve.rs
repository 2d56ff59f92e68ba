//! A DNS cache for every ureq agent (`Dns`, ureq's `Resolver`). ureq's own
//! resolver looks the host up for every request, even one sent on a pooled
//! connection, and on a thread of its own when a timeout is set: a thread
//! per EC2 call. This one looks a host up once, in the calling thread, and
//! serves the answer for [`FRESH`]; IP literals are never looked up.
//!
//! std's resolver gives no TTL, so the time is fixed. A failed lookup keeps
//! the last good answer in use (up to [`STALE`] after it was got, trying
//! again every [`RETRY`]), so a resolver outage does not stop a failover
//! that could still reach EC2's addresses.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use crate::clock::Clock;
use crate::warn;

/// How long an answer is used without asking again.
pub const FRESH: Duration = Duration::from_secs(30);
/// How long after the last good answer it is still used when lookups fail.
pub const STALE: Duration = Duration::from_secs(300);
/// After a failed lookup, how long the last good answer is used before the
/// next try (so an outage costs one lookup per host per `RETRY`, not one per
/// request).
pub const RETRY: Duration = Duration::from_secs(5);

/// The lookup behind the cache: std's resolver, or a test's.
type Lookup = dyn Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync;

/// A cache of `host:port` → addresses, shared by an agent's requests (clones
/// share it). It holds one entry per host the agent talks to.
#[derive(Clone)]
pub struct Dns(Arc<Inner>);

struct Inner {
    clock: Clock,
    lookup: Box<Lookup>,
    lookups: AtomicU64,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    /// The last good answer, never empty.
    addrs: Vec<SocketAddr>,
    /// When it was got.
    got: Instant,
    /// When to look the host up again.
    next: Instant,
    /// A thread is looking it up now: the others use `addrs` meanwhile.
    busy: bool,
}

impl Dns {
    /// std's resolver (getaddrinfo) behind the cache, on `clock`.
    pub fn new(clock: Clock) -> Dns {
        Dns::with_lookup(clock, |host| Ok(host.to_socket_addrs()?.collect()))
    }

    /// `lookup` behind the cache (tests count and fail lookups with it).
    pub fn with_lookup(
        clock: Clock,
        lookup: impl Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
    ) -> Dns {
        Dns(Arc::new(Inner {
            clock,
            lookup: Box::new(lookup),
            lookups: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }))
    }

    /// How many lookups were made (not counting answers from the cache).
    pub fn lookups(&self) -> u64 {
        self.0.lookups.load(Ordering::Relaxed)
    }

    /// The addresses of `host_port` ("host:port"): an IP literal as it is,
    /// else from the cache or a lookup in this thread.
    pub fn addrs(&self, host_port: &str) -> io::Result<Vec<SocketAddr>> {
        if let Ok(addr) = host_port.parse::<SocketAddr>() {
            return Ok(vec![addr]);
        }
        let inner = &*self.0;
        let now = inner.clock.mono();
        {
            let mut entries = inner.entries.lock().unwrap_or_else(PoisonError::into_inner);
            match entries.get_mut(host_port) {
                Some(e) if now < e.next => return Ok(e.addrs.clone()),
                Some(e) if e.busy && now < e.got + STALE => return Ok(e.addrs.clone()),
                Some(e) => e.busy = true,
                // Nothing to serve yet: every caller looks up on its own.
                None => {}
            }
        }
        inner.lookups.fetch_add(1, Ordering::Relaxed);
        let result = match (inner.lookup)(host_port) {
            Ok(addrs) if addrs.is_empty() => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the host has no address",
            )),
            r => r,
        };
        let now = inner.clock.mono();
        let mut entries = inner.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let err = match result {
            Ok(addrs) => {
                let entry = Entry {
                    addrs: addrs.clone(),
                    got: now,
                    next: now + FRESH,
                    busy: false,
                };
                entries.insert(host_port.to_string(), entry);
                return Ok(addrs);
            }
            Err(e) => e,
        };
        if let Some(e) = entries.get_mut(host_port) {
            let age = now.saturating_duration_since(e.got);
            if age < STALE {
                e.busy = false;
                e.next = (now + RETRY).min(e.got + STALE);
                warn!(
                    "looking up {host_port} failed ({err}); using its addresses from {} s ago \
                     (for up to {} s), trying again in {} s",
                    age.as_secs(),
                    STALE.as_secs(),
                    RETRY.as_secs()
                );
                return Ok(e.addrs.clone());
            }
            entries.remove(host_port);
        }
        Err(err)
    }
}

impl fmt::Debug for Dns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dns")
            .field("lookups", &self.lookups())
            .finish_non_exhaustive()
    }
}

impl Resolver for Dns {
    /// Resolves in the calling thread: `timeout` is not applied to the
    /// lookup itself (getaddrinfo's own timeouts, from resolv.conf, are).
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host_port = match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority)) => DefaultResolver::host_and_port(scheme, authority),
            _ => None,
        };
        let Some(host_port) = host_port else {
            return Err(ureq::Error::BadUri(format!("no host or port in {uri}")));
        };
        let family = config.ip_family();
        let wanted = family.keep_wanted(self.addrs(&host_port)?.into_iter());
        let mut out = self.empty();
        // ureq keeps at most 16 addresses.
        for addr in wanted.take(16) {
            out.push(addr);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::SystemTime;

    /// A lookup that counts itself, answers 192.0.2.1 unless told to fail,
    /// and checks that it runs in the thread that asked.
    fn counted(fail: Arc<AtomicBool>) -> (Dns, crate::clock::Hand) {
        let (clock, hand) = Clock::manual(SystemTime::UNIX_EPOCH);
        let caller = std::thread::current().id();
        let dns = Dns::with_lookup(clock, move |host| {
            assert_eq!(
                std::thread::current().id(),
                caller,
                "a lookup on its own thread"
            );
            assert_eq!(host, "ec2.example:443");
            if fail.load(Ordering::SeqCst) {
                return Err(io::Error::other("resolver down"));
            }
            Ok(vec!["192.0.2.1:443".parse().unwrap()])
        });
        (dns, hand)
    }

    #[test]
    fn looks_a_host_up_once_until_the_answer_expires() {
        let (dns, hand) = counted(Arc::new(AtomicBool::new(false)));
        for _ in 0..100 {
            assert_eq!(dns.addrs("ec2.example:443").unwrap().len(), 1);
        }
        assert_eq!(dns.lookups(), 1);
        hand.advance(FRESH - Duration::from_millis(1));
        dns.addrs("ec2.example:443").unwrap();
        assert_eq!(dns.lookups(), 1);
        hand.advance(Duration::from_millis(1));
        dns.addrs("ec2.example:443").unwrap();
        assert_eq!(dns.lookups(), 2);
        dns.addrs("ec2.example:443").unwrap();
        assert_eq!(dns.lookups(), 2);
    }

    #[test]
    fn ip_literals_are_never_looked_up() {
        let (dns, _hand) = counted(Arc::new(AtomicBool::new(false)));
        let v4 = dns.addrs("127.0.0.1:8080").unwrap();
        let v6 = dns.addrs("[::1]:443").unwrap();
        assert_eq!(v4, vec!["127.0.0.1:8080".parse().unwrap()]);
        assert_eq!(v6, vec!["[::1]:443".parse().unwrap()]);
        assert_eq!(dns.lookups(), 0);
    }

    #[test]
    fn a_failed_lookup_serves_the_last_good_answer_for_a_while() {
        let fail = Arc::new(AtomicBool::new(false));
        let (dns, hand) = counted(fail.clone());
        let good = dns.addrs("ec2.example:443").unwrap();
        fail.store(true, Ordering::SeqCst);
        hand.advance(FRESH);
        // The lookup fails: the old answer, and no new try for RETRY.
        assert_eq!(dns.addrs("ec2.example:443").unwrap(), good);
        assert_eq!(dns.lookups(), 2);
        hand.advance(RETRY - Duration::from_millis(1));
        assert_eq!(dns.addrs("ec2.example:443").unwrap(), good);
        assert_eq!(dns.lookups(), 2);
        hand.advance(Duration::from_millis(1));
        assert_eq!(dns.addrs("ec2.example:443").unwrap(), good);
        assert_eq!(dns.lookups(), 3);
        // Up to STALE after the good answer; then the error.
        hand.advance(STALE - FRESH - RETRY - Duration::from_millis(1));
        assert_eq!(dns.addrs("ec2.example:443").unwrap(), good);
        hand.advance(Duration::from_millis(1));
        let err = dns.addrs("ec2.example:443").unwrap_err();
        assert_eq!(err.to_string(), "resolver down");
        // No answer kept: every call looks up until one succeeds.
        assert!(dns.addrs("ec2.example:443").is_err());
        let failed = dns.lookups();
        fail.store(false, Ordering::SeqCst);
        assert_eq!(dns.addrs("ec2.example:443").unwrap(), good);
        assert_eq!(dns.lookups(), failed + 1);
        dns.addrs("ec2.example:443").unwrap();
        assert_eq!(dns.lookups(), failed + 1);
    }

    #[test]
    fn a_host_with_no_address_is_an_error_not_an_empty_answer() {
        let (clock, _hand) = Clock::manual(SystemTime::UNIX_EPOCH);
        let dns = Dns::with_lookup(clock, |_| Ok(Vec::new()));
        assert!(dns.addrs("nowhere.example:443").is_err());
        assert!(dns.addrs("nowhere.example:443").is_err());
        assert_eq!(dns.lookups(), 2);
    }

    /// The cache as ureq uses it: N requests to `localhost` through one
    /// agent, one lookup (std's resolver, this machine's /etc/hosts).
    #[test]
    fn an_agent_looks_localhost_up_once_for_many_requests() {
        use crate::http::AgentSettings;
        let server = httpmock::MockServer::start();
        let hits = server.mock(|when, then| {
            when.path("/ping");
            then.status(200).body("pong");
        });
        let (clock, hand) = Clock::manual(SystemTime::UNIX_EPOCH);
        let dns = Dns::new(clock);
        let agent = AgentSettings::new(Duration::from_secs(2), Duration::from_secs(5))
            .dns(dns.clone())
            .build();
        let url = format!("http://localhost:{}/ping", server.port());
        for _ in 0..10 {
            let mut answer = agent.get(&url).call().unwrap();
            assert_eq!(answer.body_mut().read_to_string().unwrap(), "pong");
        }
        hits.assert_hits(10);
        assert_eq!(dns.lookups(), 1);
        hand.advance(FRESH);
        agent.get(&url).call().unwrap();
        assert_eq!(dns.lookups(), 2);
        // An IP literal goes straight through.
        let literal = format!("http://127.0.0.1:{}/ping", server.port());
        agent.get(&literal).call().unwrap();
        assert_eq!(dns.lookups(), 2);
        hits.assert_hits(12);
    }
}
