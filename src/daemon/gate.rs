//! The front gate: the only code that touches client sockets. It accepts
//! on the public address, reads each request with bounded size and time
//! (`frame`), refuses what it must (413, 431, 408, 400, 501, 505, 503 when
//! full) and passes the sane rest to tiny_http over a private Unix socket,
//! then relays the answer.
//!
//! Why a gate: tiny_http 0.12 spawns a thread per connection without a
//! bound, has no read timeouts, and when a request is dropped it drains the
//! unread body into one allocation sized by the client's `Content-Length`
//! (a 30 GB claim aborts the process). Behind the gate, tiny_http only ever
//! sees well-formed requests with small, exact bodies, from at most
//! `threads` connections.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::json;

use super::frame::{Head, Limits, Next, Reader, Refusal};
use super::metrics::Metrics;
use super::service::{peer_text, PEER_HEADER};
use crate::{debug, info, warn};

/// An answer from the workers larger than this is cut off (a `show` over
/// hundreds of tables is well under 1 MiB).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;
/// How long a worker may take: route commands wait on EC2, whose calls
/// have their own timeouts and retries.
const WORKER_TIMEOUT: Duration = Duration::from_secs(600);

/// The gate's shape.
#[derive(Debug, Clone)]
pub struct GateConfig {
    pub limits: Limits,
    /// Connections served at once; each has a thread.
    pub threads: usize,
    /// Accepted connections waiting for a thread; beyond this, 503.
    pub queue: usize,
    /// The workers' Unix socket.
    pub backend: PathBuf,
}

/// The running gate.
pub struct Gate {
    stopping: Arc<AtomicBool>,
    /// Held here as well as by the acceptor, so that the descriptor stays
    /// open (and is not reused) until the gate is gone.
    listener: Arc<TcpListener>,
    acceptor: JoinHandle<()>,
    threads: Vec<JoinHandle<()>>,
}

type Job = (TcpStream, SocketAddr);

impl Gate {
    pub fn start(
        listener: TcpListener,
        cfg: GateConfig,
        metrics: Arc<Metrics>,
    ) -> io::Result<Gate> {
        let stopping = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::sync_channel::<Job>(cfg.queue);
        let rx = Arc::new(Mutex::new(rx));
        let cfg = Arc::new(cfg);
        let mut threads = Vec::with_capacity(cfg.threads);
        for i in 0..cfg.threads {
            let (rx, cfg, metrics, stopping) =
                (rx.clone(), cfg.clone(), metrics.clone(), stopping.clone());
            threads.push(
                thread::Builder::new()
                    .name(format!("gate-{i}"))
                    .stack_size(256 * 1024)
                    .spawn(move || gate_thread(&rx, &cfg, &metrics, &stopping))?,
            );
        }
        let listener = Arc::new(listener);
        let acceptor = {
            let (listener, metrics, stopping) =
                (listener.clone(), metrics.clone(), stopping.clone());
            thread::Builder::new()
                .name("accept".into())
                .stack_size(256 * 1024)
                .spawn(move || accept_loop(listener, tx, &metrics, &stopping))?
        };
        Ok(Gate {
            stopping,
            listener,
            acceptor,
            threads,
        })
    }

    /// Stops accepting: the listening socket is shut down, which wakes the
    /// acceptor out of `accept`. Connections already accepted are served,
    /// one request each.
    pub fn stop_accepting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // SAFETY: shutdown(2) on a descriptor this struct keeps open.
        // Shutting down a listening socket makes a blocked accept() return
        // EINVAL on Linux, and refuses new connections.
        unsafe {
            libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR);
        }
    }

    /// Waits until every gate thread is done, or `deadline`. Returns
    /// whether all finished.
    pub fn join(self, deadline: Instant) -> bool {
        let mut all = vec![self.acceptor];
        all.extend(self.threads);
        loop {
            if all.iter().all(JoinHandle::is_finished) {
                for t in all {
                    let _ = t.join();
                }
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn accept_loop(
    listener: Arc<TcpListener>,
    tx: SyncSender<Job>,
    metrics: &Metrics,
    stopping: &AtomicBool,
) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                match tx.try_send((stream, peer)) {
                    Ok(()) => {}
                    Err(TrySendError::Full((stream, peer))) => {
                        metrics.refused("busy");
                        warn!(
                            "{}: every connection slot is busy; answered 503",
                            peer_text(Some(peer))
                        );
                        busy(stream);
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            Err(e) => {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // Out of descriptors, most likely: wait instead of spinning.
                warn!("accepting a connection: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Answers 503 without a thread of its own: the write is small and has a
/// short timeout.
fn busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    let body = json!({"error": {"status": 503, "message": "the daemon is serving as many connections as it allows; retry shortly"}});
    let _ = stream.write_all(&plain_answer(
        503,
        &[("Retry-After", "1")],
        &format!("{body:#}\n"),
    ));
    let _ = stream.shutdown(Shutdown::Both);
}

fn gate_thread(
    rx: &Mutex<Receiver<Job>>,
    cfg: &GateConfig,
    metrics: &Metrics,
    stopping: &AtomicBool,
) {
    loop {
        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok((stream, peer)) = job else {
            return;
        };
        serve(stream, peer, cfg, metrics, stopping);
    }
}

/// Serves one connection, request after request, until the client closes,
/// goes idle, asks to close, or is refused.
fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    cfg: &GateConfig,
    metrics: &Metrics,
    stopping: &AtomicBool,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(cfg.limits.request_timeout));
    let peer_s = peer_text(Some(peer));
    let mut reader = Reader::new(stream, cfg.limits);
    let mut first = true;
    loop {
        let next = reader.next_request(first, |s| s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n"));
        first = false;
        match next {
            Next::Closed => return,
            Next::Refused(r) => {
                metrics.refused(r.reason());
                info!(
                    "{peer_s}: refused at the gate with {}: {}",
                    r.status(),
                    r.message(&cfg.limits)
                );
                refuse(reader.get_mut(), &r, &cfg.limits);
                return;
            }
            Next::Request(head, body) => {
                if let Some(r) = unforwardable(&head) {
                    metrics.refused(r.reason());
                    info!(
                        "{peer_s}: refused at the gate with {}: {}",
                        r.status(),
                        r.message(&cfg.limits)
                    );
                    refuse(reader.get_mut(), &r, &cfg.limits);
                    return;
                }
                let keep = head.keep_alive() && !stopping.load(Ordering::SeqCst);
                let answer = match forward(&cfg.backend, &head, &body, &peer_s) {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(
                            "{peer_s}: {} {}: the workers did not answer: {e}",
                            head.method, head.target
                        );
                        let body = json!({"error": {"status": 503, "message": "the daemon could not serve the request; retry shortly"}});
                        let _ = reader.get_mut().write_all(&plain_answer(
                            503,
                            &[],
                            &format!("{body:#}\n"),
                        ));
                        return;
                    }
                };
                let out = relay(&answer, keep);
                if reader.get_mut().write_all(&out).is_err() || !keep {
                    let _ = reader.get_mut().shutdown(Shutdown::Write);
                    return;
                }
            }
        }
    }
}

/// Answers a refusal and closes. The client may still be sending (a body
/// we will not read): shutting down our side first and draining a little
/// lets the answer arrive instead of being lost to a reset.
fn refuse(stream: &mut TcpStream, r: &Refusal, limits: &Limits) {
    let body = json!({"error": {"status": r.status(), "message": r.message(limits)}});
    let _ = stream.write_all(&plain_answer(r.status(), &[], &format!("{body:#}\n")));
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(250)));
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    let until = Instant::now() + Duration::from_secs(1);
    while drained < 1024 * 1024 && Instant::now() < until {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Why a request cannot be passed on, if it cannot: the workers' HTTP
/// server takes only ASCII in the header lines we pass on (it drops the
/// connection otherwise, which would be a 503 here).
fn unforwardable(head: &Head) -> Option<Refusal> {
    let bad = ["Authorization", "Content-Type"].into_iter().find(|n| {
        head.header(n)
            .is_some_and(|v| v.bytes().any(|b| b != b'\t' && !(b' '..=b'~').contains(&b)))
    })?;
    Some(Refusal::Malformed(format!(
        "the {bad} header is not printable ASCII"
    )))
}

/// Sends one request to the workers and reads their whole answer.
fn forward(backend: &PathBuf, head: &Head, body: &[u8], peer: &str) -> io::Result<Vec<u8>> {
    let mut s = UnixStream::connect(backend)?;
    s.set_read_timeout(Some(WORKER_TIMEOUT))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req = Vec::with_capacity(256 + body.len());
    // Only what the workers use is passed on; in particular a client's own
    // PEER_HEADER never is.
    write!(
        req,
        "{} {} HTTP/1.1\r\nHost: vpc-router\r\nConnection: close\r\nContent-Length: {}\r\n{PEER_HEADER}: {peer}\r\n",
        head.method,
        head.target,
        body.len()
    )?;
    for name in ["Authorization", "Content-Type"] {
        if let Some(v) = head.header(name) {
            write!(req, "{name}: {v}\r\n")?;
        }
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    s.write_all(&req)?;
    let mut answer = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut answer)?;
    if answer.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "empty answer"));
    }
    Ok(answer)
}

/// The workers' answer with our own `Connection` header.
fn relay(answer: &[u8], keep_alive: bool) -> Vec<u8> {
    let Some(end) = super::frame::head_end(answer) else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut out = Vec::with_capacity(answer.len() + 32);
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("server") {
            continue;
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let conn = if keep_alive { "keep-alive" } else { "close" };
    out.extend_from_slice(format!("Connection: {conn}\r\n\r\n").as_bytes());
    out.extend_from_slice(&answer[end..]);
    out
}

/// A complete answer written by the gate itself (it always closes).
fn plain_answer(status: u16, extra: &[(&str, &str)], body: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (n, v) in extra {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    debug!("gate answered {status}");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_sets_our_connection_header() {
        let a = b"HTTP/1.1 201 Created\r\nServer: tiny-http (Rust)\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}";
        let out = String::from_utf8(relay(a, true)).unwrap();
        assert_eq!(
            out,
            "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
        );
        let out = String::from_utf8(relay(a, false)).unwrap();
        assert!(out.contains("Connection: close\r\n\r\n{}"));
    }

    #[test]
    fn plain_answers_are_complete() {
        let a = String::from_utf8(plain_answer(413, &[], "{}\n")).unwrap();
        assert!(a.starts_with("HTTP/1.1 413 Content Too Large\r\n"));
        assert!(a.contains("Content-Length: 3\r\n") && a.ends_with("\r\n\r\n{}\n"));
    }
}
