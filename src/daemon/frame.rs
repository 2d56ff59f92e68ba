//! HTTP/1.1 request framing for the front gate, with every size bounded:
//! the request head (line length, header count, total size) and the body
//! (`Content-Length` or chunked, up to a limit). [`Framer`] looks at bytes
//! as they arrive and does no I/O; the gate reads and keeps the deadlines
//! (`Limits`' timeouts). It refuses; it never interprets a request beyond
//! what framing needs (method, target, version, a few headers).

use std::time::Duration;

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

/// What the bytes a connection has sent so far hold.
#[derive(Debug)]
pub enum Parse {
    /// Not a whole request yet. `wants_continue`: the head is in and its
    /// body acceptable, and the client waits for `100 Continue` before it
    /// sends the body.
    More { wants_continue: bool },
    /// A whole request, in the first `used` bytes.
    Request {
        head: Head,
        body: Vec<u8>,
        used: usize,
    },
    /// The request cannot be served; answer with the refusal and close.
    Refused(Refusal),
}

/// Frames one request at a time from a connection's bytes as they arrive.
/// It does no I/O and keeps no clock: the gate reads without blocking and
/// keeps the deadlines, so a slow client costs a buffer, not a thread. Each
/// byte is looked at about once however slowly it arrives.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    /// How much of the buffer has been searched for the end of the head.
    scanned: usize,
    /// Where the head's unfinished line starts.
    line_start: usize,
    /// The head once it is complete: it, its length, the body's framing.
    head: Option<(Head, usize, Body)>,
    chunks: Chunks,
}

impl Framer {
    pub fn new(limits: Limits) -> Framer {
        Framer {
            limits,
            scanned: 0,
            line_start: 0,
            head: None,
            chunks: Chunks::default(),
        }
    }

    /// The most a request may take on the wire: the head, the body, and as
    /// much again as the body for chunked framing. The gate reads no more
    /// than this before the request is whole.
    pub fn max_request(&self) -> usize {
        self.limits.max_head + 2 * self.limits.max_body
    }

    /// Looks at what has arrived: `buf` holds the current request from its
    /// first byte, grown by each read. After a `Request`, drain its `used`
    /// bytes and call [`Framer::next`] before the next one.
    pub fn parse(&mut self, buf: &[u8]) -> Parse {
        if self.head.is_none() {
            if let Err(r) = self.find_head(buf) {
                return Parse::Refused(r);
            }
        }
        let Some((head, end, framing)) = &self.head else {
            return Parse::More {
                wants_continue: false,
            };
        };
        let rest = &buf[*end..];
        let whole = match framing {
            Body::Empty => Ok(Some(0)),
            Body::Length(n) => Ok((rest.len() >= *n).then_some(*n)),
            Body::Chunked => self.chunks.decode(rest, &self.limits),
        };
        match whole {
            Ok(Some(n)) => Parse::Request {
                head: head.clone(),
                body: match framing {
                    Body::Chunked => std::mem::take(&mut self.chunks.body),
                    _ => rest[..n].to_vec(),
                },
                used: end + n,
            },
            Ok(None) if buf.len() >= self.max_request() => Parse::Refused(Refusal::TooLarge),
            Ok(None) => Parse::More {
                wants_continue: head.expects_continue() && rest.is_empty(),
            },
            Err(r) => Parse::Refused(r),
        }
    }

    /// Looks for the end of the head in what is new since the last call,
    /// and parses the head once it is there. A line already longer than
    /// the limit is refused now rather than after the client sent all of it.
    fn find_head(&mut self, buf: &[u8]) -> Result<(), Refusal> {
        let l = self.limits;
        // The end is at most 3 bytes long: start just before what has been
        // searched already.
        let from = self.scanned.saturating_sub(2).min(buf.len());
        let found = head_end(&buf[from..]).map(|e| from + e);
        let new = self.scanned.min(buf.len());
        let upto = found.unwrap_or(buf.len()).max(new);
        for (i, _) in buf[new..upto]
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
        {
            if new + i - self.line_start > l.max_line {
                return Err(line_too_long(&l));
            }
            self.line_start = new + i + 1;
        }
        self.scanned = buf.len();
        let Some(end) = found else {
            if buf.len() - self.line_start > l.max_line {
                return Err(line_too_long(&l));
            }
            if buf.len() >= l.max_head {
                return Err(Refusal::HeadTooLarge(format!(
                    "the request head is larger than {} bytes",
                    l.max_head
                )));
            }
            return Ok(());
        };
        if end > l.max_head {
            return Err(Refusal::HeadTooLarge(format!(
                "the request head is larger than {} bytes",
                l.max_head
            )));
        }
        let head = parse_head(&buf[..end], &l)?;
        let framing = head.body(l.max_body)?;
        self.head = Some((head, end, framing));
        Ok(())
    }

    /// Forgets the request just taken.
    pub fn next(&mut self) {
        *self = Framer::new(self.limits);
    }

    /// What to answer a client that closed its side with `buf` unread: a
    /// request cut off (400), or nothing if there was none.
    pub fn cut_off(&self, buf: &[u8]) -> Option<Refusal> {
        if buf.is_empty() {
            None
        } else if self.head.is_none() {
            Some(Refusal::Malformed(
                "the connection closed in the middle of the request head".into(),
            ))
        } else {
            Some(Refusal::Malformed(
                "the connection closed before the whole body arrived".into(),
            ))
        }
    }
}

/// A chunked body as far as it has been decoded.
#[derive(Debug, Default)]
struct Chunks {
    body: Vec<u8>,
    /// Where, after the head, the next chunk (or trailer line) starts.
    at: usize,
    /// Trailer lines seen, once the last chunk has been.
    trailers: Option<usize>,
}

impl Chunks {
    /// Decodes what it can from `raw` (the bytes after the head), keeping
    /// its place between calls: a chunk is taken whole or not at all. The
    /// bytes the body took, once it is complete. It is refused as soon as
    /// it grows past the limit: an endless chunked body costs at most the
    /// limit in memory.
    fn decode(&mut self, raw: &[u8], limits: &Limits) -> Result<Option<usize>, Refusal> {
        while self.trailers.is_none() {
            let mut at = self.at;
            let Some(line) = chunk_line(raw, &mut at, limits)? else {
                return Ok(None);
            };
            let size = line.split(';').next().unwrap_or("").trim();
            if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Refusal::Malformed(format!(
                    "'{}' is not a chunk size",
                    snippet(&line)
                )));
            }
            let size = u64::from_str_radix(size, 16).unwrap_or(u64::MAX);
            if size == 0 {
                self.at = at;
                self.trailers = Some(0);
                break;
            }
            if size > (limits.max_body - self.body.len()) as u64 {
                return Err(Refusal::TooLarge);
            }
            let data_end = at + size as usize;
            if raw.len() < data_end {
                return Ok(None);
            }
            let mut after = data_end;
            match chunk_line(raw, &mut after, limits)? {
                None => return Ok(None),
                Some(l) if !l.is_empty() => {
                    return Err(Refusal::Malformed("a chunk is longer than its size".into()))
                }
                Some(_) => {}
            }
            self.body.extend_from_slice(&raw[at..data_end]);
            self.at = after;
        }
        // Trailers, which we ignore, up to the blank line.
        loop {
            let mut at = self.at;
            let Some(line) = chunk_line(raw, &mut at, limits)? else {
                return Ok(None);
            };
            self.at = at;
            if line.is_empty() {
                return Ok(Some(at));
            }
            let n = self.trailers.get_or_insert(0);
            *n += 1;
            if *n > limits.max_headers {
                return Err(Refusal::HeadTooLarge("too many trailer lines".into()));
            }
        }
    }
}

/// One line of chunked framing at `at`, without its line end, moving `at`
/// past it; `None` if it has not all arrived.
fn chunk_line(raw: &[u8], at: &mut usize, limits: &Limits) -> Result<Option<String>, Refusal> {
    match raw[*at..].iter().position(|&b| b == b'\n') {
        Some(i) => {
            let s = String::from_utf8_lossy(&raw[*at..*at + i]);
            *at += i + 1;
            Ok(Some(s.trim_end_matches('\r').to_string()))
        }
        None if raw.len() - *at > limits.max_line => {
            Err(Refusal::Malformed("a chunk size line is too long".into()))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a connection gets from a framer, request after request.
    #[derive(Debug)]
    enum Next {
        Request(Head, Vec<u8>),
        /// The client closed between requests.
        Closed,
        Refused(Refusal),
    }

    /// The requests in `raw`, fed `step` bytes at a time, then the client
    /// closes.
    fn read_all(raw: &[u8], step: usize) -> Vec<Next> {
        let mut f = Framer::new(Limits::default());
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match f.parse(&buf) {
                Parse::Request { head, body, used } => {
                    buf.drain(..used);
                    f.next();
                    out.push(Next::Request(head, body));
                }
                Parse::Refused(r) => {
                    out.push(Next::Refused(r));
                    return out;
                }
                Parse::More { .. } if fed < raw.len() => {
                    let n = step.min(raw.len() - fed);
                    buf.extend_from_slice(&raw[fed..fed + n]);
                    fed += n;
                }
                Parse::More { .. } => {
                    out.push(f.cut_off(&buf).map_or(Next::Closed, Next::Refused));
                    return out;
                }
            }
        }
    }

    /// The first thing a connection sending `raw` gets; the same whether
    /// it arrives at once or byte by byte.
    fn read_one(raw: &[u8]) -> Next {
        let at_once = read_all(raw, usize::MAX);
        let bytewise = read_all(raw, 1);
        assert_eq!(format!("{at_once:?}"), format!("{bytewise:?}"));
        at_once.into_iter().next().unwrap()
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
        for step in [usize::MAX, 1, 7] {
            let got = read_all(raw, step);
            let [Next::Request(a, body), Next::Request(b, _), Next::Closed] = &got[..] else {
                panic!("{got:?}")
            };
            assert_eq!((a.target.as_str(), body.as_slice()), ("/a", &b"hi"[..]));
            assert_eq!(b.target, "/b");
            assert!(!b.keep_alive());
        }
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
        let wants = |raw: &[u8]| match Framer::new(Limits::default()).parse(raw) {
            Parse::More { wants_continue } => Some(wants_continue),
            _ => None,
        };
        // The body is already here: a whole request, no 100 Continue.
        let raw = b"POST /route HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(wants(raw), None);
        let raw = b"POST /route HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(wants(raw), Some(true));
        assert_eq!(wants(&raw[..raw.len() - 2]), Some(false));
        let raw = b"POST /route HTTP/1.1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(wants(raw), Some(false));
        let raw =
            b"POST /route HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n";
        assert!(matches!(
            Framer::new(Limits::default()).parse(raw),
            Parse::Refused(Refusal::TooLarge)
        ));
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
    fn a_chunked_body_may_not_hide_behind_its_framing() {
        // 1-byte chunks: six bytes on the wire for each byte of body.
        let chunks = "1\r\nx\r\n".repeat(30_000);
        let raw = format!("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}");
        assert!(matches!(
            read_all(raw.as_bytes(), usize::MAX).remove(0),
            Next::Refused(Refusal::TooLarge)
        ));
    }

    #[test]
    fn head_end_accepts_both_line_ends() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nrest"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }
}
