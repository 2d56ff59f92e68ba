//! The tests' one hand-rolled HTTP/1.1 server (httpmock stays for fixture
//! replay). [`Server::start`] listens on a free port of 127.0.0.1 and speaks
//! enough HTTP for our clients: one thread per connection, keep-alive,
//! `Content-Length` and chunked request bodies. A handler answers each
//! request whole, or opens a [`Response::stream`]: the test then takes the
//! [`Stream`] ([`Server::next_stream`]) and writes chunks to it over time,
//! holds it open, ends it or cuts the connection. Requests are recorded.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Largest request body accepted; our clients' requests are a few KB.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Largest request head (request line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent: the path and any query string.
    pub target: String,
    /// In the order sent, names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The client asked to close the connection after the answer.
    close: bool,
}

impl Request {
    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query string, without the `?` (empty if none).
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What a handler answers.
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    /// `None`: a stream, written by the test through a [`Stream`].
    body: Option<Vec<u8>>,
}

impl Response {
    /// A whole answer; the server adds `Content-Length` and `Connection`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Some(body.into()),
        }
    }

    /// An answer of unknown length (`Transfer-Encoding: chunked`): the head
    /// is sent at once, and the body is what the test writes to the
    /// [`Stream`] that [`Server::next_stream`] hands it.
    pub fn stream(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A streamed answer in progress, owned by the test. Each [`Stream::send`]
/// is one chunk on the wire. Dropping it ends the answer as
/// [`Stream::finish`] does.
pub struct Stream {
    /// The request this answers.
    pub request: Request,
    socket: TcpStream,
    ended: Option<Sender<End>>,
}

enum End {
    /// The last chunk was sent; the connection may carry more requests.
    Finished,
    /// The connection was shut down in the middle of the answer.
    Cut,
}

impl Stream {
    /// Sends `data` as one chunk, now. An error means the client (or the
    /// server, dropped) closed the connection.
    pub fn send(&mut self, data: impl AsRef<[u8]>) -> io::Result<()> {
        let data = data.as_ref();
        if data.is_empty() {
            // A chunk of size 0 is the end of the body, not an empty chunk.
            return Ok(());
        }
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        self.socket.write_all(&out)?;
        self.socket.flush()
    }

    /// Ends the answer properly (the last, empty chunk).
    pub fn finish(mut self) -> io::Result<()> {
        self.end(End::Finished)
    }

    /// Closes the connection without ending the answer, as a server that
    /// dies in the middle of one would.
    pub fn cut(mut self) {
        let _ = self.end(End::Cut);
    }

    fn end(&mut self, how: End) -> io::Result<()> {
        let Some(ended) = self.ended.take() else {
            return Ok(());
        };
        let sent = match how {
            End::Finished => self.socket.write_all(b"0\r\n\r\n"),
            End::Cut => self.socket.shutdown(Shutdown::Both),
        };
        let _ = ended.send(how);
        sent
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.end(End::Finished);
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// The running server. It stops (listener closed, open connections shut
/// down, held streams cut) when dropped.
pub struct Server {
    shared: Arc<Shared>,
    addr: SocketAddr,
    streams: Mutex<Receiver<Stream>>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    handler: Box<Handler>,
    record: AtomicBool,
    requests: Mutex<Vec<Request>>,
    streams: Mutex<Sender<Stream>>,
    stop: AtomicBool,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    accepted: AtomicUsize,
}

impl Server {
    /// Starts a server that answers every request with `handler`.
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
        Server::start_with(|_| handler)
    }

    /// Like [`Server::start`], for a handler that needs the address the
    /// server listens on.
    pub fn start_with<H>(make: impl FnOnce(SocketAddr) -> H) -> Server
    where
        H: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("test server: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("test server: local address");
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            handler: Box::new(make(addr)),
            record: AtomicBool::new(true),
            requests: Mutex::new(Vec::new()),
            streams: Mutex::new(tx),
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            accepted: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let acceptor = thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || accept_loop(&s, &listener))
            .expect("test server: spawn the accept thread");
        Server {
            shared,
            addr,
            streams: Mutex::new(rx),
            acceptor: Some(acceptor),
        }
    }

    /// Turns the record of requests off (or on again), for a server that
    /// keeps its own or answers too many to keep.
    pub fn recording(self, on: bool) -> Server {
        self.shared.record.store(on, Ordering::SeqCst);
        self
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order (each one recorded
    /// before its handler runs).
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// How many TCP connections have been accepted: with keep-alive, a
    /// client making many calls should need few.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// The next streamed answer a handler opened (its head already sent),
    /// waiting up to `limit` for one.
    pub fn next_stream(&self, limit: Duration) -> Stream {
        lock(&self.streams)
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("test server: no streamed answer within {limit:?}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop up so that it sees the flag and returns,
        // closing the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // Connection threads blocked in a read return at once.
        for (_, stream) in lock(&self.shared.conns).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Locks `m`, ignoring poisoning: a panicking test must not take the
/// server down with it for the other threads.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // Out of file descriptors or the like: back off, do not spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.conns).insert(id, clone);
        }
        let s = shared.clone();
        let spawned = thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                serve(&s, stream);
                lock(&s.conns).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.conns).remove(&id);
        }
    }
}

/// Serves the requests of one connection until the client closes it.
fn serve(shared: &Shared, stream: TcpStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let mut writer = stream;
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(req)) => req,
            Ok(None) => return,
            Err(why) => {
                let bad = Response::new(400, why).header("Content-Type", "text/plain");
                let _ = write_response(&mut writer, &bad, true);
                return;
            }
        };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if shared.record.load(Ordering::SeqCst) {
            lock(&shared.requests).push(req.clone());
        }
        let resp = (shared.handler)(&req);
        if write_response(&mut writer, &resp, req.close).is_err() {
            return;
        }
        if resp.body.is_none() && !hand_over(shared, &writer, req.clone()) {
            return;
        }
        if req.close {
            return;
        }
    }
}

/// Gives the test the stream of an answer whose head is sent, and waits
/// until it is ended: true if the connection may carry more requests.
fn hand_over(shared: &Shared, socket: &TcpStream, request: Request) -> bool {
    let Ok(socket) = socket.try_clone() else {
        return false;
    };
    let (tx, rx) = mpsc::channel();
    let stream = Stream {
        request,
        socket,
        ended: Some(tx),
    };
    if lock(&shared.streams).send(stream).is_err() {
        return false;
    }
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(End::Finished) => return true,
            Ok(End::Cut) | Err(RecvTimeoutError::Disconnected) => return false,
            Err(RecvTimeoutError::Timeout) if shared.stop.load(Ordering::SeqCst) => return false,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Reads one request; `Ok(None)` when the client closed the connection
/// between requests.
fn read_request(r: &mut impl BufRead) -> Result<Option<Request>, String> {
    let mut line = String::new();
    // Tolerate empty lines before the request line (RFC 9112 2.2).
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => return Ok(None),
            Ok(_) if line.trim().is_empty() => continue,
            Ok(_) => break,
            Err(_) => return Ok(None),
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line '{}'", line.trim()));
    };
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
        close: version == "HTTP/1.0",
    };
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut head = line.len();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).map_err(|e| e.to_string())? == 0 {
            return Err("the connection closed inside the request head".into());
        }
        head += h.len();
        if head > MAX_HEAD {
            return Err("request head too large".into());
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            return Err(format!("bad header line '{h}'"));
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => {
                length = Some(value.parse().map_err(|_| "bad Content-Length")?);
            }
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    req.close = true;
                } else if v.contains("keep-alive") {
                    req.close = false;
                }
            }
            _ => {}
        }
        req.headers.push((name, value.to_string()));
    }
    if chunked {
        req.body = read_chunked(r)?;
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return Err("request body too large".into());
        }
        req.body = vec![0; n];
        r.read_exact(&mut req.body).map_err(|e| e.to_string())?;
    }
    Ok(Some(req))
}

fn read_chunked(r: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).map_err(|e| e.to_string())?;
        let size = size.trim().split(';').next().unwrap_or_default();
        let n = usize::from_str_radix(size, 16).map_err(|_| "bad chunk size")?;
        if body.len() + n > MAX_BODY {
            return Err("request body too large".into());
        }
        if n == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t).map_err(|e| e.to_string())? == 0 || t.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + n, 0);
        r.read_exact(&mut body[start..])
            .map_err(|e| e.to_string())?;
        let mut crlf = String::new();
        r.read_line(&mut crlf).map_err(|e| e.to_string())?;
    }
}

/// Writes the head, and the body of a whole answer, in one write.
fn write_response(w: &mut TcpStream, resp: &Response, close: bool) -> io::Result<()> {
    let reason = match resp.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        412 => "Precondition Failed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", resp.status);
    for (name, value) in &resp.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match &resp.body {
        Some(body) => head.push_str(&format!("Content-Length: {}\r\n", body.len())),
        None => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    let connection = if close { "close" } else { "keep-alive" };
    head.push_str(&format!("Connection: {connection}\r\n\r\n"));
    let mut out = head.into_bytes();
    if let Some(body) = &resp.body {
        out.extend_from_slice(body);
    }
    w.write_all(&out)?;
    w.flush()
}

/// Decodes `application/x-www-form-urlencoded` pairs, in order.
pub fn decode_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
