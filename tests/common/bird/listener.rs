//! A minimal BGP listener for the harness's own tests
//! (`tests/bird_harness.rs`), independent of vpc-router's `src/`: it
//! accepts BIRD's connection on loopback, answers its OPEN (4-octet AS,
//! multiprotocol IPv4 and IPv6 unicast), keeps the session up with
//! KEEPALIVEs while the test reads, and hands over every message raw: the
//! tests decode what they check. TCP MD5 keys go on the listening socket.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::common::etcd::{reserve_port, Port};

pub const OPEN: u8 = 1;
pub const UPDATE: u8 = 2;
pub const NOTIFICATION: u8 = 3;
pub const KEEPALIVE: u8 = 4;

/// One BGP message: its type and what follows the 19-byte header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub kind: u8,
    pub body: Vec<u8>,
}

/// What [`Session::recv`] got.
#[derive(Debug)]
pub enum Received {
    Message(Message),
    /// The connection ended (EOF or an error, as said).
    Closed(String),
    TimedOut,
}

/// A listening socket on a reserved loopback port.
pub struct TestListener {
    listener: TcpListener,
    addr: SocketAddr,
    _port: Port,
}

/// Waits until `fd` is readable, up to `within`; whether it is.
fn readable(fd: i32, within: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = within.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd, and its count.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

/// The kernel's `struct tcp_md5sig` (linux/tcp.h), which libc does not
/// define.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; 80],
}

impl TestListener {
    /// Listens on `ip` (in 127.0.0.0/8) and a reserved port.
    pub fn bind(ip: Ipv4Addr) -> TestListener {
        assert!(ip.is_loopback(), "{ip} is not a loopback address");
        let port = reserve_port();
        let listener = TcpListener::bind((ip, port.port))
            .unwrap_or_else(|e| panic!("listen on {ip}:{}: {e}", port.port));
        TestListener {
            addr: listener.local_addr().unwrap(),
            listener,
            _port: port,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requires TCP MD5 signatures (RFC 2385) with `key` on connections
    /// from `peer` (TCP_MD5SIG on the listening socket: accepted
    /// connections inherit it). Unsigned or wrongly signed segments from
    /// `peer` are dropped by the kernel, SYNs included.
    pub fn set_md5_key(&self, peer: Ipv4Addr, key: &str) {
        assert!(key.len() <= 80, "TCP MD5 keys are at most 80 bytes");
        // SAFETY: TcpMd5Sig is plain old data, for which all zeroes is a
        // valid value.
        let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(peer).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: sockaddr_storage is larger than sockaddr_in and aligned
        // for any socket address, as the kernel reads it.
        unsafe { std::ptr::write((&mut sig.addr as *mut libc::sockaddr_storage).cast(), sin) };
        sig.keylen = key.len() as u16;
        sig.key[..key.len()].copy_from_slice(key.as_bytes());
        // SAFETY: a valid socket, and a pointer to a live TcpMd5Sig of the
        // size given.
        let rc = unsafe {
            libc::setsockopt(
                self.listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_MD5SIG,
                (&sig as *const TcpMd5Sig).cast(),
                std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
            )
        };
        assert_eq!(
            rc,
            0,
            "setsockopt TCP_MD5SIG: {}",
            std::io::Error::last_os_error()
        );
    }

    /// The next connection, if one comes within `within`.
    pub fn accept(&self, within: Duration) -> Option<Session> {
        if !readable(self.listener.as_raw_fd(), within) {
            return None;
        }
        let (stream, peer) = self.listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        Some(Session {
            stream,
            peer,
            buf: Vec::new(),
            keepalive_every: None,
            last_sent: Instant::now(),
        })
    }
}

/// One accepted connection.
pub struct Session {
    stream: TcpStream,
    /// The peer's address: BIRD's source address and an ephemeral port.
    pub peer: SocketAddr,
    buf: Vec<u8>,
    /// Once the OPENs are exchanged: a third of the negotiated hold time.
    keepalive_every: Option<Duration>,
    last_sent: Instant,
}

/// A message with its header (marker, length, type).
fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend(((19 + body.len()) as u16).to_be_bytes());
    out.push(kind);
    out.extend(body);
    out
}

/// An OPEN body: version 4, `local_as` (AS_TRANS in the 2-byte field if it
/// does not fit), `hold_time`, `router_id`, and the capabilities
/// multiprotocol IPv4 unicast, IPv6 unicast and 4-octet AS.
pub fn open_body(local_as: u32, hold_time: u16, router_id: Ipv4Addr) -> Vec<u8> {
    let my_as = u16::try_from(local_as).unwrap_or(23456);
    let mut caps = vec![1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1, 65, 4];
    caps.extend(local_as.to_be_bytes());
    let mut body = vec![4];
    body.extend(my_as.to_be_bytes());
    body.extend(hold_time.to_be_bytes());
    body.extend(router_id.octets());
    body.push(caps.len() as u8 + 2);
    body.extend([2, caps.len() as u8]);
    body.extend(caps);
    body
}

/// Whether `m` is an End-of-RIB marker (RFC 4724): an UPDATE with nothing
/// in it (IPv4 unicast), or with only an empty MP_UNREACH_NLRI (others).
/// BIRD sends one per address family after its initial routes, even when
/// it has none.
pub fn is_end_of_rib(m: &Message) -> bool {
    let b = &m.body;
    if m.kind != UPDATE || b.len() < 4 || b[..2] != [0, 0] {
        return false;
    }
    let attrs = &b[4..];
    if usize::from(u16::from_be_bytes([b[2], b[3]])) != attrs.len() {
        return false;
    }
    match attrs {
        [] => true,
        // Flags, type 15, a length of 3 (in 1 or 2 bytes), AFI and SAFI.
        [flags, 15, 3, _, _, _] => flags & 0x10 == 0,
        [flags, 15, 0, 3, _, _, _] => flags & 0x10 != 0,
        _ => false,
    }
}

impl Session {
    /// Reads BIRD's OPEN and answers with an OPEN and a KEEPALIVE, in one
    /// write (see the note on the first UPDATE in `bird.rs`); returns
    /// BIRD's OPEN. From then on [`Session::recv`] sends a KEEPALIVE every
    /// third of the negotiated hold time.
    pub fn handshake(&mut self, local_as: u32, hold_time: u16, router_id: Ipv4Addr) -> Message {
        let open = self.expect(OPEN, Duration::from_secs(10));
        let mut out = frame(OPEN, &open_body(local_as, hold_time, router_id));
        out.extend(frame(KEEPALIVE, &[]));
        self.stream.write_all(&out).unwrap();
        self.last_sent = Instant::now();
        let theirs = u16::from_be_bytes([open.body[3], open.body[4]]);
        let hold = theirs.min(hold_time);
        if hold > 0 {
            self.keepalive_every = Some(Duration::from_secs(u64::from(hold)) / 3);
        }
        open
    }

    /// Sends one message.
    pub fn send(&mut self, kind: u8, body: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(&frame(kind, body))?;
        self.last_sent = Instant::now();
        Ok(())
    }

    /// Sends the IPv4 unicast End-of-RIB: an UPDATE with nothing in it.
    pub fn send_end_of_rib(&mut self) {
        self.send(UPDATE, &[0, 0, 0, 0]).unwrap();
    }

    /// A complete message from the buffer, if there is one.
    fn take(&mut self) -> Option<Message> {
        if self.buf.len() < 19 {
            return None;
        }
        assert_eq!(self.buf[..16], [0xff; 16], "bad marker: {:02x?}", self.buf);
        let len = usize::from(u16::from_be_bytes([self.buf[16], self.buf[17]]));
        assert!(len >= 19, "bad length {len}");
        if self.buf.len() < len {
            return None;
        }
        let msg: Vec<u8> = self.buf.drain(..len).collect();
        Some(Message {
            kind: msg[18],
            body: msg[19..].to_vec(),
        })
    }

    /// The next message, waiting up to `within`, while sending our
    /// KEEPALIVEs when due.
    pub fn recv(&mut self, within: Duration) -> Received {
        let until = Instant::now() + within;
        loop {
            if let Some(m) = self.take() {
                return Received::Message(m);
            }
            let now = Instant::now();
            let mut wait = until.saturating_duration_since(now);
            if let Some(every) = self.keepalive_every {
                let due = self.last_sent + every;
                if now >= due {
                    // A failed write shows as a closed connection below.
                    let _ = self.send(KEEPALIVE, &[]);
                    continue;
                }
                wait = wait.min(due - now);
            }
            if wait.is_zero() {
                return Received::TimedOut;
            }
            self.stream.set_read_timeout(Some(wait)).unwrap();
            let mut chunk = [0; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Received::Closed("end of stream".into()),
                Ok(n) => self.buf.extend(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Received::Closed(e.to_string()),
            }
        }
    }

    /// The next message of type `kind` within `within`, skipping
    /// KEEPALIVEs (unless `kind` is KEEPALIVE) and End-of-RIB markers;
    /// panics on anything else.
    pub fn expect(&mut self, kind: u8, within: Duration) -> Message {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Received::Message(m) if m.kind == kind => return m,
                Received::Message(m) if m.kind == KEEPALIVE || is_end_of_rib(&m) => {}
                other => panic!("expected a message of type {kind}, got {other:?}"),
            }
        }
    }
}
