//! HTTP/1.1 request framing for the front gate, with every size and time
//! bounded: the request head (line length, header count, total size), the
//! body (`Content-Length` or chunked, up to a limit), and a deadline for
//! each read. It reads and refuses; it never interprets a request beyond
//! what framing needs (method, target, version, a few headers).

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// How much a client may send, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The request line and headers together.
    pub max_head: usize,
    /// One line of the head.
    pub max_line: usize,
    pub max_headers: usize,
    pub max_body: usize,
    /// From the first byte of a request to its last.
    pub request_timeout: Duration,
    /// Between requests on a kept-alive connection.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 16 * 1024,
            max_line: 8 * 1024,
            max_headers: 64,
            max_body: crate::api::MAX_BODY,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
        }
    }
}

/// Why the gate refused a request; each maps to a status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400: not HTTP, or framing we will not guess at.
    Malformed(String),
    /// 408: the request did not arrive in time.
    Timeout,
    /// 413: the body is larger than the limit.
    TooLarge,
    /// 431: a header line or the whole head is too large.
    HeadTooLarge(String),
    /// 501: a transfer coding other than chunked.
    NotImplemented(String),
    /// 505: not HTTP/1.0 or HTTP/1.1.
    Version(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) => 400,
            Refusal::Timeout => 408,
            Refusal::TooLarge => 413,
            Refusal::HeadTooLarge(_) => 431,
            Refusal::NotImplemented(_) => 501,
            Refusal::Version(_) => 505,
        }
    }

    pub fn message(&self, limits: &Limits) -> String {
        match self {
            Refusal::Malformed(m) => format!("malformed request: {m}"),
            Refusal::Timeout => format!(
                "the request did not arrive within {} seconds",
                limits.request_timeout.as_secs_f64()
            ),
            Refusal::TooLarge => format!(
                "the request body is larger than {} bytes; a route request is a few hundred",
                limits.max_body
            ),
            Refusal::HeadTooLarge(m) => m.clone(),
            Refusal::NotImplemented(m) => m.clone(),
            Refusal::Version(v) => {
                format!("'{v}' is not supported; send HTTP/1.1 (or HTTP/1.0)")
            }
        }
    }

    /// A short word for logs and the `reason` label of the metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::Timeout => "timeout",
            Refusal::TooLarge => "body_too_large",
            Refusal::HeadTooLarge(_) => "head_too_large",
            Refusal::NotImplemented(_) => "not_implemented",
            Refusal::Version(_) => "version",
        }
    }
}

/// A request line and its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub headers: Vec<(String, String)>,
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Empty,
    Length(usize),
    Chunked,
}

impl Head {
    /// The value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn connection_has(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the client wants the connection kept open afterwards.
    pub fn keep_alive(&self) -> bool {
        if self.minor == 0 {
            self.connection_has("keep-alive")
        } else {
            !self.connection_has("close")
        }
    }

    pub fn expects_continue(&self) -> bool {
        self.header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    /// The body's framing, refusing what could be read two ways (both
    /// `Content-Length` and `Transfer-Encoding`, or two lengths: the
    /// classic request-smuggling shapes) and bodies over the limit.
    pub fn body(&self, max_body: usize) -> Result<Body, Refusal> {
        let te: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .map(|(_, v)| v.trim())
            .collect();
        let cl: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.trim())
            .collect();
        if !te.is_empty() {
            if !cl.is_empty() {
                return Err(Refusal::Malformed(
                    "both Content-Length and Transfer-Encoding; send one".into(),
                ));
            }
            if te.len() == 1 && te[0].eq_ignore_ascii_case("chunked") {
                return Ok(Body::Chunked);
            }
            return Err(Refusal::NotImplemented(format!(
                "Transfer-Encoding '{}' is not supported; send Content-Length or chunked",
                te.join(", ")
            )));
        }
        let Some(first) = cl.first() else {
            return Ok(Body::Empty);
        };
        if cl.iter().any(|v| v != first) {
            return Err(Refusal::Malformed(
                "Content-Length given twice with different values".into(),
            ));
        }
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::Malformed(format!(
                "Content-Length '{first}' is not a number of bytes"
            )));
        }
        // Compared as text first, so that 30000000000000000000000 is "too
        // large", not an overflow.
        match first.parse::<usize>() {
            Ok(n) if n <= max_body => Ok(if n == 0 { Body::Empty } else { Body::Length(n) }),
            _ => Err(Refusal::TooLarge),
        }
    }
}

/// Where the end of a request head is: the index just past the blank line.
/// Bare `\n` line ends are accepted, as RFC 9112 allows recipients to.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        let rest = &buf[nl + 1..];
        if rest.first() == Some(&b'\n') {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// Checks a head that is still incomplete: a line already longer than the
/// limit is refused now rather than after the client sent all of it.
pub fn check_partial(buf: &[u8], limits: &Limits) -> Result<(), Refusal> {
    let longest = buf.split(|&b| b == b'\n').map(<[u8]>::len).max();
    if longest.unwrap_or(0) > limits.max_line {
        return Err(line_too_long(limits));
    }
    if buf.len() >= limits.max_head {
        return Err(Refusal::HeadTooLarge(format!(
            "the request head is larger than {} bytes",
            limits.max_head
        )));
    }
    Ok(())
}

fn line_too_long(limits: &Limits) -> Refusal {
    Refusal::HeadTooLarge(format!(
        "a request or header line is longer than {} bytes",
        limits.max_line
    ))
}

/// Parses a complete head (up to and including the blank line).
pub fn parse_head(bytes: &[u8], limits: &Limits) -> Result<Head, Refusal> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Refusal::Malformed("the request head is not valid UTF-8".into()))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    if request_line.len() > limits.max_line {
        return Err(line_too_long(limits));
    }
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed(format!(
            "'{}' is not a request line (METHOD TARGET HTTP/1.1)",
            snippet(request_line)
        )));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Refusal::Malformed(format!(
            "'{}' is not a method",
            snippet(method)
        )));
    }
    // A target is ASCII (RFC 3986; anything else is percent-encoded), and
    // the workers' HTTP server takes nothing else.
    if !target.starts_with('/') || target.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(Refusal::Malformed(format!(
            "'{}' is not a request target; expected a path such as /route",
            snippet(target)
        )));
    }
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        v => return Err(Refusal::Version(snippet(v))),
    };
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.len() > limits.max_line {
            return Err(line_too_long(limits));
        }
        if line.starts_with([' ', '\t']) {
            return Err(Refusal::Malformed(
                "folded header lines are not accepted".into(),
            ));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Refusal::Malformed(format!(
                "'{}' is not a header line (Name: value)",
                snippet(line)
            )));
        };
        if name.is_empty() || name.bytes().any(|b| !is_token(b)) {
            return Err(Refusal::Malformed(format!(
                "'{}' is not a header name",
                snippet(name)
            )));
        }
        headers.push((name.to_string(), value.trim().to_string()));
        if headers.len() > limits.max_headers {
            return Err(Refusal::HeadTooLarge(format!(
                "more than {} header lines",
                limits.max_headers
            )));
        }
    }
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        minor,
        headers,
    })
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The start of a client's text, for an error message.
fn snippet(s: &str) -> String {
    let cut: String = s.chars().take(40).collect();
    if cut.len() < s.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

/// A byte source whose reads can be given a timeout (a socket; a slice in
/// tests).
pub trait Source: Read {
    fn set_read_timeout(&mut self, t: Duration) -> io::Result<()>;
}

impl Source for std::net::TcpStream {
    fn set_read_timeout(&mut self, t: Duration) -> io::Result<()> {
        std::net::TcpStream::set_read_timeout(self, Some(t))
    }
}

impl Source for &[u8] {
    fn set_read_timeout(&mut self, _: Duration) -> io::Result<()> {
        Ok(())
    }
}

/// What reading a request gave.
#[derive(Debug)]
pub enum Next {
    /// A whole request: its head and body.
    Request(Head, Vec<u8>),
    /// The client closed (or stayed idle past the idle timeout) between
    /// requests: nothing to answer.
    Closed,
    /// The request cannot be served; answer with the refusal and close.
    Refused(Refusal),
}

/// Reads requests from one connection, with a buffer of `max_head` bytes
/// and a deadline on every read.
pub struct Reader<S> {
    inner: S,
    buf: Vec<u8>,
    limits: Limits,
}

impl<S: Source> Reader<S> {
    pub fn new(inner: S, limits: Limits) -> Reader<S> {
        Reader {
            inner,
            buf: Vec::with_capacity(1024),
            limits,
        }
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Reads more into the buffer before `deadline`; `Ok(0)` is the end
    /// of the stream.
    fn fill(&mut self, deadline: Instant, room: usize) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.inner.set_read_timeout(left)?;
        let mut chunk = [0u8; 4096];
        let want = room.clamp(1, chunk.len());
        loop {
            match self.inner.read(&mut chunk[..want]) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::ErrorKind::TimedOut.into())
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the next request. `first` is whether this is the first on
    /// the connection (a kept-alive connection may go quiet; a new one
    /// that stays silent is timed out like any slow request). `on_continue`
    /// is called when the body is acceptable and the client waits for
    /// `100 Continue` before sending it.
    pub fn next_request(
        &mut self,
        first: bool,
        mut on_continue: impl FnMut(&mut S) -> io::Result<()>,
    ) -> Next {
        let l = self.limits;
        let start = Instant::now();
        // Wait for the first byte: the idle timeout between requests, the
        // request timeout for a new connection.
        if self.buf.is_empty() {
            let wait = if first {
                l.request_timeout
            } else {
                l.idle_timeout
            };
            match self.fill(start + wait, l.max_head) {
                Ok(0) => return Next::Closed,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut && !first => return Next::Closed,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Next::Refused(Refusal::Timeout)
                }
                Err(_) => return Next::Closed,
            }
        }
        let deadline = Instant::now() + l.request_timeout;
        let end = loop {
            if let Some(end) = head_end(&self.buf) {
                break end;
            }
            if let Err(r) = check_partial(&self.buf, &l) {
                return Next::Refused(r);
            }
            match self.fill(deadline, l.max_head - self.buf.len()) {
                Ok(0) => {
                    return Next::Refused(Refusal::Malformed(
                        "the connection closed in the middle of the request head".into(),
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Next::Refused(Refusal::Timeout)
                }
                Err(_) => return Next::Closed,
            }
        };
        if end > l.max_head {
            return Next::Refused(Refusal::HeadTooLarge(format!(
                "the request head is larger than {} bytes",
                l.max_head
            )));
        }
        let head = match parse_head(&self.buf[..end], &l) {
            Ok(h) => h,
            Err(r) => return Next::Refused(r),
        };
        self.buf.drain(..end);
        let framing = match head.body(l.max_body) {
            Ok(f) => f,
            Err(r) => return Next::Refused(r),
        };
        if framing != Body::Empty
            && head.expects_continue()
            && self.buf.is_empty()
            && on_continue(&mut self.inner).is_err()
        {
            return Next::Closed;
        }
        let body = match framing {
            Body::Empty => Ok(Vec::new()),
            Body::Length(n) => self.take(n, deadline),
            Body::Chunked => self.chunked(deadline),
        };
        match body {
            Ok(b) => Next::Request(head, b),
            Err(r) => Next::Refused(r),
        }
    }

    /// Takes exactly `n` bytes (n is within the body limit).
    fn take(&mut self, n: usize, deadline: Instant) -> Result<Vec<u8>, Refusal> {
        while self.buf.len() < n {
            let room = n - self.buf.len();
            self.fill_body(deadline, room)?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn fill_body(&mut self, deadline: Instant, room: usize) -> Result<(), Refusal> {
        match self.fill(deadline, room) {
            Ok(0) => Err(Refusal::Malformed(
                "the connection closed before the whole body arrived".into(),
            )),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(Refusal::Timeout),
            Err(e) => Err(Refusal::Malformed(format!("reading the body: {e}"))),
        }
    }

    /// One line of chunked framing, without its line end.
    fn line(&mut self, deadline: Instant) -> Result<String, Refusal> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                let s = String::from_utf8_lossy(&raw);
                return Ok(s.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.buf.len() > self.limits.max_line {
                return Err(Refusal::Malformed("a chunk size line is too long".into()));
            }
            self.fill_body(deadline, self.limits.max_line)?;
        }
    }

    /// Decodes a chunked body, refusing it as soon as it grows past the
    /// limit: an endless chunked body costs at most the limit in memory.
    fn chunked(&mut self, deadline: Instant) -> Result<Vec<u8>, Refusal> {
        let mut body = Vec::new();
        loop {
            let line = self.line(deadline)?;
            let size = line.split(';').next().unwrap_or("").trim();
            if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Refusal::Malformed(format!(
                    "'{}' is not a chunk size",
                    snippet(&line)
                )));
            }
            let size = u64::from_str_radix(size, 16).unwrap_or(u64::MAX);
            if size == 0 {
                break;
            }
            if size > (self.limits.max_body - body.len()) as u64 {
                return Err(Refusal::TooLarge);
            }
            let data = self.take(size as usize, deadline)?;
            body.extend_from_slice(&data);
            if !self.line(deadline)?.is_empty() {
                return Err(Refusal::Malformed("a chunk is longer than its size".into()));
            }
        }
        // Trailers, which we ignore, up to the blank line.
        let mut count = 0;
        while !self.line(deadline)?.is_empty() {
            count += 1;
            if count > self.limits.max_headers {
                return Err(Refusal::HeadTooLarge("too many trailer lines".into()));
            }
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_one(raw: &[u8]) -> Next {
        let mut r = Reader::new(raw, Limits::default());
        r.next_request(true, |_| Ok(()))
    }

    fn refused(raw: &str) -> u16 {
        match read_one(raw.as_bytes()) {
            Next::Refused(r) => r.status(),
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn reads_requests_with_each_framing() {
        let Next::Request(h, b) =
            read_one(b"POST /route HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        else {
            panic!()
        };
        assert_eq!((h.method.as_str(), h.target.as_str()), ("POST", "/route"));
        assert_eq!((h.header("HOST"), b.as_slice()), (Some("x"), &b"hello"[..]));
        assert!(h.keep_alive());
        let Next::Request(h, b) = read_one(
            b"POST /route HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
        ) else {
            panic!()
        };
        assert_eq!(b, b"abcde");
        assert_eq!(h.minor, 1);
        let Next::Request(h, b) = read_one(b"GET /route?dst_cidr=10.0.0.0/8 HTTP/1.0\n\n") else {
            panic!()
        };
        assert!(b.is_empty() && !h.keep_alive());
        assert!(matches!(read_one(b""), Next::Closed));
    }

    #[test]
    fn keeps_requests_apart_on_one_connection() {
        let raw = b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nConnection: close\r\n\r\n";
        let mut r = Reader::new(&raw[..], Limits::default());
        let Next::Request(a, body) = r.next_request(true, |_| Ok(())) else {
            panic!()
        };
        assert_eq!((a.target.as_str(), body.as_slice()), ("/a", &b"hi"[..]));
        let Next::Request(b, _) = r.next_request(false, |_| Ok(())) else {
            panic!()
        };
        assert_eq!(b.target, "/b");
        assert!(!b.keep_alive());
        assert!(matches!(r.next_request(false, |_| Ok(())), Next::Closed));
    }

    #[test]
    fn refuses_what_it_must_not_buffer_or_guess() {
        // A huge declared length is refused before a byte of it is read.
        assert_eq!(
            refused("POST /route HTTP/1.1\r\nContent-Length: 30000000000\r\n\r\n"),
            413
        );
        assert_eq!(
            refused("POST /route HTTP/1.1\r\nContent-Length: 300000000000000000000000000\r\n\r\n"),
            413
        );
        let endless = format!(
            "POST /route HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{}",
            ("4000\r\n".to_string() + &"x".repeat(0x4000) + "\r\n").repeat(5)
        );
        assert_eq!(refused(&endless), 413);
        assert_eq!(
            refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"),
            413
        );
        let long_line = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
        assert_eq!(refused(&long_line), 431);
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: 1\r\n".repeat(100));
        assert_eq!(refused(&many), 431);
        let endless_head = format!("GET / HTTP/1.1\r\n{}", "X-A: 1\r\n".repeat(5000));
        assert_eq!(refused(&endless_head), 431);
        for smuggle in [
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
            "GET /\r\n\r\n",
            "get / HTTP/1.1\r\n\r\n",
            "GET route HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        ] {
            assert_eq!(refused(smuggle), 400, "{smuggle:?}");
        }
        assert_eq!(
            refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
        assert_eq!(refused("GET / HTTP/2.0\r\n\r\n"), 505);
        // A head cut off by the client.
        assert_eq!(refused("GET / HTTP/1.1\r\nHost: x\r\n"), 400);
    }

    #[test]
    fn asks_for_the_body_only_when_it_will_take_it() {
        let raw = b"POST /route HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok";
        // The slice already holds the body, so no 100 Continue is needed.
        let mut r = Reader::new(&raw[..], Limits::default());
        let mut asked = false;
        r.next_request(true, |_| {
            asked = true;
            Ok(())
        });
        assert!(!asked);
        let raw = b"POST /route HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        let mut r = Reader::new(&raw[..], Limits::default());
        let got = r.next_request(true, |_| {
            asked = true;
            Ok(())
        });
        assert!(asked);
        assert!(matches!(got, Next::Refused(Refusal::Malformed(_))));
        let raw =
            b"POST /route HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n";
        let mut r = Reader::new(&raw[..], Limits::default());
        asked = false;
        let got = r.next_request(true, |_| {
            asked = true;
            Ok(())
        });
        assert!(!asked);
        assert!(matches!(got, Next::Refused(Refusal::TooLarge)));
    }

    #[test]
    fn refuses_a_target_the_workers_cannot_take() {
        assert_eq!(
            refused("GET /route?dst_cidr=10.0.0.0/8\u{e9} HTTP/1.1\r\n\r\n"),
            400
        );
        assert_eq!(refused("GET /r\u{e9}sum\u{e9} HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(refused("GET /a\x7fb HTTP/1.1\r\n\r\n"), 400);
        // Not UTF-8 at all.
        let mut raw = b"GET /\xff HTTP/1.1\r\n\r\n".to_vec();
        assert!(matches!(
            read_one(&raw),
            Next::Refused(Refusal::Malformed(_))
        ));
        raw[5] = b'x';
        assert!(matches!(read_one(&raw), Next::Request(..)));
    }

    #[test]
    fn head_end_accepts_both_line_ends() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nrest"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }
}
