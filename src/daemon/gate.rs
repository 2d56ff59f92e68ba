//! The front gate: the only code that touches client sockets. One I/O
//! thread (`conns`) accepts on the public address and reads and writes every
//! client connection without blocking, framing each request with bounded
//! size and time (`frame`); it refuses what it must (400, 408, 413, 431,
//! 501, 505; 503 when it cannot make room) and hands whole requests to
//! relay threads, which pass them to tiny_http over a private Unix socket
//! and bring the answer back.
//!
//! Why a gate: tiny_http 0.12 spawns a thread per connection without a
//! bound, has no read timeouts, and when a request is dropped it drains the
//! unread body into one allocation sized by the client's `Content-Length`
//! (a 30 GB claim aborts the process). Behind the gate, tiny_http only ever
//! sees well-formed requests with small, exact bodies, from at most as
//! many connections as there are relays.
//!
//! Fairness: a connection costs a buffer and a descriptor, never a thread,
//! so slow and idle clients hold no thread. When every slot is taken a
//! newcomer gets the slot of the connection idle longest, else of the one
//! slowest to send its request (`policy`); one address may hold only so
//! many. Liveness and status (`/healthz`, `/status`, `/`, `/metrics`) have
//! a lane of their own, with their own workers, so that they never wait
//! behind route commands.

mod conns;
mod policy;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::frame::{Head, Limits};
use super::service::{self, Service, PEER_HEADER, PROBE_PEER};
use crate::debug;
use conns::{Done, IoLoop, Job, Lanes};

/// An answer from the workers larger than this is cut off (a `show` over
/// hundreds of tables is well under 1 MiB).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;
/// How long a worker may take: route commands wait on EC2, whose calls
/// have their own timeouts and retries.
const WORKER_TIMEOUT: Duration = Duration::from_secs(600);
/// Workers (and relays) of the status lane: its answers are read from
/// memory in microseconds, so two keep it free while one is scraped.
const STATUS_THREADS: usize = 2;

/// The gate's shape.
#[derive(Debug, Clone)]
pub struct GateConfig {
    pub limits: Limits,
    /// Client connections open at once.
    pub max_connections: usize,
    /// Of those, the most one client may have (counted by address; by /64
    /// for IPv6).
    pub per_client: usize,
    /// Threads that relay route requests to the workers: as many as there
    /// are workers (more would only wait inside tiny_http).
    pub relays: usize,
    /// The workers' Unix socket. The status lane's socket is made next to
    /// it, in the same private directory.
    pub backend: PathBuf,
}

/// The running gate.
pub struct Gate {
    stopping: Arc<AtomicBool>,
    /// Held here as well as by the I/O thread, so that the descriptor stays
    /// open (and is not reused) until the gate is gone.
    listener: Arc<std::net::TcpListener>,
    /// Wakes the I/O thread out of poll(2).
    waker: UnixStream,
    io: JoinHandle<()>,
    relays: Vec<JoinHandle<()>>,
    status: StatusLane,
}

/// Where a request goes: route commands and the spec to the workers;
/// liveness, status and metrics to the status lane's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Route,
    Status,
}

fn lane_of(target: &str) -> Lane {
    match target.split('?').next().unwrap_or("") {
        "/healthz" | "/status" | "/status/routes" | "/" | "/metrics" | "/bgp" | "/status.html"
        | "/openapi.json" => Lane::Status,
        _ => Lane::Route,
    }
}

impl Gate {
    /// Starts the status lane, the relays and the I/O thread. `svc` serves
    /// the status lane; the route workers are started by the daemon.
    pub fn start(
        listener: std::net::TcpListener,
        cfg: GateConfig,
        svc: Arc<Service>,
    ) -> std::io::Result<Gate> {
        let status = StatusLane::start(&cfg.backend.with_file_name("status.sock"), &svc)?;
        let (wake_rx, waker) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        waker.set_nonblocking(true)?;
        let (route_tx, route_rx) = mpsc::channel::<Job>();
        let (status_tx, status_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let (connected, connected_rx) = mpsc::channel::<()>();
        let mut relays = spawn_relays(
            "relay",
            cfg.relays,
            route_rx,
            &cfg.backend,
            &done_tx,
            (&waker, &connected),
        )?;
        relays.extend(spawn_relays(
            "relay-status",
            STATUS_THREADS,
            status_rx,
            &status.socket,
            &done_tx,
            (&waker, &connected),
        )?);
        // Every relay has its connection (tiny_http's threads are all
        // there) before the first client is accepted.
        for _ in 0..relays.len() {
            let _ = connected_rx.recv();
        }
        listener.set_nonblocking(true)?;
        let listener = Arc::new(listener);
        let stopping = Arc::new(AtomicBool::new(false));
        let io = IoLoop::new(
            listener.clone(),
            wake_rx,
            done_rx,
            Lanes {
                route: route_tx,
                status: status_tx,
            },
            cfg,
            svc.metrics.clone(),
            stopping.clone(),
        );
        let io = thread::Builder::new()
            .name("gate".into())
            .stack_size(512 * 1024)
            .spawn(move || io.run())?;
        Ok(Gate {
            stopping,
            listener,
            waker,
            io,
            relays,
            status,
        })
    }

    /// Stops accepting: the listening socket is shut down, so that new
    /// connections are refused. Connections already accepted are served,
    /// one request each; idle ones are closed.
    pub fn stop_accepting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // SAFETY: shutdown(2) on a descriptor this struct keeps open.
        // Shutting down a listening socket refuses new connections on Linux.
        unsafe {
            libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR);
        }
        let _ = (&self.waker).write(&[1]);
    }

    /// Waits until every connection is served and every gate thread is
    /// done (the status lane last), or `deadline`. Returns whether all
    /// finished.
    pub fn join(self, deadline: Instant) -> bool {
        let mut all = vec![self.io];
        all.extend(self.relays);
        let served = join_all(all, deadline);
        self.status.stop(deadline) && served
    }
}

/// Waits for `threads` until `deadline`; false if some still run.
fn join_all(threads: Vec<JoinHandle<()>>, deadline: Instant) -> bool {
    loop {
        if threads.iter().all(JoinHandle::is_finished) {
            for t in threads {
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

/// The status lane's own tiny_http server, on its own Unix socket, and
/// its own workers: `/healthz` and friends never queue behind route
/// commands waiting on EC2 or on a CIDR's lock.
struct StatusLane {
    socket: PathBuf,
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl StatusLane {
    fn start(socket: &Path, svc: &Arc<Service>) -> std::io::Result<StatusLane> {
        let unix = UnixListener::bind(socket)?;
        let server =
            Arc::new(tiny_http::Server::from_listener(unix, None).map_err(std::io::Error::other)?);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for i in 0..STATUS_THREADS {
            let (server, svc, stopping) = (server.clone(), svc.clone(), stopping.clone());
            workers.push(
                thread::Builder::new()
                    .name(format!("status-{i}"))
                    .spawn(move || service::work(&server, &svc, &stopping))?,
            );
        }
        Ok(StatusLane {
            socket: socket.to_path_buf(),
            server,
            stopping,
            workers,
        })
    }

    fn stop(self, deadline: Instant) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        join_all(self.workers, deadline)
    }
}

/// Starts `n` relays taking jobs from `jobs` to `backend`; each tells
/// `connected` once it has tried to connect.
fn spawn_relays(
    name: &str,
    n: usize,
    jobs: Receiver<Job>,
    backend: &Path,
    done: &Sender<Done>,
    (waker, connected): (&UnixStream, &Sender<()>),
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let jobs = Arc::new(Mutex::new(jobs));
    let connecting = Arc::new(Mutex::new(()));
    let mut relays = Vec::with_capacity(n);
    for i in 0..n {
        let (jobs, done, wake) = (jobs.clone(), done.clone(), waker.try_clone()?);
        let connected = connected.clone();
        let mut backend = Backend {
            path: backend.to_path_buf(),
            connecting: connecting.clone(),
            conn: None,
        };
        relays.push(
            thread::Builder::new()
                .name(format!("{name}-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    // At once, so that tiny_http's threads are all in place
                    // before the first client; else with the first request.
                    if let Err(e) = backend.connect() {
                        debug!("connecting to the workers: {e}");
                    }
                    let _ = connected.send(());
                    relay_thread(&jobs, &mut backend, &done, &wake);
                })?,
        );
    }
    Ok(relays)
}

/// A relay: takes whole requests of one lane, passes each to that lane's
/// workers, and hands the answer back to the I/O thread.
fn relay_thread(
    jobs: &Mutex<Receiver<Job>>,
    backend: &mut Backend,
    done: &Sender<Done>,
    wake: &UnixStream,
) {
    loop {
        let job = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(job) = job else {
            return;
        };
        let answer = backend.forward(&job.head, &job.body, &job.peer);
        if done.send((job.id, answer)).is_err() {
            return;
        }
        // Full means a wake-up is pending already.
        let _ = (&*wake).write(&[1]);
    }
}

/// The request a relay sends on a new connection, answered at once by a
/// worker without a log line or a count (`service::PROBE_PEER`).
fn probe() -> Vec<u8> {
    format!(
        "GET /healthz HTTP/1.1\r\nHost: vpc-router\r\nConnection: keep-alive\r\n\
         Content-Length: 0\r\n{PEER_HEADER}: {PROBE_PEER}\r\n\r\n"
    )
    .into_bytes()
}
/// The longest head the workers' answers may have.
const MAX_ANSWER_HEAD: u64 = 64 * 1024;

/// A relay's own keep-alive connection to its lane's tiny_http.
///
/// Why kept open: tiny_http serves each connection on a thread of its pool
/// for as long as the connection lasts, and adds a thread whenever none is
/// idle (idle ones above four end after 5 s). A connection per request made
/// the pool grow under load (one closing while the next one arrives); one
/// connection per relay, opened once, holds exactly one pool thread each.
struct Backend {
    path: PathBuf,
    /// Held, by every relay of the lane, while one connects: see `connect`.
    connecting: Arc<Mutex<()>>,
    conn: Option<BufReader<UnixStream>>,
}

impl Backend {
    /// Opens the connection, and waits until tiny_http serves it (the
    /// probe's answer), one relay of the lane at a time. tiny_http's pool
    /// counts a thread as idle until it has woken up and taken its
    /// connection; two connections in that moment would both be queued for
    /// that one thread, and with connections that never end the second
    /// would wait forever.
    fn connect(&mut self) -> std::io::Result<()> {
        self.conn = None;
        let _one_at_a_time = self.connecting.lock().unwrap_or_else(|p| p.into_inner());
        let s = UnixStream::connect(&self.path)?;
        s.set_read_timeout(Some(WORKER_TIMEOUT))?;
        s.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut conn = BufReader::new(s);
        conn.get_mut().write_all(&probe())?;
        match read_answer(&mut conn, false)? {
            (a, true) if a.starts_with(b"HTTP/1.1 200 ") => {
                self.conn = Some(conn);
                Ok(())
            }
            _ => Err(std::io::Error::other(
                "the workers' server did not answer the connection probe",
            )),
        }
    }

    /// Sends one request to the workers and reads their whole answer; on
    /// any error the connection is dropped, and made again next time.
    fn forward(&mut self, head: &Head, body: &[u8], peer: &str) -> std::io::Result<Vec<u8>> {
        if self.conn.is_none() {
            self.connect()?;
        }
        let result = match &mut self.conn {
            Some(conn) => exchange(conn, head, body, peer),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        };
        match result {
            Ok((answer, true)) => Ok(answer),
            Ok((answer, false)) => {
                self.conn = None;
                Ok(answer)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }
}

/// One request and its answer on `conn`; whether the connection stays open.
fn exchange(
    conn: &mut BufReader<UnixStream>,
    head: &Head,
    body: &[u8],
    peer: &str,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut req = Vec::with_capacity(256 + body.len());
    // Only what the workers use is passed on; in particular a client's own
    // PEER_HEADER never is.
    write!(
        req,
        "{} {} HTTP/1.1\r\nHost: vpc-router\r\nConnection: keep-alive\r\nContent-Length: {}\r\n{PEER_HEADER}: {peer}\r\n",
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
    conn.get_mut().write_all(&req)?;
    read_answer(conn, head.method.eq_ignore_ascii_case("HEAD"))
}

/// Reads one answer: its head, then `Content-Length` bytes (none after a
/// HEAD). The workers always send a `Content-Length` (never chunked), so
/// the end of an answer is known without closing. Also whether the
/// connection stays open.
fn read_answer(
    conn: &mut BufReader<UnixStream>,
    head_only: bool,
) -> std::io::Result<(Vec<u8>, bool)> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut answer = Vec::new();
    let (mut length, mut keep) = (None, true);
    loop {
        let start = answer.len();
        let room = MAX_ANSWER_HEAD.saturating_sub(start as u64);
        if (&mut *conn).take(room).read_until(b'\n', &mut answer)? == 0 {
            return Err(if start == 0 {
                std::io::ErrorKind::UnexpectedEof.into()
            } else {
                bad("the workers' answer ends in its head")
            });
        }
        let line = std::str::from_utf8(&answer[start..]).map_err(|_| bad("a head not UTF-8"))?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<u64>().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                keep = !value.eq_ignore_ascii_case("close");
            }
        }
    }
    let length = match (head_only, length) {
        (true, _) => 0,
        (false, Some(n)) if n <= MAX_ANSWER => n,
        (false, Some(_)) => return Err(bad("the workers' answer is too large")),
        (false, None) => return Err(bad("the workers' answer has no Content-Length")),
    };
    let start = answer.len();
    conn.take(length).read_to_end(&mut answer)?;
    if (answer.len() - start) as u64 != length {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok((answer, keep))
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
    fn liveness_and_status_have_their_own_lane() {
        for t in [
            "/healthz",
            "/status",
            "/status/routes?page=2",
            "/",
            "/metrics",
            "/metrics?x=1",
            "/status.html?page=2",
            "/openapi.json",
        ] {
            assert_eq!(lane_of(t), Lane::Status, "{t}");
        }
        for t in [
            "/route?dst_cidr=10.0.0.0/8",
            "/route_spec",
            "/healthzz",
            "/status/x",
        ] {
            assert_eq!(lane_of(t), Lane::Route, "{t}");
        }
    }

    /// Answers on a kept-alive connection end where their
    /// `Content-Length` says, so the next one is read whole too.
    #[test]
    fn answers_are_read_one_at_a_time_on_one_connection() {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        let mut conn = BufReader::new(theirs);
        ours.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}\
              HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n\
              HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 3\r\n\r\nno\n\
              HTTP/1.1 200 OK\r\n\r\n",
        )
        .unwrap();
        let (a, keep) = read_answer(&mut conn, false).unwrap();
        assert_eq!(
            (a.as_slice(), keep),
            (&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"[..], true)
        );
        // A HEAD's answer has a length but no body.
        let (a, _) = read_answer(&mut conn, true).unwrap();
        assert!(a.ends_with(b"Content-Length: 9\r\n\r\n"));
        let (a, keep) = read_answer(&mut conn, false).unwrap();
        assert!(a.starts_with(b"HTTP/1.1 404") && a.ends_with(b"\r\n\r\nno\n") && !keep);
        let err = read_answer(&mut conn, false).unwrap_err();
        assert!(err.to_string().contains("no Content-Length"), "{err}");
        drop(ours);
        let err = read_answer(&mut conn, false).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn plain_answers_are_complete() {
        let a = String::from_utf8(plain_answer(413, &[], "{}\n")).unwrap();
        assert!(a.starts_with("HTTP/1.1 413 Content Too Large\r\n"));
        assert!(a.contains("Content-Length: 3\r\n") && a.ends_with("\r\n\r\n{}\n"));
    }
}
