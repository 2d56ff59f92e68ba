//! The [`Monitor`]: checks every host of the set on a pool of threads
//! started once, and sends each state change as it happens.
//!
//! Each host has its own due time; a worker takes the host due first that
//! no other worker is checking, checks it without holding the lock, and
//! records the result. So a host that times out holds one worker for at
//! most the timeout and delays no other host's schedule while workers are
//! free, and a host is never checked twice at once. Idle workers sleep on a
//! condition variable, one of them until the next due time (so an idle
//! monitor wakes once per check, not once per check and thread), and
//! `set_hosts` and `stop` wake them at once.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use super::{Notify, Probe, ProbeTarget, Settings, State, Tracker, Transition};
use crate::clock::Clock;
use crate::spec::Host;

/// What is known about one host, for the status page and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStatus {
    /// The router IP.
    pub ip: IpAddr,
    /// What is probed, e.g. "10.0.0.5:22", or "10.0.0.5, 10.0.0.5:22" for
    /// `multi`.
    pub probe: String,
    pub state: State,
    /// The last check's round-trip time or why it failed; `None` before
    /// the first check ends.
    pub last_result: Option<Result<Duration, String>>,
    /// The round-trip time of the last successful check.
    pub last_rtt: Option<Duration>,
    /// When the state last changed (wall clock, for display).
    pub last_change: Option<SystemTime>,
    /// Checks ended since the host was added, and how many of them failed.
    pub checks: u64,
    pub failures: u64,
}

/// Checks hosts on its own threads; see the module docs. Dropping it stops
/// it, as [`Monitor::stop`] does.
pub struct Monitor {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

struct Shared {
    settings: Settings,
    /// Due times, transition times and the timed waits.
    clock: Clock,
    /// `None` for [`Monitor::none`]: every host is healthy.
    probe: Option<Arc<dyn Probe>>,
    inner: Mutex<Inner>,
    /// Signalled when hosts are added, on stop, and to hand the timer on.
    wake: Condvar,
    /// Sent to while `inner` is locked, so that one host's transitions
    /// arrive in the order they happened.
    on_transition: Notify,
}

struct Inner {
    hosts: BTreeMap<IpAddr, Entry>,
    /// Tells a host apart from an earlier one at the same IP, so that a
    /// check that ends after its host was removed is discarded.
    next_id: u64,
    /// The due time one worker sleeps until; the others sleep until
    /// notified. Without it every idle worker would wake at every due time.
    timer: Option<Instant>,
    stopping: bool,
}

struct Entry {
    id: u64,
    target: ProbeTarget,
    address: String,
    tracker: Tracker,
    due: Instant,
    /// A worker is checking it.
    busy: bool,
    last_result: Option<Result<Duration, String>>,
    last_rtt: Option<Duration>,
    last_change: Option<SystemTime>,
    checks: u64,
    failures: u64,
}

/// Enough for a connect or a socket read and the formatting around it.
const WORKER_STACK: usize = 256 * 1024;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A worker that panicked left the map consistent (every update is
        // a plain assignment), so keep going rather than poison everyone.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Monitor {
    /// Starts `settings.threads` workers (1 to 256) that check hosts with
    /// `probe`, and sends every state change to `on_transition`. There are
    /// no hosts until [`Monitor::set_hosts`]. Fails only if a thread cannot
    /// be started.
    pub fn start(
        settings: Settings,
        probe: Arc<dyn Probe>,
        on_transition: impl Into<Notify>,
        clock: Clock,
    ) -> Result<Monitor, String> {
        let threads = settings.threads.clamp(1, 256);
        let mut monitor = Monitor::new(settings, Some(probe), on_transition.into(), clock);
        for i in 0..threads {
            let shared = Arc::clone(&monitor.shared);
            let spawned = thread::Builder::new()
                .name(format!("health-{i}"))
                .stack_size(WORKER_STACK)
                .spawn(move || work(&shared));
            match spawned {
                Ok(handle) => monitor.workers.push(handle),
                // Dropping the monitor stops the workers already started.
                Err(e) => return Err(format!("cannot start a health check thread: {e}")),
            }
        }
        Ok(monitor)
    }

    /// `--health none`: every host is healthy, nothing is checked, and no
    /// thread is started. No transitions are ever sent.
    pub fn none() -> Monitor {
        let (tx, _) = std::sync::mpsc::channel::<Transition>();
        Monitor::new(Settings::default(), None, tx.into(), Clock::system())
    }

    fn new(settings: Settings, probe: Option<Arc<dyn Probe>>, tx: Notify, clock: Clock) -> Monitor {
        Monitor {
            shared: Arc::new(Shared {
                settings,
                clock,
                probe,
                inner: Mutex::new(Inner {
                    hosts: BTreeMap::new(),
                    next_id: 0,
                    timer: None,
                    stopping: false,
                }),
                wake: Condvar::new(),
                on_transition: tx,
            }),
            workers: Vec::new(),
        }
    }

    /// The number of checking threads, fixed at start.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Replaces the set of hosts (when the route spec changes). Hosts are
    /// told apart by router IP; for an IP given twice the first wins. A host
    /// still present keeps its state and schedule; a removed one is
    /// forgotten (a check of it under way is discarded); a new one starts
    /// `Unknown` and is checked at once. A host whose check address changed
    /// starts over as new: its results were about another address.
    pub fn set_hosts(&self, hosts: &[Host]) {
        let mut wanted: BTreeMap<IpAddr, ProbeTarget> = BTreeMap::new();
        for h in hosts {
            wanted.entry(h.ip).or_insert_with(|| ProbeTarget::of(h));
        }
        let s = &self.shared;
        let now = s.clock.mono();
        let mut inner = s.lock();
        inner
            .hosts
            .retain(|ip, e| wanted.get(ip) == Some(&e.target));
        for (ip, target) in wanted {
            if inner.hosts.contains_key(&ip) {
                continue;
            }
            let id = inner.next_id;
            inner.next_id += 1;
            let address = match &s.probe {
                Some(p) => p.address(&target),
                None => target.to_string(),
            };
            inner.hosts.insert(
                ip,
                Entry {
                    id,
                    target,
                    address,
                    tracker: Tracker::new(ip, s.settings.fall, s.settings.rise),
                    due: now,
                    busy: false,
                    last_result: None,
                    last_rtt: None,
                    last_change: None,
                    checks: 0,
                    failures: 0,
                },
            );
        }
        drop(inner);
        s.wake.notify_all();
    }

    /// The state of the host with router IP `ip`: `Unknown` for an IP not
    /// in the set; always `Healthy` for [`Monitor::none`].
    pub fn state(&self, ip: IpAddr) -> State {
        if self.shared.probe.is_none() {
            return State::Healthy;
        }
        let inner = self.shared.lock();
        inner
            .hosts
            .get(&ip)
            .map_or(State::Unknown, |e| e.tracker.state())
    }

    /// Every host of the set, by router IP.
    pub fn snapshot(&self) -> Vec<HostStatus> {
        let checking = self.shared.probe.is_some();
        let inner = self.shared.lock();
        inner
            .hosts
            .iter()
            .map(|(ip, e)| HostStatus {
                ip: *ip,
                probe: e.address.clone(),
                state: if checking {
                    e.tracker.state()
                } else {
                    State::Healthy
                },
                last_result: e.last_result.clone(),
                last_rtt: e.last_rtt,
                last_change: e.last_change,
                checks: e.checks,
                failures: e.failures,
            })
            .collect()
    }

    /// Stops the workers and waits for them: at once for idle ones, after
    /// at most one check's timeout for one that is checking.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            // A worker that panicked has nothing left to clean up.
            let _ = w.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One worker: take the host due first, check it, record, repeat.
fn work(s: &Shared) {
    let Some(probe) = s.probe.as_deref() else {
        return;
    };
    let mut inner = s.lock();
    loop {
        if inner.stopping {
            return;
        }
        let now = s.clock.mono();
        let next = inner
            .hosts
            .iter()
            .filter(|(_, e)| !e.busy)
            .min_by_key(|(_, e)| e.due)
            .map(|(ip, e)| (*ip, e.due));
        let Some((ip, due)) = next else {
            inner = s.wake.wait(inner).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        if due > now {
            if inner.timer.is_none_or(|t| due < t) {
                // This worker wakes for the earliest due time; the others
                // sleep until notified.
                inner.timer = Some(due);
                inner = s.clock.wait_until(&s.wake, inner, Some(due));
                if inner.timer == Some(due) {
                    inner.timer = None;
                }
            } else {
                inner = s.wake.wait(inner).unwrap_or_else(|e| e.into_inner());
            }
            continue;
        }
        if inner.timer.is_none() {
            // This worker may have been the one timing: wake another to
            // time the next due host (or to take it, if it is due too).
            s.wake.notify_one();
        }
        let Some(e) = inner.hosts.get_mut(&ip) else {
            continue;
        };
        e.busy = true;
        let (id, target, due) = (e.id, e.target, e.due);
        drop(inner);

        let result = probe.probe(&target, s.settings.timeout);
        let ended = s.clock.mono();
        let wall = s.clock.now();

        inner = s.lock();
        let Some(e) = inner.hosts.get_mut(&ip).filter(|e| e.id == id) else {
            // Removed, or replaced, while it was checked.
            continue;
        };
        e.busy = false;
        // Keep the cadence; a check that overran its interval is followed
        // by the next one at once.
        e.due = (due + s.settings.interval).max(ended);
        e.checks += 1;
        match &result {
            Ok(rtt) => e.last_rtt = Some(*rtt),
            Err(_) => e.failures += 1,
        }
        if let Some(t) = e.tracker.record(&result, ended) {
            e.last_change = Some(wall);
            // The receiver may be gone during shutdown; nothing to do then.
            s.on_transition.send(t);
        }
        e.last_result = Some(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::TcpProbe;
    use crate::spec::CheckAddr;
    use std::collections::HashSet;
    use std::net::{SocketAddr, TcpListener};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc::{self, Receiver};

    /// Long enough for a slow CI machine; only reached when a test fails.
    const PATIENCE: Duration = Duration::from_secs(10);

    fn fast() -> Settings {
        Settings {
            interval: Duration::from_millis(20),
            timeout: Duration::from_secs(1),
            fall: 3,
            rise: 2,
            tcp_port: 1,
            threads: 4,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn host(addr: SocketAddr) -> Host {
        Host {
            ip: addr.ip(),
            check: Some(CheckAddr {
                ip: addr.ip(),
                port: Some(addr.port()),
            }),
        }
    }

    /// The transitions a test has received but not yet looked for.
    struct Watch {
        rx: Receiver<Transition>,
        early: Vec<Transition>,
    }

    impl Watch {
        fn new(rx: Receiver<Transition>) -> Watch {
            Watch {
                rx,
                early: Vec::new(),
            }
        }

        /// The first transition of `ip` to `to` not yet taken; others are
        /// kept for later calls, since hosts change in any order.
        fn wait_for(&mut self, ip: IpAddr, to: State) -> Transition {
            if let Some(i) = self.early.iter().position(|t| t.ip == ip && t.to == to) {
                return self.early.remove(i);
            }
            let deadline = Instant::now() + PATIENCE;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(left) {
                    Ok(t) if t.ip == ip && t.to == to => return t,
                    Ok(t) => self.early.push(t),
                    Err(e) => panic!("no transition of {ip} to {to}: {e}; seen {:?}", self.early),
                }
            }
        }
    }

    /// Polls `cond` until it holds.
    fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !cond() {
            assert!(Instant::now() < deadline, "never: {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// A TCP listener on a loopback address that accepts and drops
    /// connections (so its backlog never fills) until closed.
    struct Listener {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Listener {
        fn open(addr: &str) -> Listener {
            let l = TcpListener::bind(addr).unwrap();
            let addr = l.local_addr().unwrap();
            l.set_nonblocking(true).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            let thread = thread::spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    if l.accept().is_err() {
                        thread::sleep(Duration::from_millis(2));
                    }
                }
            });
            Listener {
                addr,
                stop,
                thread: Some(thread),
            }
        }

        fn close(mut self) -> SocketAddr {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                t.join().unwrap();
            }
            self.addr
        }
    }

    #[test]
    fn tcp_hosts_fail_after_fall_checks_and_rise_again() {
        let a = Listener::open("127.0.0.2:0");
        let b = Listener::open("127.0.0.3:0");
        let (tx, rx) = mpsc::channel::<Transition>();
        let mut w = Watch::new(rx);
        let m = Monitor::start(fast(), Arc::new(TcpProbe::new(1)), tx, Clock::system()).unwrap();
        m.set_hosts(&[host(a.addr), host(b.addr), host(a.addr)]);
        assert_eq!(m.snapshot().len(), 2, "deduplicated by router IP");
        let t = w.wait_for(a.addr.ip(), State::Healthy);
        assert_eq!(t.from, State::Unknown);
        w.wait_for(b.addr.ip(), State::Healthy);

        let b_addr = b.close();
        let t = w.wait_for(b_addr.ip(), State::Failed);
        assert_eq!(t.from, State::Healthy);
        assert!(
            t.reason.starts_with(&format!(
                "3 failed checks in a row, the last: tcp {b_addr}: "
            )),
            "{}",
            t.reason
        );
        assert_eq!(m.state(b_addr.ip()), State::Failed);
        assert_eq!(m.state(a.addr.ip()), State::Healthy);
        let status = m
            .snapshot()
            .into_iter()
            .find(|s| s.ip == b_addr.ip())
            .unwrap();
        assert_eq!(status.probe, b_addr.to_string());
        assert!(
            status.failures >= 3 && status.checks > status.failures,
            "{status:?}"
        );
        assert!(matches!(status.last_result, Some(Err(_))), "{status:?}");
        assert!(status.last_rtt.is_some() && status.last_change.is_some());

        // std sets SO_REUSEADDR, so the port can be taken again at once.
        let b = Listener::open(&b_addr.to_string());
        let t = w.wait_for(b_addr.ip(), State::Healthy);
        assert_eq!(t.from, State::Failed);
        assert!(
            t.reason.starts_with("2 successful checks in a row"),
            "{}",
            t.reason
        );
        m.stop();
        a.close();
        b.close();
    }

    #[test]
    fn set_hosts_keeps_the_state_of_hosts_still_present() {
        let a = Listener::open("127.0.0.4:0");
        let b = Listener::open("127.0.0.5:0");
        let c = Listener::open("127.0.0.6:0");
        let (tx, rx) = mpsc::channel::<Transition>();
        let mut w = Watch::new(rx);
        let m = Monitor::start(fast(), Arc::new(TcpProbe::new(1)), tx, Clock::system()).unwrap();
        m.set_hosts(&[host(a.addr), host(b.addr)]);
        w.wait_for(a.addr.ip(), State::Healthy);
        w.wait_for(b.addr.ip(), State::Healthy);

        m.set_hosts(&[host(c.addr), host(a.addr)]);
        assert_eq!(m.state(a.addr.ip()), State::Healthy, "kept");
        assert_eq!(m.state(b.addr.ip()), State::Unknown, "removed");
        let ips: Vec<IpAddr> = m.snapshot().iter().map(|s| s.ip).collect();
        assert_eq!(ips, [a.addr.ip(), c.addr.ip()]);
        let t = w.wait_for(c.addr.ip(), State::Healthy);
        assert_eq!(t.from, State::Unknown, "a new host starts unknown");

        // A changed check address is another host: it starts over.
        let moved = Host {
            ip: a.addr.ip(),
            check: Some(CheckAddr {
                ip: c.addr.ip(),
                port: Some(c.addr.port()),
            }),
        };
        m.set_hosts(&[moved, host(c.addr)]);
        assert_eq!(m.state(a.addr.ip()), State::Unknown);
        assert_eq!(m.state(c.addr.ip()), State::Healthy);
        let t = w.wait_for(a.addr.ip(), State::Healthy);
        assert_eq!(t.from, State::Unknown);
        drop(m);
        for l in [a, b, c] {
            l.close();
        }
    }

    #[test]
    fn new_hosts_and_stop_do_not_wait_for_the_next_interval() {
        let a = Listener::open("127.0.0.7:0");
        let (tx, rx) = mpsc::channel::<Transition>();
        let mut w = Watch::new(rx);
        let settings = Settings {
            interval: Duration::from_secs(3600),
            rise: 1,
            ..fast()
        };
        let m = Monitor::start(settings, Arc::new(TcpProbe::new(1)), tx, Clock::system()).unwrap();
        m.set_hosts(&[host(a.addr)]);
        w.wait_for(a.addr.ip(), State::Healthy);
        // Every worker now sleeps until the next check, an hour away: a new
        // host wakes them, and stop must not wait either.
        let b = Listener::open("127.0.0.8:0");
        m.set_hosts(&[host(a.addr), host(b.addr)]);
        w.wait_for(b.addr.ip(), State::Healthy);
        let (done_tx, done_rx) = mpsc::channel();
        thread::spawn(move || {
            m.stop();
            let _ = done_tx.send(());
        });
        done_rx.recv_timeout(PATIENCE).expect("stop returned");
        a.close();
        b.close();
    }

    /// A probe that records how many checks run at once, on which threads,
    /// and holds checks of `stuck` until `release`.
    struct Recorder {
        running: AtomicUsize,
        most: AtomicUsize,
        threads: Mutex<HashSet<thread::ThreadId>>,
        stuck: IpAddr,
        stuck_running: AtomicUsize,
        stuck_most: AtomicUsize,
        release: Mutex<bool>,
        released: Condvar,
    }

    impl Recorder {
        fn new(stuck: IpAddr) -> Recorder {
            Recorder {
                running: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
                threads: Mutex::new(HashSet::new()),
                stuck,
                stuck_running: AtomicUsize::new(0),
                stuck_most: AtomicUsize::new(0),
                release: Mutex::new(false),
                released: Condvar::new(),
            }
        }

        fn release(&self) {
            *self.release.lock().unwrap() = true;
            self.released.notify_all();
        }
    }

    impl Probe for Recorder {
        fn probe(&self, target: &ProbeTarget, _: Duration) -> Result<Duration, String> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.threads.lock().unwrap().insert(thread::current().id());
            if target.ip == self.stuck {
                let n = self.stuck_running.fetch_add(1, Ordering::SeqCst) + 1;
                self.stuck_most.fetch_max(n, Ordering::SeqCst);
                let mut released = self.release.lock().unwrap();
                while !*released {
                    released = self.released.wait(released).unwrap();
                }
                self.stuck_running.fetch_sub(1, Ordering::SeqCst);
            } else {
                thread::sleep(Duration::from_millis(1));
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(Duration::from_millis(1))
        }

        fn name(&self) -> &str {
            "recorder"
        }
    }

    #[test]
    fn many_hosts_share_a_fixed_pool_and_a_stuck_host_delays_no_other() {
        // No network: the hosts are only names for the recorder.
        let stuck = ip("10.0.0.1");
        let probe = Arc::new(Recorder::new(stuck));
        let (tx, rx) = mpsc::channel::<Transition>();
        let settings = Settings {
            threads: 3,
            rise: 1,
            ..fast()
        };
        let m = Monitor::start(settings, probe.clone(), tx, Clock::system()).unwrap();
        assert_eq!(m.threads(), 3);
        let hosts: Vec<Host> = (1..=40)
            .map(|i| Host {
                ip: IpAddr::from([10, 0, 0, i]),
                check: None,
            })
            .collect();
        m.set_hosts(&hosts);
        // Every host but the stuck one is checked, repeatedly.
        let mut healthy = HashSet::new();
        while healthy.len() < 39 {
            let t = rx.recv_timeout(PATIENCE).expect("a transition");
            assert_eq!(t.to, State::Healthy);
            healthy.insert(t.ip);
        }
        assert!(!healthy.contains(&stuck));
        eventually("every other host checked 5 times", || {
            m.snapshot()
                .iter()
                .filter(|s| s.ip != stuck)
                .all(|s| s.checks >= 5)
        });
        assert_eq!(m.state(stuck), State::Unknown);
        assert!(probe.most.load(Ordering::SeqCst) <= 3);
        assert!(probe.threads.lock().unwrap().len() <= 3);
        assert_eq!(
            probe.stuck_most.load(Ordering::SeqCst),
            1,
            "never checked twice at once"
        );
        probe.release();
        Watch::new(rx).wait_for(stuck, State::Healthy);
        m.stop();
    }

    #[test]
    fn a_check_of_a_removed_host_is_discarded() {
        let stuck = ip("10.0.0.1");
        let probe = Arc::new(Recorder::new(stuck));
        let (tx, rx) = mpsc::channel::<Transition>();
        let settings = Settings { rise: 1, ..fast() };
        let m = Monitor::start(settings, probe.clone(), tx, Clock::system()).unwrap();
        m.set_hosts(&[Host {
            ip: stuck,
            check: None,
        }]);
        eventually("the check started", || {
            probe.stuck_running.load(Ordering::SeqCst) == 1
        });
        m.set_hosts(&[]);
        probe.release();
        eventually("the check ended", || {
            probe.running.load(Ordering::SeqCst) == 0
        });
        m.stop();
        assert!(
            rx.try_iter().next().is_none(),
            "no transition for a removed host"
        );
    }

    /// Answers by a script, one result per check: `true` is a good one.
    struct Scripted {
        results: Mutex<Vec<bool>>,
        /// After the script: every check fails or passes as this says.
        then: bool,
    }

    impl Probe for Scripted {
        fn probe(&self, _: &ProbeTarget, _: Duration) -> Result<Duration, String> {
            let mut r = self.results.lock().unwrap();
            let ok = if r.is_empty() { self.then } else { r.remove(0) };
            if ok {
                Ok(Duration::from_micros(100))
            } else {
                Err("scripted failure".into())
            }
        }

        fn name(&self) -> &str {
            "scripted"
        }
    }

    #[test]
    fn an_intermittent_host_never_flaps_and_a_dead_one_fails_once() {
        // Healthy, then 40 checks that fail every other time (never `fall`
        // = 3 in a row), then dead for good.
        let mut script = vec![true, true];
        for i in 0..40 {
            script.push(i % 2 == 0);
        }
        let probe = Arc::new(Scripted {
            results: Mutex::new(script),
            then: false,
        });
        let (tx, rx) = mpsc::channel::<Transition>();
        let m = Monitor::start(fast(), probe.clone(), tx, Clock::system()).unwrap();
        m.set_hosts(&[host("127.0.0.9:9".parse().unwrap())]);
        let mut seen = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        while seen.last().map(|t: &Transition| t.to) != Some(State::Failed) {
            let left = deadline.saturating_duration_since(Instant::now());
            seen.push(rx.recv_timeout(left).expect("a transition"));
        }
        // The script was used up before the host failed: the 40 mixed
        // results changed nothing.
        assert!(probe.results.lock().unwrap().is_empty());
        let states: Vec<(State, State)> = seen.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            states,
            [
                (State::Unknown, State::Healthy),
                (State::Healthy, State::Failed)
            ]
        );
        m.stop();
    }

    #[test]
    fn none_says_healthy_without_threads() {
        let m = Monitor::none();
        assert_eq!(m.threads(), 0);
        assert_eq!(m.state(ip("10.0.0.9")), State::Healthy);
        m.set_hosts(&[Host {
            ip: ip("10.0.0.9"),
            check: None,
        }]);
        let s = m.snapshot();
        assert_eq!((s.len(), s[0].state, s[0].checks), (1, State::Healthy, 0));
        m.stop();
    }

    #[test]
    fn for_kind_builds_the_named_monitor() {
        use crate::health::{parse_kind, Kind};
        let (tx, _rx) = mpsc::channel::<Transition>();
        let m = Monitor::for_kind(&Kind::None, fast(), tx.clone(), Clock::system()).unwrap();
        assert_eq!(m.threads(), 0);
        let kind = parse_kind("multi", Some("icmp:tcp")).unwrap();
        let m = Monitor::for_kind(&kind, fast(), tx.clone(), Clock::system()).unwrap();
        assert_eq!(m.threads(), 4);
        m.set_hosts(&[Host {
            ip: ip("127.0.0.1"),
            check: None,
        }]);
        assert_eq!(m.snapshot()[0].probe, "127.0.0.1, 127.0.0.1:1");
        m.stop();
        let bad = Settings { fall: 0, ..fast() };
        assert!(Monitor::for_kind(&Kind::Tcp, bad, tx, Clock::system()).is_err());
    }
}
