//! The gate's one I/O thread: it accepts, and reads and writes every client
//! connection without blocking, waiting on all of them at once with
//! poll(2). A slow or idle client so costs a buffer and a descriptor, never
//! a thread. Each connection's request deadline runs from its accept (for
//! the first request) or from its first byte (for the next ones). A whole
//! request goes to its lane's relays; the answer comes back on a channel,
//! with a byte on the wake socket.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::policy::{client_key, victim, Quiet, Standing};
use super::{lane_of, plain_answer, relay, GateConfig, Lane};
use crate::daemon::frame::{Framer, Head, Limits, Parse, Refusal};
use crate::daemon::metrics::Metrics;
use crate::daemon::service::peer_text;
use crate::log::{self, Level};
use crate::{debug, warn};

/// A whole request for a relay.
pub struct Job {
    pub id: u64,
    pub head: Head,
    pub body: Vec<u8>,
    pub peer: String,
}

/// A relay's answer to job `id` (or why there is none).
pub type Done = (u64, io::Result<Vec<u8>>);

/// Where whole requests go.
pub struct Lanes {
    pub route: Sender<Job>,
    pub status: Sender<Job>,
}

/// After a last answer, how long and how much of what the client still
/// sends is read, so that closing does not reset the connection before
/// the client has the answer.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;
/// The longest poll(2) waits with nothing due: the stop flag is read at
/// least this often.
const TICK: Duration = Duration::from_secs(1);
/// Refusals of one reason are logged one by one at most once this often.
const QUIET_WINDOW: Duration = Duration::from_secs(10);
/// Connections accepted in one turn of the loop before the others are
/// looked at.
const ACCEPT_BATCH: usize = 64;

#[derive(Debug)]
enum State {
    /// Waiting for a request, or for the rest of one: since `since`, until
    /// `deadline`. `idle`: between requests, nothing of the next yet.
    Reading {
        since: Instant,
        deadline: Instant,
        idle: bool,
    },
    /// The request is at the workers. `what` is for the log.
    Relaying { keep: bool, what: String },
    /// Sending an answer; then reading the next request (`keep`) or
    /// closing.
    Writing {
        out: Vec<u8>,
        at: usize,
        deadline: Instant,
        keep: bool,
    },
    /// Answered for the last time, our side shut: reading what the client
    /// still sends until it closes, `deadline`, or `left` more bytes.
    Closing { deadline: Instant, left: usize },
}

struct Conn {
    stream: TcpStream,
    /// What it counts against (`policy::client_key`).
    key: IpAddr,
    peer: String,
    /// It holds one of the gate's slots (false while it is being turned
    /// away or has given way).
    slot: bool,
    /// Received and not yet taken: the current request from its start.
    buf: Vec<u8>,
    framer: Framer,
    state: State,
    /// The client has closed its side.
    eof: bool,
    /// `100 Continue` was sent for the current request.
    continued: bool,
}

impl Conn {
    fn standing(&self) -> Standing {
        match self.state {
            State::Reading {
                since, idle: true, ..
            } => Standing::Idle(since),
            State::Reading { since, .. } => Standing::Sending(since),
            State::Closing { .. } => Standing::Closing,
            State::Relaying { .. } | State::Writing { .. } => Standing::Served,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Reading { deadline, .. }
            | State::Writing { deadline, .. }
            | State::Closing { deadline, .. } => Some(deadline),
            State::Relaying { .. } => None,
        }
    }

    /// The poll(2) events it waits for (none while at the workers).
    fn interest(&self) -> libc::c_short {
        match self.state {
            State::Reading { .. } | State::Closing { .. } => libc::POLLIN,
            State::Writing { .. } => libc::POLLOUT,
            State::Relaying { .. } => 0,
        }
    }

    /// Reads and drops what a closing connection's client still sends;
    /// whether it is done (closed, or sent too much).
    fn drain(&mut self) -> bool {
        let State::Closing { left, .. } = &mut self.state else {
            return true;
        };
        let mut sink = [0u8; 8192];
        loop {
            match self.stream.read(&mut sink) {
                Ok(0) => return true,
                Ok(n) if n >= *left => return true,
                Ok(n) => *left -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// Reads what has arrived, up to the most a request may take.
    fn fill(&mut self) -> io::Result<()> {
        let cap = self.framer.max_request();
        let mut chunk = [0u8; 8192];
        while self.buf.len() < cap {
            let want = (cap - self.buf.len()).min(chunk.len());
            match self.stream.read(&mut chunk[..want]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The I/O thread's state: every open connection, the slots they hold,
/// and how many each client has.
pub struct IoLoop {
    listener: Arc<TcpListener>,
    wake: UnixStream,
    done: Receiver<Done>,
    lanes: Lanes,
    limits: Limits,
    max_connections: usize,
    per_client: usize,
    metrics: Arc<Metrics>,
    stopping: Arc<AtomicBool>,
    conns: HashMap<u64, Conn>,
    /// Connections that hold a slot.
    open: usize,
    /// Slots held by each client.
    clients: HashMap<IpAddr, usize>,
    next_id: u64,
    quiet: Quiet,
    /// After an accept error (out of descriptors, most likely), accepting
    /// waits until then instead of spinning.
    accept_after: Option<Instant>,
}

/// What a deadline does to a connection.
enum Expiry {
    Close,
    TimedOut,
}

impl IoLoop {
    pub fn new(
        listener: Arc<TcpListener>,
        wake: UnixStream,
        done: Receiver<Done>,
        lanes: Lanes,
        cfg: GateConfig,
        metrics: Arc<Metrics>,
        stopping: Arc<AtomicBool>,
    ) -> IoLoop {
        let max_connections = cfg.max_connections.max(1);
        IoLoop {
            listener,
            wake,
            done,
            lanes,
            limits: cfg.limits,
            max_connections,
            per_client: cfg.per_client.clamp(1, max_connections),
            metrics,
            stopping,
            conns: HashMap::new(),
            open: 0,
            clients: HashMap::new(),
            next_id: 0,
            quiet: Quiet::new(QUIET_WINDOW),
            accept_after: None,
        }
    }

    /// Runs until the gate stops and the last connection is done.
    pub fn run(mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut ids: Vec<u64> = Vec::new();
        loop {
            let now = Instant::now();
            let stopping = self.stopping.load(Ordering::SeqCst);
            self.expire(now, stopping);
            self.summaries(now, false);
            if stopping && self.conns.is_empty() {
                self.summaries(now, true);
                return;
            }
            if self.accept_after.is_some_and(|t| now >= t) {
                // Paused long enough; a deadline left in the past would make
                // every poll(2) return at once.
                self.accept_after = None;
            }
            let listening = !stopping && self.accept_after.is_none();
            fds.clear();
            ids.clear();
            fds.push(pollfd(self.wake.as_raw_fd(), libc::POLLIN));
            if listening {
                fds.push(pollfd(self.listener.as_raw_fd(), libc::POLLIN));
            }
            let first = fds.len();
            for (&id, c) in &self.conns {
                let events = c.interest();
                if events != 0 {
                    fds.push(pollfd(c.stream.as_raw_fd(), events));
                    ids.push(id);
                }
            }
            let wait = self
                .next_due()
                .map_or(TICK, |d| d.saturating_duration_since(now))
                .min(TICK);
            if let Err(e) = poll(&mut fds, wait) {
                warn!("gate: poll: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
            let now = Instant::now();
            if fds[0].revents != 0 {
                let mut sink = [0u8; 256];
                while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
            }
            self.take_answers(now);
            if listening && fds[1].revents != 0 {
                self.accept(now);
            }
            for (fd, &id) in fds[first..].iter().zip(&ids) {
                if fd.revents != 0 {
                    self.ready(id, now);
                }
            }
        }
    }

    /// The earliest deadline of a connection, a log summary, or the end of
    /// an accept pause.
    fn next_due(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter_map(Conn::deadline)
            .chain(self.quiet.next_due())
            .chain(self.accept_after)
            .min()
    }

    fn expire(&mut self, now: Instant, stopping: bool) {
        let due: Vec<(u64, Expiry)> = self
            .conns
            .iter()
            .filter_map(|(&id, c)| match c.state {
                // Nothing is lost by closing between requests.
                State::Reading { idle: true, .. } if stopping => Some((id, Expiry::Close)),
                State::Reading {
                    deadline,
                    idle: true,
                    ..
                } if deadline <= now => Some((id, Expiry::Close)),
                State::Reading { deadline, .. } if deadline <= now => Some((id, Expiry::TimedOut)),
                _ if c.deadline().is_some_and(|d| d <= now) => Some((id, Expiry::Close)),
                _ => None,
            })
            .collect();
        for (id, what) in due {
            match what {
                Expiry::Close => self.close(id),
                Expiry::TimedOut => self.refuse(id, &Refusal::Timeout, now),
            }
        }
    }

    fn summaries(&mut self, now: Instant, end: bool) {
        for s in self.quiet.due(now, end) {
            log::write(level_of(s.reason), format_args!("{s}"));
        }
    }

    /// Logs a refusal in full if it is the first of its reason for a while;
    /// otherwise it is only counted.
    fn note(&mut self, reason: &'static str, now: Instant, line: impl FnOnce() -> String) {
        if self.quiet.first(reason, now) {
            log::write(level_of(reason), format_args!("{}", line()));
        }
    }

    fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            match self.listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The listening socket was shut down to stop.
                Err(_) if self.stopping.load(Ordering::SeqCst) => return,
                Err(e) => {
                    self.note("accept_error", now, || {
                        format!("accepting a connection: {e}")
                    });
                    self.accept_after = Some(now + Duration::from_millis(100));
                    return;
                }
            }
        }
    }

    /// Takes a new connection, making room for it if every slot (or every
    /// slot its client may have) is taken; 503 if no connection can give
    /// way.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let key = client_key(peer.ip());
        let mine = self.clients.get(&key).copied().unwrap_or(0);
        let slots = |k: Option<IpAddr>| {
            self.conns
                .iter()
                .filter(move |(_, c)| c.slot && k.is_none_or(|k| c.key == k))
                .map(|(&id, c)| (id, c.standing()))
        };
        let (room, refusal) = if mine >= self.per_client {
            let message = format!(
                "this address has {mine} connections open, as many as one client may; \
                 retry shortly"
            );
            (victim(slots(Some(key))), Some(("client_limit", message)))
        } else if self.open >= self.max_connections {
            let message =
                "the daemon is serving as many connections as it allows; retry shortly".into();
            (victim(slots(None)), Some(("busy", message)))
        } else {
            (None, None)
        };
        let id = self.next_id;
        self.next_id += 1;
        let conn = Conn {
            stream,
            key,
            peer: peer_text(Some(peer)),
            slot: true,
            buf: Vec::new(),
            framer: Framer::new(self.limits),
            state: State::Reading {
                since: now,
                deadline: now + self.limits.request_timeout,
                idle: false,
            },
            eof: false,
            continued: false,
        };
        match (room, refusal) {
            (Some(other), _) => self.give_way(other, now),
            (None, Some((reason, message))) => {
                self.metrics.refused(reason);
                let line = format!("{}: {message}; answered 503", conn.peer);
                self.note(reason, now, || line);
                let body = json!({"error": {"status": 503, "message": message}});
                let out = plain_answer(503, &[("Retry-After", "1")], &format!("{body:#}\n"));
                return self.leave(id, conn, out, now);
            }
            (None, None) => {}
        }
        self.open += 1;
        *self.clients.entry(key).or_default() += 1;
        self.conns.insert(id, conn);
    }

    /// Closes a connection for a newcomer: one still sending its request
    /// is told 408 first.
    fn give_way(&mut self, id: u64, now: Instant) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        match c.standing() {
            Standing::Sending(since) => {
                let took = now.saturating_duration_since(since);
                let message = format!(
                    "the request was not complete after {:.1} s, and every connection \
                     slot was wanted; send it at once",
                    took.as_secs_f64()
                );
                let line = format!("{}: closed for another client: {message}", c.peer);
                self.metrics.refused("reclaimed");
                self.note("reclaimed", now, || line);
                let body = json!({"error": {"status": 408, "message": message}});
                let out = plain_answer(408, &[], &format!("{body:#}\n"));
                if let Some(c) = self.release(id) {
                    self.leave(id, c, out, now);
                }
            }
            Standing::Idle(_) => {
                debug!("{}: idle connection closed for another client", c.peer);
                self.close(id);
            }
            Standing::Closing | Standing::Served => self.close(id),
        }
    }

    /// Takes a connection out of its slot (and its client's count).
    fn release(&mut self, id: u64) -> Option<Conn> {
        let c = self.conns.remove(&id)?;
        if c.slot {
            self.open -= 1;
            if let Some(n) = self.clients.get_mut(&c.key) {
                *n -= 1;
                if *n == 0 {
                    self.clients.remove(&c.key);
                }
            }
        }
        Some(c)
    }

    fn close(&mut self, id: u64) {
        self.release(id);
    }

    /// Answers a connection that holds no slot (refused or given way) and
    /// closes it after a linger, so that the client can read the answer
    /// rather than a reset. At most as many leave at once as there are
    /// slots; beyond that, the answer is written once and the connection
    /// dropped.
    fn leave(&mut self, id: u64, mut c: Conn, out: Vec<u8>, now: Instant) {
        if self.conns.len() - self.open >= self.max_connections {
            answer_and_drop(&c.stream, &out);
            return;
        }
        c.slot = false;
        c.state = State::Writing {
            out,
            at: 0,
            deadline: now + LINGER,
            keep: false,
        };
        self.conns.insert(id, c);
        self.flush(id, now);
    }

    /// A connection poll(2) says is ready.
    fn ready(&mut self, id: u64, now: Instant) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match c.state {
            State::Reading { .. } => {
                if c.fill().is_err() {
                    self.close(id);
                } else {
                    self.advance(id, now);
                }
            }
            State::Writing { .. } => self.flush(id, now),
            State::Closing { .. } => {
                if c.drain() {
                    self.close(id);
                }
            }
            State::Relaying { .. } => {}
        }
    }

    /// Looks at what a reading connection has received: a whole request
    /// goes to its lane, a bad one is refused.
    fn advance(&mut self, id: u64, now: Instant) {
        let request_timeout = self.limits.request_timeout;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let State::Reading { idle, .. } = c.state else {
            return;
        };
        if idle && !c.buf.is_empty() {
            // The next request has begun: it has the request timeout.
            c.state = State::Reading {
                since: now,
                deadline: now + request_timeout,
                idle: false,
            };
        }
        match c.framer.parse(&c.buf) {
            Parse::More { wants_continue } => {
                if c.eof {
                    match c.framer.cut_off(&c.buf) {
                        Some(r) => self.refuse(id, &r, now),
                        None => self.close(id),
                    }
                } else if wants_continue && !c.continued {
                    c.continued = true;
                    if c.stream
                        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                        .is_err()
                    {
                        self.close(id);
                    }
                }
            }
            Parse::Request { head, body, used } => {
                c.buf.drain(..used);
                c.framer.next();
                c.continued = false;
                self.dispatch(id, head, body, now);
            }
            Parse::Refused(r) => self.refuse(id, &r, now),
        }
    }

    /// Hands a whole request to its lane.
    fn dispatch(&mut self, id: u64, head: Head, body: Vec<u8>, now: Instant) {
        // The workers' HTTP server takes only ASCII in the header lines we
        // pass on.
        let bad = ["Authorization", "Content-Type"].into_iter().find(|n| {
            head.header(n)
                .is_some_and(|v| v.bytes().any(|b| b != b'\t' && !(b' '..=b'~').contains(&b)))
        });
        if let Some(name) = bad {
            let r = Refusal::Malformed(format!("the {name} header is not printable ASCII"));
            return self.refuse(id, &r, now);
        }
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let lane = match lane_of(&head.target) {
            Lane::Route => &self.lanes.route,
            Lane::Status => &self.lanes.status,
        };
        c.state = State::Relaying {
            keep: head.keep_alive(),
            what: format!("{} {}", head.method, head.target),
        };
        let job = Job {
            id,
            head,
            body,
            peer: c.peer.clone(),
        };
        if lane.send(job).is_err() {
            let failed = io::Error::other("the relays have stopped");
            self.answered((id, Err(failed)), now);
        }
    }

    fn take_answers(&mut self, now: Instant) {
        while let Ok(done) = self.done.try_recv() {
            self.answered(done, now);
        }
    }

    /// The workers' answer (or their failure) for a connection: it is sent
    /// with our `Connection` header. Keep-alive is not offered while every
    /// slot is taken or the gate is stopping.
    fn answered(&mut self, (id, answer): Done, now: Instant) {
        let full = self.open >= self.max_connections;
        let stopping = self.stopping.load(Ordering::SeqCst);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let State::Relaying { keep, what } = &c.state else {
            return;
        };
        let (out, keep) = match answer {
            Ok(a) => {
                let keep = *keep && !c.eof && !full && !stopping;
                (relay(&a, keep), keep)
            }
            Err(e) => {
                let line = format!("{}: {what}: the workers did not answer: {e}", c.peer);
                let body = json!({"error": {"status": 503, "message": "the daemon could not serve the request; retry shortly"}});
                let out = plain_answer(503, &[], &format!("{body:#}\n"));
                self.note("no_answer", now, || line);
                (out, false)
            }
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.state = State::Writing {
                out,
                at: 0,
                deadline: now + self.limits.request_timeout,
                keep,
            };
        }
        self.flush(id, now);
    }

    /// Answers a refusal and closes (after a linger).
    fn refuse(&mut self, id: u64, r: &Refusal, now: Instant) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let message = r.message(&self.limits);
        let body = json!({"error": {"status": r.status(), "message": message}});
        c.state = State::Writing {
            out: plain_answer(r.status(), &[], &format!("{body:#}\n")),
            at: 0,
            deadline: now + self.limits.request_timeout,
            keep: false,
        };
        let line = format!(
            "{}: refused at the gate with {}: {message}",
            c.peer,
            r.status()
        );
        self.metrics.refused(r.reason());
        self.note(r.reason(), now, || line);
        self.flush(id, now);
    }

    /// Writes what it can of an answer; once all is written, the next
    /// request (kept alive) or the linger before closing.
    fn flush(&mut self, id: u64, now: Instant) {
        let idle_timeout = self.limits.idle_timeout;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let State::Writing { out, at, keep, .. } = &mut c.state else {
            return;
        };
        while *at < out.len() {
            match c.stream.write(&out[*at..]) {
                Ok(0) => return self.close(id),
                Ok(n) => *at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(id),
            }
        }
        if *keep {
            c.state = State::Reading {
                since: now,
                deadline: now + idle_timeout,
                idle: true,
            };
            // A request sent behind the last one is taken at once.
            self.advance(id, now);
        } else {
            let _ = c.stream.shutdown(Shutdown::Write);
            c.state = State::Closing {
                deadline: now + LINGER,
                left: LINGER_BYTES,
            };
        }
    }
}

/// Busy and refused-connection lines are warnings; the other refusals are
/// a client's mistake, and information.
fn level_of(reason: &str) -> Level {
    match reason {
        "busy" | "client_limit" | "no_answer" | "accept_error" => Level::Warn,
        _ => Level::Info,
    }
}

/// Answers a connection that is being closed at once, as well as a
/// non-blocking write can: what the client has sent already is read
/// first, so that closing does not reset the connection before the answer
/// arrives.
fn answer_and_drop(mut stream: &TcpStream, answer: &[u8]) {
    let mut sink = [0u8; 16 * 1024];
    let _ = stream.read(&mut sink);
    let _ = stream.write_all(answer);
    let _ = stream.shutdown(Shutdown::Write);
}

fn pollfd(fd: libc::c_int, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// poll(2), which std does not wrap: waits until one of `fds` is ready or
/// `timeout` has passed (rounded up to a millisecond, so that a deadline
/// less than one away is not a busy loop).
fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<()> {
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a valid, initialised slice of pollfd, exclusively
    // borrowed for the call, and its length is passed with it.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}
