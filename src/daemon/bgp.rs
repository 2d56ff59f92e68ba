//! The BGP listener in the daemon (`--bgp-listen`): the sockets, timers and
//! policy around the sans-IO core in `crate::bgp`. One thread accepts
//! sessions (from configured peers only; anything else is closed at once
//! and counted), and one thread per configured peer runs that peer's
//! session, so the threads are fixed at start. What the peers teach
//! becomes a spec of the `bgp` source (learned: a configured spec wins for
//! a CIDR it names): for each accepted prefix, the next hops of its paths
//! from the best down, so that the planner uses the best path whose next
//! hop an interface of the VPC holds.
//!
//! Best path, in this order: highest LOCAL_PREF (100 when absent),
//! shortest AS_PATH, lowest ORIGIN, lowest MED (0 when absent, compared
//! between all peers), lowest peer router ID, lowest peer address.
//!
//! Safety: a prefix is accepted only inside a `--bgp-allow` range (and not
//! longer than its maxlen); never the default route, nor the VPC's own
//! CIDRs or anything inside them, unless an allow range names them.

use std::cmp::Ordering as Order;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::control::Input;
use super::feed::{Feed, Precedence, Source, Stop};
use crate::bgp::session::{Config as SessionConfig, Event, Output, Path, Prefix, Session};
use crate::clock::Clock;
use crate::config::{BgpAllow, BgpArgs};
use crate::spec::{Host, Spec};
use crate::types::Cidr;
use crate::{info, warn};

/// The spec source BGP is: learned, so a configured spec wins.
pub const BGP: Source = Source {
    precedence: Precedence::Learned,
    name: "bgp",
};

/// How often idle threads look at the stop signal.
const POLL: Duration = Duration::from_millis(100);

/// What one peer taught, and how its session is.
#[derive(Debug, Clone, Default)]
pub struct PeerView {
    pub ip: Option<IpAddr>,
    /// The session state: Idle (no connection), OpenSent, OpenConfirm,
    /// Established.
    pub state: String,
    pub since: Option<SystemTime>,
    pub last_error: Option<String>,
    pub peer_as: Option<u32>,
    pub router_id: Option<Ipv4Addr>,
    /// Accepted paths, by prefix.
    pub paths: BTreeMap<Cidr, Path>,
    /// Prefixes announced now that the policy refused, with why.
    pub refused: BTreeMap<Cidr, &'static str>,
    /// Prefixes announced since the session came up (a count, for metrics).
    pub received: u64,
}

/// Everything the listener knows, for the spec, `/bgp`, `/status` and
/// `/metrics`.
#[derive(Debug, Default)]
pub struct Rib {
    pub peers: BTreeMap<IpAddr, PeerView>,
    /// The spec last sent (to log best-path changes and send only changes).
    last: Option<Spec>,
}

/// The shared state of the listener.
pub struct Bgp {
    pub args: BgpArgs,
    rib: Mutex<Rib>,
    /// Connections from addresses that are no configured peer.
    pub refused: AtomicU64,
    /// The VPC's own CIDRs (its local routes), once the engine has seen a
    /// table: prefixes inside them are refused unless allowed by name.
    vpc: Box<dyn Fn() -> Option<Vec<Cidr>> + Send + Sync>,
    clock: Clock,
}

/// A connection handed from the acceptor to a peer's thread.
struct Slot {
    ip: IpAddr,
    conn: Mutex<Option<TcpStream>>,
    ready: Condvar,
}

/// The listener as a feed: `run` accepts and runs the sessions.
pub struct BgpFeed {
    shared: Arc<Bgp>,
    listener: TcpListener,
    slots: Vec<Slot>,
}

impl Bgp {
    pub fn new(
        args: BgpArgs,
        vpc: Box<dyn Fn() -> Option<Vec<Cidr>> + Send + Sync>,
        clock: Clock,
    ) -> Bgp {
        let mut rib = Rib::default();
        for p in &args.peers {
            rib.peers.insert(
                p.ip,
                PeerView {
                    ip: Some(p.ip),
                    state: "Idle".into(),
                    ..PeerView::default()
                },
            );
        }
        Bgp {
            args,
            rib: Mutex::new(rib),
            refused: AtomicU64::new(0),
            vpc,
            clock,
        }
    }

    fn rib(&self) -> MutexGuard<'_, Rib> {
        self.rib.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of every peer's view.
    pub fn peers(&self) -> Vec<PeerView> {
        self.rib().peers.values().cloned().collect()
    }

    /// Whether `prefix` may be routed: inside an allow range, and neither
    /// the default route nor inside the VPC unless an allow range names it.
    fn policy(&self, prefix: &Cidr) -> Result<(), &'static str> {
        let fitting: Vec<&BgpAllow> = self.args.allow.iter().filter(|a| fits(a, prefix)).collect();
        if fitting.is_empty() {
            return Err("outside every --bgp-allow range (or longer than its maxlen)");
        }
        if prefix.prefix_len() == 0 && fitting.iter().all(|a| a.cidr.prefix_len() != 0) {
            return Err("the default route, which no --bgp-allow names");
        }
        let vpc = (self.vpc)().unwrap_or_default();
        match vpc.iter().find(|v| v.covers(prefix)) {
            // Allowed only by a range inside the VPC: one that names it.
            Some(v) if !fitting.iter().any(|a| v.covers(&a.cidr)) => {
                Err("inside the VPC's own CIDRs, which no --bgp-allow names")
            }
            _ => Ok(()),
        }
    }

    /// The spec BGP teaches now: each accepted prefix with the next hops of
    /// its paths, the best first.
    fn spec(&self, rib: &Rib) -> Spec {
        let mut by_prefix: BTreeMap<Cidr, Vec<Candidate<'_>>> = BTreeMap::new();
        for (peer, view) in &rib.peers {
            for (prefix, path) in &view.paths {
                by_prefix.entry(*prefix).or_default().push(Candidate {
                    peer: *peer,
                    router_id: view.router_id.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    path,
                });
            }
        }
        let mut routes = BTreeMap::new();
        for (prefix, mut candidates) in by_prefix {
            candidates.sort_by(best_first);
            let mut hosts: Vec<Host> = Vec::new();
            for c in candidates {
                if !hosts.iter().any(|h| h.ip == c.path.next_hop) {
                    hosts.push(Host {
                        ip: c.path.next_hop,
                        check: None,
                    });
                }
            }
            routes.insert(prefix, hosts);
        }
        Spec::learned(routes)
    }

    /// Recomputes the spec after a change and sends it when it changed,
    /// logging every change of best path.
    fn publish(&self, control: &Sender<Input>) {
        let mut rib = self.rib();
        let spec = self.spec(&rib);
        if rib.last.as_ref() == Some(&spec) {
            return;
        }
        let before = rib.last.take().unwrap_or_default();
        for (cidr, hosts) in spec.routes() {
            let was = before.hosts(cidr).and_then(|h| h.first()).map(|h| h.ip);
            if was != Some(hosts[0].ip) {
                info!(
                    "bgp: {cidr}: best path now via {}{}",
                    hosts[0].ip,
                    was.map_or_else(String::new, |w| format!(" (was {w})"))
                );
            }
        }
        for cidr in before.routes().keys() {
            if spec.hosts(cidr).is_none() {
                info!("bgp: {cidr}: no path left; its route goes");
            }
        }
        rib.last = Some(spec.clone());
        let _ = control.send(Input::Spec { source: BGP, spec });
    }

    /// Applies a session's events to the peer's view.
    fn learn(&self, peer: IpAddr, events: Vec<Event>) -> bool {
        let mut changed = false;
        for e in events {
            changed |= self.event(peer, e);
        }
        changed
    }

    fn event(&self, peer: IpAddr, e: Event) -> bool {
        let now = self.clock.now();
        let mut rib = self.rib();
        let view = rib.peers.entry(peer).or_default();
        match e {
            Event::Established {
                peer_as,
                peer_id,
                hold_time,
                ..
            } => {
                info!("bgp: session with {peer} (AS {peer_as}, id {peer_id}) is up; hold time {hold_time} s");
                view.state = "Established".into();
                view.since = Some(now);
                view.peer_as = Some(peer_as);
                view.router_id = Some(peer_id);
                view.last_error = None;
                false
            }
            Event::Update {
                announced,
                withdrawn,
                treat_as_withdraw,
            } => {
                if let Some(why) = treat_as_withdraw {
                    warn!("bgp: {peer}: an UPDATE was treated as a withdrawal: {why}");
                }
                let mut changed = false;
                for p in withdrawn {
                    let c = cidr(&p);
                    view.refused.remove(&c);
                    changed |= view.paths.remove(&c).is_some();
                }
                drop(rib);
                for (p, path) in announced {
                    changed |= self.announce(peer, cidr(&p), path);
                }
                changed
            }
            Event::EndOfRib(family) => {
                info!("bgp: {peer}: end of RIB ({family:?})");
                false
            }
            Event::Down {
                reason,
                sent,
                received,
            } => {
                let detail = [
                    Some(reason),
                    sent.map(|s| format!("sent {s}")),
                    received.map(|r| format!("received {r}")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ");
                warn!(
                    "bgp: session with {peer} is down ({detail}); its {} path(s) are withdrawn",
                    view.paths.len()
                );
                view.state = "Idle".into();
                view.since = Some(now);
                view.last_error = Some(detail);
                view.refused.clear();
                let changed = !view.paths.is_empty();
                view.paths.clear();
                changed
            }
        }
    }

    /// One announced prefix, through the policy.
    fn announce(&self, peer: IpAddr, prefix: Cidr, path: Path) -> bool {
        let verdict = self.policy(&prefix);
        let mut rib = self.rib();
        let view = rib.peers.entry(peer).or_default();
        view.received += 1;
        match verdict {
            Ok(()) => {
                view.refused.remove(&prefix);
                view.paths.insert(prefix, path.clone()) != Some(path)
            }
            Err(why) => {
                if view.refused.insert(prefix, why).is_none() {
                    warn!("bgp: {peer} announced {prefix}: refused, {why}");
                }
                view.paths.remove(&prefix).is_some()
            }
        }
    }

    fn set_state(&self, peer: IpAddr, state: &str) {
        let mut rib = self.rib();
        let view = rib.peers.entry(peer).or_default();
        if view.state != state {
            view.state = state.to_string();
        }
    }
}

/// Whether `allow` covers `prefix` within its maxlen.
fn fits(allow: &BgpAllow, prefix: &Cidr) -> bool {
    allow.cidr.covers(prefix) && allow.max_len.is_none_or(|m| prefix.prefix_len() <= m)
}

fn cidr(p: &Prefix) -> Cidr {
    Cidr::new(p.addr, p.len).expect("the BGP core clears host bits")
}

/// A path and who taught it, for the best-path order.
struct Candidate<'a> {
    peer: IpAddr,
    router_id: Ipv4Addr,
    path: &'a Path,
}

/// The best-path order (module docs); `Less` is better.
fn best_first(a: &Candidate<'_>, b: &Candidate<'_>) -> Order {
    compare(
        a.path,
        a.router_id,
        Some(a.peer),
        b.path,
        b.router_id,
        Some(b.peer),
    )
}

/// The best-path order of two paths with their peers' router IDs and
/// addresses; `Less`: the first is better.
pub fn compare(
    a: &Path,
    a_id: Ipv4Addr,
    a_peer: Option<IpAddr>,
    b: &Path,
    b_id: Ipv4Addr,
    b_peer: Option<IpAddr>,
) -> Order {
    let lp = |p: &Path| p.local_pref.unwrap_or(100);
    lp(b)
        .cmp(&lp(a))
        .then(a.as_path_len.cmp(&b.as_path_len))
        .then(a.origin.cmp(&b.origin))
        .then(a.med.unwrap_or(0).cmp(&b.med.unwrap_or(0)))
        .then(a_id.cmp(&b_id))
        .then(a_peer.cmp(&b_peer))
}

/// Which rule of the order made `a` win over `b`, for `/bgp`.
pub fn why_better(a: &Path, a_id: Ipv4Addr, b: &Path, b_id: Ipv4Addr) -> &'static str {
    if a.local_pref.unwrap_or(100) != b.local_pref.unwrap_or(100) {
        "higher LOCAL_PREF"
    } else if a.as_path_len != b.as_path_len {
        "shorter AS_PATH"
    } else if a.origin != b.origin {
        "lower ORIGIN"
    } else if a.med.unwrap_or(0) != b.med.unwrap_or(0) {
        "lower MED"
    } else if a_id != b_id {
        "lower peer router ID"
    } else {
        "lower peer address"
    }
}

impl BgpFeed {
    /// Binds the listener and sets each peer's TCP MD5 key on it (before
    /// any SYN can arrive). `passwords`: peer -> key, read at start.
    pub fn bind(
        shared: Arc<Bgp>,
        passwords: &BTreeMap<IpAddr, Vec<u8>>,
    ) -> Result<BgpFeed, String> {
        let addr = shared.args.listen;
        let listener = TcpListener::bind(addr).map_err(|e| {
            format!(
                "--bgp-listen: cannot listen on {addr}: {e}{}",
                if e.kind() == io::ErrorKind::PermissionDenied {
                    " (port 179 needs root or CAP_NET_BIND_SERVICE; or choose a port above 1023)"
                } else {
                    ""
                }
            )
        })?;
        for (peer, key) in passwords {
            md5::set(&listener, *peer, key)
                .map_err(|e| format!("--bgp-peer {peer}: cannot set its TCP MD5 key: {e}"))?;
        }
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("--bgp-listen: {e}"))?;
        let slots = shared
            .args
            .peers
            .iter()
            .map(|p| Slot {
                ip: p.ip,
                conn: Mutex::new(None),
                ready: Condvar::new(),
            })
            .collect();
        Ok(BgpFeed {
            shared,
            listener,
            slots,
        })
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Hands connections to their peer's slot; closes the others.
    fn accept(&self, stop: &Stop) {
        while !stop.wait(Duration::ZERO) {
            match self.listener.accept() {
                Ok((conn, from)) => {
                    let ip = canonical(from.ip());
                    match self.slots.iter().find(|s| s.ip == ip) {
                        Some(slot) => {
                            let mut held = slot.conn.lock().unwrap_or_else(|p| p.into_inner());
                            // A newer connection from the same peer replaces
                            // one not yet taken.
                            *held = Some(conn);
                            slot.ready.notify_all();
                        }
                        None => {
                            let n = self.shared.refused.fetch_add(1, Ordering::Relaxed) + 1;
                            if n.is_power_of_two() {
                                warn!("bgp: closed a connection from {ip}, which is no --bgp-peer ({n} so far)");
                            }
                            drop(conn);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if stop.wait(POLL / 2) {
                        return;
                    }
                }
                Err(e) => {
                    warn!("bgp: accept failed: {e}");
                    if stop.wait(POLL) {
                        return;
                    }
                }
            }
        }
    }

    /// A peer's thread: waits for its connection, runs the session, again.
    fn serve(&self, slot: &Slot, control: &Sender<Input>, stop: &Stop) {
        let peer = self
            .shared
            .args
            .peers
            .iter()
            .find(|p| p.ip == slot.ip)
            .expect("a slot per peer");
        let config = SessionConfig {
            local_as: self.shared.args.asn,
            router_id: self.shared.args.router_id,
            hold_time: self.shared.args.hold_time,
            peer_as: peer.asn,
            max_prefixes: self.shared.args.max_prefixes,
        };
        loop {
            let conn = {
                let held = slot.conn.lock().unwrap_or_else(|p| p.into_inner());
                let (mut held, _) = slot
                    .ready
                    .wait_timeout_while(held, POLL, |c| c.is_none())
                    .unwrap_or_else(|p| p.into_inner());
                held.take()
            };
            if stop.wait(Duration::ZERO) {
                return;
            }
            if let Some(conn) = conn {
                self.session(slot.ip, conn, config.clone(), control, stop);
            }
        }
    }

    /// One session over `conn`, until it ends or the daemon stops.
    fn session(
        &self,
        peer: IpAddr,
        mut conn: TcpStream,
        config: SessionConfig,
        control: &Sender<Input>,
        stop: &Stop,
    ) {
        let _ = conn.set_nodelay(true);
        let (mut session, out) = Session::new(config, self.shared.clock.mono());
        self.shared.set_state(peer, "OpenSent");
        let mut out = out;
        let mut buf = vec![0u8; 65536];
        loop {
            let deadline = out.deadline;
            if self.step(peer, &mut conn, out, control) {
                return;
            }
            if stop.wait(Duration::ZERO) {
                let out = session.shutdown("vpc-router is stopping");
                self.step(peer, &mut conn, out, control);
                return;
            }
            // Wake for the session's timers, or to look at the stop signal.
            let now = self.shared.clock.mono();
            let wait = deadline.map_or(POLL, |d: Instant| d.saturating_duration_since(now));
            let _ = conn.set_read_timeout(Some(wait.min(POLL).max(Duration::from_millis(1))));
            out = match conn.read(&mut buf) {
                Ok(0) => session.closed("the peer closed the connection"),
                Ok(n) => session.input(&buf[..n], self.shared.clock.mono()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    session.tick(self.shared.clock.mono())
                }
                Err(e) => session.closed(&format!("the connection failed: {e}")),
            };
        }
    }

    /// Writes what the session says, learns its events; true once the
    /// session has ended.
    fn step(
        &self,
        peer: IpAddr,
        conn: &mut TcpStream,
        out: Output,
        control: &Sender<Input>,
    ) -> bool {
        // A write that fails shows as a failed read next, which ends the
        // session with its reason.
        if !out.send.is_empty() {
            let _ = conn.write_all(&out.send);
        }
        let ended = out.close || out.events.iter().any(|e| matches!(e, Event::Down { .. }));
        if self.shared.learn(peer, out.events) {
            self.shared.publish(control);
        }
        if ended {
            let _ = conn.shutdown(std::net::Shutdown::Both);
            self.shared.set_state(peer, "Idle");
        }
        ended
    }
}

/// An IPv4-mapped IPv6 source is the IPv4 peer.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Feed for BgpFeed {
    fn source(&self) -> Source {
        BGP
    }

    fn run(&self, control: &Sender<Input>, stop: &Stop) {
        // Nothing learned yet is a spec too: the engine looks at the
        // tables, and knows the VPC's CIDRs, before the first announcement.
        let _ = control.send(Input::Spec {
            source: BGP,
            spec: Spec::learned(BTreeMap::new()),
        });
        std::thread::scope(|scope| {
            for slot in &self.slots {
                let name = format!("bgp-peer-{}", slot.ip);
                let spawned = std::thread::Builder::new()
                    .name(name)
                    .spawn_scoped(scope, move || self.serve(slot, control, stop));
                if let Err(e) = spawned {
                    warn!("bgp: cannot start a thread for peer {}: {e}", slot.ip);
                }
            }
            self.accept(stop);
            // Wake the peers' threads so that they see the stop.
            for slot in &self.slots {
                slot.ready.notify_all();
            }
        });
    }
}

/// TCP MD5 signatures (RFC 2385) through Linux's TCP_MD5SIG socket option,
/// which std does not wrap.
mod md5 {
    use std::io;
    use std::net::{IpAddr, TcpListener};
    use std::os::unix::io::AsRawFd;

    /// `struct tcp_md5sig` of linux/tcp.h.
    #[repr(C)]
    struct TcpMd5Sig {
        addr: libc::sockaddr_storage,
        flags: u8,
        prefixlen: u8,
        keylen: u16,
        ifindex: libc::c_int,
        key: [u8; 80],
    }

    /// Sets the key for connections from `peer` on `listener`.
    pub fn set(listener: &TcpListener, peer: IpAddr, key: &[u8]) -> io::Result<()> {
        if key.is_empty() || key.len() > 80 {
            return Err(io::Error::other("the password must be 1 to 80 bytes"));
        }
        // SAFETY: an all-zero tcp_md5sig (and sockaddr_storage) is valid.
        let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
        let storage = &mut sig.addr as *mut libc::sockaddr_storage;
        match peer {
            IpAddr::V4(ip) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(ip.octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than sockaddr_in and
                // suitably aligned for it.
                unsafe { std::ptr::write(storage.cast::<libc::sockaddr_in>(), sin) };
            }
            IpAddr::V6(ip) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: 0,
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: ip.octets(),
                    },
                    sin6_scope_id: 0,
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe { std::ptr::write(storage.cast::<libc::sockaddr_in6>(), sin6) };
            }
        }
        sig.keylen = key.len() as u16;
        sig.key[..key.len()].copy_from_slice(key);
        // SAFETY: a valid descriptor, and a pointer and size that describe
        // `sig` exactly, which the kernel only reads.
        let rc = unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_MD5SIG,
                (&sig as *const TcpMd5Sig).cast(),
                std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests;
