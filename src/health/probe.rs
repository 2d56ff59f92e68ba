//! One check of one address: the [`Probe`] trait, the TCP probe and the
//! combination of several probes. A probe blocks for at most its timeout
//! and keeps no state between checks, so one probe serves every thread.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ProbeTarget;

/// Checks whether a target answers, within `timeout`.
pub trait Probe: Send + Sync {
    /// The round-trip time, or why the check failed (a sentence naming the
    /// probe and the address, for the log and the status page).
    fn probe(&self, target: &ProbeTarget, timeout: Duration) -> Result<Duration, String>;

    /// The monitor's name: "tcp", "icmp", "icmp:tcp".
    fn name(&self) -> &str;

    /// What is probed for `target`, for display: the TCP probe adds its
    /// default port.
    fn address(&self, target: &ProbeTarget) -> String {
        target.to_string()
    }
}

/// A TCP connect to the target's port, or to the configured one. The
/// connection is closed as soon as it is made: an answering listener is
/// what counts, not a protocol.
#[derive(Debug, Clone)]
pub struct TcpProbe {
    default_port: u16,
}

impl TcpProbe {
    /// `default_port` is used for targets without a port of their own.
    pub fn new(default_port: u16) -> TcpProbe {
        TcpProbe { default_port }
    }

    fn addr(&self, target: &ProbeTarget) -> SocketAddr {
        SocketAddr::new(target.ip, target.port.unwrap_or(self.default_port))
    }
}

impl Probe for TcpProbe {
    fn probe(&self, target: &ProbeTarget, timeout: Duration) -> Result<Duration, String> {
        let addr = self.addr(target);
        let start = Instant::now();
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_stream) => Ok(start.elapsed()),
            // std reports a connect timeout as TimedOut (WouldBlock on some
            // platforms); say how long we waited rather than the OS text.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                Err(format!("tcp {addr}: no answer within {timeout:?}"))
            }
            Err(e) => Err(format!("tcp {addr}: {}", describe(&e))),
        }
    }

    fn name(&self) -> &str {
        "tcp"
    }

    fn address(&self, target: &ProbeTarget) -> String {
        self.addr(target).to_string()
    }
}

/// The OS error text without std's " (os error 111)" suffix, lower case
/// like the rest of our messages.
pub(super) fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}

/// Several probes of one host, one after the other: the host fails if any
/// of them fails it, so the first failure ends the check. The round-trip
/// time reported is the longest of the members'.
pub struct MultiProbe {
    members: Vec<Arc<dyn Probe>>,
    name: String,
}

impl MultiProbe {
    pub fn new(members: Vec<Arc<dyn Probe>>) -> MultiProbe {
        let names: Vec<&str> = members.iter().map(|m| m.name()).collect();
        let name = names.join(":");
        MultiProbe { members, name }
    }
}

impl Probe for MultiProbe {
    fn probe(&self, target: &ProbeTarget, timeout: Duration) -> Result<Duration, String> {
        let mut longest = Duration::ZERO;
        for m in &self.members {
            longest = longest.max(m.probe(target, timeout)?);
        }
        Ok(longest)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self, target: &ProbeTarget) -> String {
        let mut all: Vec<String> = Vec::new();
        for a in self.members.iter().map(|m| m.address(target)) {
            if !all.contains(&a) {
                all.push(a);
            }
        }
        all.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, TcpListener};

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn loopback(port: Option<u16>) -> ProbeTarget {
        ProbeTarget {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        }
    }

    /// A port on 127.0.0.1 that nothing listens on: bound, then closed.
    fn closed_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[test]
    fn tcp_succeeds_against_a_listener() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let p = TcpProbe::new(1);
        assert!(p.probe(&loopback(Some(port)), TIMEOUT).is_ok());
        // The configured port is used when the target has none.
        let p = TcpProbe::new(port);
        assert!(p.probe(&loopback(None), TIMEOUT).is_ok());
        assert_eq!(p.address(&loopback(None)), format!("127.0.0.1:{port}"));
    }

    #[test]
    fn tcp_fails_at_once_on_a_closed_port() {
        let port = closed_port();
        let err = TcpProbe::new(port)
            .probe(&loopback(None), TIMEOUT)
            .unwrap_err();
        assert_eq!(err, format!("tcp 127.0.0.1:{port}: connection refused"));
    }

    // No timeout test: nothing on loopback reliably leaves a SYN
    // unanswered, and tests never send traffic beyond it.

    /// A probe that answers from a script, for the combinations.
    struct Fixed(&'static str, Result<Duration, String>);

    impl Probe for Fixed {
        fn probe(&self, _: &ProbeTarget, _: Duration) -> Result<Duration, String> {
            self.1.clone()
        }
        fn name(&self) -> &str {
            self.0
        }
    }

    type Outcome = Result<Duration, String>;

    #[test]
    fn multi_fails_when_any_member_fails() {
        let ok = |n, ms| Arc::new(Fixed(n, Ok(Duration::from_millis(ms)))) as Arc<dyn Probe>;
        let bad = |n, why: &str| Arc::new(Fixed(n, Err(why.to_string()))) as Arc<dyn Probe>;
        let t = loopback(None);
        let cases: Vec<(Vec<Arc<dyn Probe>>, Outcome)> = vec![
            (
                vec![ok("icmp", 1), ok("tcp", 3)],
                Ok(Duration::from_millis(3)),
            ),
            (
                vec![ok("icmp", 1), bad("tcp", "tcp down")],
                Err("tcp down".into()),
            ),
            (
                vec![bad("icmp", "icmp down"), ok("tcp", 1)],
                Err("icmp down".into()),
            ),
            (
                vec![bad("icmp", "icmp down"), bad("tcp", "tcp down")],
                Err("icmp down".into()),
            ),
        ];
        for (members, want) in cases {
            let m = MultiProbe::new(members);
            assert_eq!(m.name(), "icmp:tcp");
            assert_eq!(m.probe(&t, TIMEOUT), want);
        }
    }

    #[test]
    fn multi_shows_each_address_once() {
        let m = MultiProbe::new(vec![
            Arc::new(Fixed("icmp", Ok(Duration::ZERO))),
            Arc::new(TcpProbe::new(22)),
        ]);
        assert_eq!(m.address(&loopback(None)), "127.0.0.1, 127.0.0.1:22");
        let m = MultiProbe::new(vec![
            Arc::new(TcpProbe::new(22)),
            Arc::new(TcpProbe::new(22)),
        ]);
        assert_eq!(m.address(&loopback(Some(80))), "127.0.0.1:80");
    }
}
