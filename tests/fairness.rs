//! Connection fairness at the daemon's front gate (issue 14): clients that
//! hog connections (kept alive, half-sent heads, many from one address)
//! cannot shut out a real client; the request timeout counts from accept;
//! a burst up to the documented capacity is never refused; liveness and
//! status answer while every route worker waits on a slow EC2; refusals
//! are logged in summaries, not a line each. Real sockets on 127.0.0.x:
//! the hogs bind other loopback addresses than the real client's
//! 127.0.0.1, as clients on other hosts would have.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::ec2sim;
use common::*;

/// How long a real client may wait for its answer while others hog the
/// gate: a correctness bound (it is served, not refused or starved), kept
/// generous for a loaded machine.
const SERVED_WITHIN: Duration = Duration::from_secs(2);

/// A connection to the daemon from the loopback address `src`.
fn connect_from(src: &str, addr: &str) -> TcpStream {
    let to: SocketAddr = addr.parse().unwrap();
    let from: SocketAddr = format!("{src}:0").parse().unwrap();
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&from.into()).unwrap();
    s.connect(&to.into())
        .unwrap_or_else(|e| panic!("connect from {src}: {e}"));
    s.into()
}

/// Reads one answer (head and `Content-Length` body) from a kept-alive
/// connection: its status and whether the daemon closes the connection.
fn read_answer(s: &mut TcpStream) -> Option<(u16, bool)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap_or(0));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some((status, head.contains("connection: close")))
}

/// Sends `bytes` from `src` and returns everything until the daemon closes
/// (or `wait` passes).
fn raw_from(src: &str, addr: &str, bytes: &[u8], wait: Duration) -> String {
    let mut s = connect_from(src, addr);
    s.set_read_timeout(Some(wait)).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(raw: &str) -> u16 {
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {raw:?}"))
}

/// What the workers answer `GET path` in the scenario: 200, but 404 for
/// the `show` of 10.55.0.0/16, which one table lacks.
fn expected(path: &str) -> &'static str {
    if path.starts_with("/route") {
        "HTTP/1.1 404 "
    } else {
        "HTTP/1.1 200 "
    }
}

/// A real client on 127.0.0.1: `GET path` on a new connection; asserts
/// that the workers answer it within [`SERVED_WITHIN`].
fn served(d: &Daemon, path: &str) {
    let started = Instant::now();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let a = raw_from(
        "127.0.0.1",
        &d.addr,
        req.as_bytes(),
        Duration::from_secs(10),
    );
    let took = started.elapsed();
    assert!(
        a.starts_with(expected(path)),
        "GET {path} after {took:?}: {a}\n{}",
        d.log()
    );
    assert!(took < SERVED_WITHIN, "GET {path} took {took:?}");
}

/// The daemon's open descriptors: each accepted connection holds one.
fn fds_of(d: &Daemon) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", d.child.id()))
        .unwrap()
        .count()
}

/// Waits (up to 10 s) until `done` holds.
fn wait_until(what: &str, d: &Daemon, done: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            Instant::now() < until,
            "{what}: not after 10 s\n{}",
            d.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Four addresses other than the real client's, 16 connections each.
const HOG_ADDRESSES: [&str; 4] = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];

/// Clients that each keep 16 connections open from one of
/// [`HOG_ADDRESSES`] and send a complete `GET /healthz` on each every
/// `every` (a new connection when the daemon closed one), until `stop`.
/// `answered` counts the connections that had at least one answer.
struct KeepAliveHogs {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

impl KeepAliveHogs {
    fn start(addr: &str, every: Duration) -> KeepAliveHogs {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let threads = HOG_ADDRESSES
            .iter()
            .map(|src| {
                let (addr, stop, answered) = (addr.to_string(), stop.clone(), answered.clone());
                thread::spawn(move || {
                    let mut conns: Vec<Option<TcpStream>> = (0..16).map(|_| None).collect();
                    let mut counted = [false; 16];
                    while !stop.load(Ordering::SeqCst) {
                        for (i, c) in conns.iter_mut().enumerate() {
                            let s = c.get_or_insert_with(|| {
                                let s = connect_from(src, &addr);
                                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                                s
                            });
                            let ok = s
                                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                                .is_ok();
                            match read_answer(s).filter(|_| ok) {
                                Some((_, close)) => {
                                    if !counted[i] {
                                        counted[i] = true;
                                        answered.fetch_add(1, Ordering::SeqCst);
                                    }
                                    if close {
                                        *c = None;
                                    }
                                }
                                None => *c = None,
                            }
                        }
                        thread::sleep(every);
                    }
                })
            })
            .collect();
        KeepAliveHogs {
            stop,
            answered,
            threads,
        }
    }
}

impl Drop for KeepAliveHogs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

// See: issue 14, finding 1 (64 kept-alive connections each asking every
// 4 s got every real client a 503 for as long as they kept it up).
#[test]
fn kept_alive_connections_cannot_shut_out_a_real_client() {
    let sim = ec2sim::scenario();
    let d = Daemon::start(&sim.url(), &[]);
    let hogs = KeepAliveHogs::start(&d.addr, Duration::from_millis(500));
    wait_until("64 hog connections answered", &d, || {
        hogs.answered.load(Ordering::SeqCst) >= 64
    });
    for path in ["/healthz", "/route?dst_cidr=10.55.0.0/16", "/healthz", "/"] {
        served(&d, path);
    }
    drop(hogs);
}

// See: issue 14, finding 1 (64 half-sent request heads got a real client
// an immediate 503 for up to 10 s).
#[test]
fn half_sent_heads_cannot_shut_out_a_real_client() {
    let sim = ec2sim::scenario();
    let d = Daemon::start(&sim.url(), &[]);
    let before = fds_of(&d);
    let mut hogs = Vec::new();
    for src in HOG_ADDRESSES {
        for _ in 0..16 {
            let mut s = connect_from(src, &d.addr);
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            hogs.push(s);
        }
    }
    wait_until("64 hog connections accepted", &d, || {
        fds_of(&d) >= before + 64
    });
    for path in ["/healthz", "/route?dst_cidr=10.55.0.0/16", "/status"] {
        served(&d, path);
    }
    // The first real client took the place of the oldest half-sent head,
    // which was told why (the next ones took the places of connections
    // already answered and closing).
    let oldest = &mut hogs[0];
    oldest
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = String::new();
    let _ = oldest.read_to_string(&mut out);
    assert_eq!(status_of(&out), 408, "{out}");
    assert_contains!(out, "every connection slot was wanted");
}

// See: issue 14, finding 1 (a queued connection's request timeout only
// started when a gate thread took it: it held its place for twice the
// timeout).
#[test]
fn the_request_timeout_counts_from_accept() {
    let d = Daemon::start(
        &ec2sim::scenario().url(),
        &["--max-connections", "2", "--request-timeout", "2"],
    );
    let silent: Vec<(TcpStream, Instant)> = (0..4)
        .map(|_| {
            let s = TcpStream::connect(&d.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            (s, Instant::now())
        })
        .collect();
    for (mut s, connected) in silent {
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let took = connected.elapsed();
        assert_eq!(status_of(&out), 408, "{out}");
        // Within its own timeout of being accepted (plus slack for a
        // loaded machine), never twice the timeout.
        assert!(took < Duration::from_millis(3500), "408 after {took:?}");
    }
}

// See: issue 14, finding 1 (bursts of complete requests got 503 below the
// documented capacity: 48 connections, 14 % refused; 64, 24 %).
#[test]
fn a_burst_up_to_the_capacity_is_never_refused() {
    let sim = ec2sim::scenario();
    // Slow enough that the whole burst is at the gate at once.
    sim.set_delay(Duration::from_millis(50));
    let d = Daemon::start(&sim.url(), &[]);
    // The documented capacity: 64 connections, at most 16 per address.
    let start = Arc::new(Barrier::new(64));
    let clients: Vec<_> = (0..64)
        .map(|i| {
            let (addr, start) = (d.addr.clone(), start.clone());
            thread::spawn(move || {
                let src = HOG_ADDRESSES[i % 4];
                let path = if i % 2 == 0 {
                    "/route?dst_cidr=10.55.0.0/16"
                } else {
                    "/healthz"
                };
                let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                start.wait();
                let a = raw_from(src, &addr, req.as_bytes(), Duration::from_secs(30));
                (a.starts_with(expected(path)), a)
            })
        })
        .collect();
    let answers: Vec<(bool, String)> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let refused = answers.iter().filter(|(served, _)| !served).count();
    assert_eq!(refused, 0, "{answers:#?}");
}

// See: issue 14, finding 1 (the per-client-address cap).
#[test]
fn one_address_cannot_take_every_connection() {
    let sim = ec2sim::scenario();
    let d = Daemon::start(
        &sim.url(),
        &[
            "--max-connections",
            "8",
            "--max-connections-per-client",
            "4",
        ],
    );
    // Ten slow connections from one address: each beyond four takes the
    // place of that address's own oldest, which is told 408 at once.
    let hogs: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = connect_from("127.0.0.2", &d.addr);
            s.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    for (i, mut s) in hogs.into_iter().enumerate() {
        let reclaimed = i < 6;
        let wait = if reclaimed { 5000 } else { 1000 };
        s.set_read_timeout(Some(Duration::from_millis(wait)))
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        if reclaimed {
            assert_eq!(status_of(&out), 408, "hog {i}: {out}");
        } else {
            assert_eq!(out, "", "hog {i} should still be open");
        }
    }
    // Another address still has its room.
    let a = raw_from(
        "127.0.0.3",
        &d.addr,
        b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&a), 200, "{a}");
    // Four requests from one address at the workers (EC2 is slow): a fifth
    // connection from there cannot take any of their places, and is told
    // to come back.
    sim.set_delay(Duration::from_secs(3));
    let busy: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect_from("127.0.0.6", &d.addr);
            s.write_all(b"GET /route?dst_cidr=10.55.0.0/16 HTTP/1.1\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    wait_until("four requests at EC2", &d, || sim.calls().len() >= 4);
    let a = raw_from(
        "127.0.0.6",
        &d.addr,
        b"GET /healthz HTTP/1.1\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&a), 503, "{a}");
    assert_contains!(a, "Retry-After: 1");
    drop(busy);
}

// See: issue 14, finding 2 (/healthz took 18 s behind 6 slow GET /route).
#[test]
fn liveness_and_status_answer_while_route_workers_wait_on_ec2() {
    let sim = ec2sim::scenario();
    let d = Daemon::start(&sim.url(), &["--workers", "2"]);
    sim.set_delay(Duration::from_secs(5));
    let slow: Vec<TcpStream> = (0..6)
        .map(|_| {
            let mut s = TcpStream::connect(&d.addr).unwrap();
            s.write_all(b"GET /route?dst_cidr=10.55.0.0/16 HTTP/1.1\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    // Both workers are waiting on EC2.
    wait_until("two requests at EC2", &d, || sim.calls().len() >= 2);
    for path in ["/healthz", "/status", "/metrics", "/", "/healthz"] {
        served(&d, path);
    }
    drop(slow);
}

// See: issue 14, finding 3 (2,000 refused connections logged 1,936 lines).
#[test]
fn refusals_are_logged_in_summaries() {
    let d = Daemon::start(&ec2sim::scenario().url(), &[]);
    for _ in 0..300 {
        let a = raw_from(
            "127.0.0.1",
            &d.addr,
            b"garbage\r\n\r\n",
            Duration::from_secs(5),
        );
        assert_eq!(status_of(&a), 400, "{a}");
    }
    served(&d, "/healthz");
    d.signal("TERM");
    let (code, log) = d.wait(Duration::from_secs(10));
    assert_eq!(code, 0, "{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("garbage")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert_contains!(log, "refused 299 more connections");
    assert_contains!(log, "(malformed)");
}
