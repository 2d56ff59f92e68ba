//! The ICMP echo probe ("ping"), IPv4 and IPv6, without unsafe code of our
//! own (socket2). Which socket kind works is found once, at start-up: the
//! unprivileged datagram kind (SOCK_DGRAM, allowed by
//! net.ipv4.ping_group_range) if the kernel allows it, else raw (SOCK_RAW,
//! needs CAP_NET_RAW); if neither, [`IcmpProbe::new`] says what to do.
//!
//! Each check opens its own socket, connected to the target: no state is
//! shared between threads, and the kernel drops replies from other sources.
//! A raw socket still sees every ICMP packet from the target (other checks'
//! replies, and on loopback our own requests), so replies are matched by
//! type, sequence number and payload, and by identifier on raw sockets (on
//! datagram sockets the kernel replaces the identifier with its own).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::probe::{describe, Probe};
use super::ProbeTarget;

/// Which kind of ICMP socket a family uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// SOCK_DGRAM: no privilege needed where ping_group_range allows; the
    /// kernel sets the identifier and checksum and strips the IP header.
    Datagram,
    /// SOCK_RAW: needs CAP_NET_RAW; IPv4 receives include the IP header.
    Raw,
}

/// Marks our payload, followed by 8 bytes unique to each check.
const MARK: &[u8] = b"vpc-router";

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const UNREACHABLE_V4: u8 = 3;
const TIME_EXCEEDED_V4: u8 = 11;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const UNREACHABLE_V6: u8 = 1;
const TIME_EXCEEDED_V6: u8 = 3;

/// ICMP echo request/reply to the target's IP (its port is ignored).
#[derive(Debug)]
pub struct IcmpProbe {
    v4: Mode,
    /// IPv6 may be unusable where IPv4 works (e.g. IPv6 disabled): checks of
    /// IPv6 targets then fail with this reason.
    v6: Result<Mode, String>,
    /// The identifier on raw sockets.
    ident: u16,
    /// Random per probe, so that two processes (or two probes in one) never
    /// take each other's replies.
    nonce: u64,
    /// Counts checks: the sequence number and the payload's unique part.
    count: AtomicU64,
}

impl IcmpProbe {
    /// Finds a usable ICMP socket kind, or says what was tried and what to
    /// do. Opens test sockets only; sends nothing.
    pub fn new() -> Result<IcmpProbe, String> {
        let v4 = choose(false)?;
        let v6 = choose(true);
        let nonce = {
            // RandomState is seeded from the OS's random source.
            let mut h = RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.finish()
        };
        Ok(IcmpProbe {
            v4,
            v6,
            ident: (std::process::id() as u16) ^ (nonce as u16),
            nonce,
            count: AtomicU64::new(0),
        })
    }

    /// The socket kinds in use, for a start-up log line.
    pub fn sockets(&self) -> String {
        let kind = |m: &Mode| match m {
            Mode::Datagram => "datagram sockets (ping_group_range)",
            Mode::Raw => "raw sockets (CAP_NET_RAW)",
        };
        let v6 = match &self.v6 {
            Ok(m) => kind(m).to_string(),
            Err(e) => format!("unusable: {e}"),
        };
        format!("IPv4 through {}, IPv6 {v6}", kind(&self.v4))
    }
}

/// The first socket kind that opens for the family, or the start-up error.
fn choose(v6: bool) -> Result<Mode, String> {
    let datagram = match open(v6, Mode::Datagram) {
        Ok(_) => return Ok(Mode::Datagram),
        Err(e) => e,
    };
    match open(v6, Mode::Raw) {
        Ok(_) => Ok(Mode::Raw),
        Err(raw) => Err(startup_error(v6, &datagram, &raw)),
    }
}

fn startup_error(v6: bool, datagram: &io::Error, raw: &io::Error) -> String {
    let family = if v6 { "ICMPv6" } else { "ICMP" };
    format!(
        "--health icmp: cannot open an {family} socket. An unprivileged datagram socket was \
         refused ({}; the kernel allows it only for groups in net.ipv4.ping_group_range) and \
         a raw socket was refused ({}; it needs CAP_NET_RAW). Either allow this process's \
         group, e.g. sysctl -w net.ipv4.ping_group_range=\"0 2147483647\", or grant \
         CAP_NET_RAW (e.g. AmbientCapabilities=CAP_NET_RAW in the systemd unit, or setcap \
         cap_net_raw+ep on the binary), or use --health tcp",
        describe(datagram),
        describe(raw)
    )
}

fn open(v6: bool, mode: Mode) -> io::Result<Socket> {
    let (domain, protocol) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let ty = match mode {
        Mode::Datagram => Type::DGRAM,
        Mode::Raw => Type::RAW,
    };
    Socket::new(domain, ty, Some(protocol))
}

/// What one check expects back.
#[derive(Debug)]
struct Expect<'a> {
    v6: bool,
    mode: Mode,
    ident: u16,
    seq: u16,
    payload: &'a [u8],
}

/// What a received packet is to the check.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Reply,
    /// An ICMP error about our request: the reason.
    Error(String),
    /// Anything else: another check's reply, our own request seen on
    /// loopback, unrelated ICMP.
    Other,
}

fn echo_request(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let ty = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    let mut p = vec![ty, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    // The kernel computes ICMPv6 checksums itself (they cover a
    // pseudo-header we do not know), and the ICMP one on datagram sockets.
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The ICMP message in a received packet: raw IPv4 sockets deliver the IP
/// header too; the others do not.
fn icmp_part<'a>(e: &Expect, packet: &'a [u8]) -> Option<&'a [u8]> {
    if e.v6 || e.mode == Mode::Datagram {
        return Some(packet);
    }
    ipv4_payload(packet, 1)
}

/// The payload of an IPv4 packet of `protocol`.
fn ipv4_payload(packet: &[u8], protocol: u8) -> Option<&[u8]> {
    let first = *packet.first()?;
    let header = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header < 20 || packet.len() < header || packet[9] != protocol {
        return None;
    }
    Some(&packet[header..])
}

fn classify(e: &Expect, packet: &[u8]) -> Seen {
    let Some(icmp) = icmp_part(e, packet) else {
        return Seen::Other;
    };
    if icmp.len() < 8 {
        return Seen::Other;
    }
    let (ty, code) = (icmp[0], icmp[1]);
    let reply = if e.v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if ty == reply && code == 0 {
        return if ours(e, &icmp[4..8]) && &icmp[8..] == e.payload {
            Seen::Reply
        } else {
            Seen::Other
        };
    }
    let Some(why) = error_text(e.v6, ty, code) else {
        return Seen::Other;
    };
    // An ICMP error quotes the start of the packet it is about: the IP
    // header, then at least 8 bytes of our echo request.
    let quoted = if e.v6 {
        icmp.get(8 + 40..).filter(|_| icmp.get(8 + 6) == Some(&58))
    } else {
        icmp.get(8..).and_then(|q| ipv4_payload(q, 1))
    };
    let request = if e.v6 {
        ECHO_REQUEST_V6
    } else {
        ECHO_REQUEST_V4
    };
    match quoted {
        Some(q) if q.len() >= 8 && q[0] == request && ours(e, &q[4..8]) => Seen::Error(why),
        _ => Seen::Other,
    }
}

/// Whether identifier and sequence number (4 bytes) are this check's.
fn ours(e: &Expect, id_seq: &[u8]) -> bool {
    let ident = u16::from_be_bytes([id_seq[0], id_seq[1]]);
    let seq = u16::from_be_bytes([id_seq[2], id_seq[3]]);
    seq == e.seq && (e.mode == Mode::Datagram || ident == e.ident)
}

fn error_text(v6: bool, ty: u8, code: u8) -> Option<String> {
    Some(match (v6, ty) {
        (false, UNREACHABLE_V4) => format!("destination unreachable (code {code})"),
        (false, TIME_EXCEEDED_V4) => "time to live exceeded".to_string(),
        (true, UNREACHABLE_V6) => format!("destination unreachable (code {code})"),
        (true, TIME_EXCEEDED_V6) => "hop limit exceeded".to_string(),
        _ => return None,
    })
}

impl Probe for IcmpProbe {
    fn probe(&self, target: &ProbeTarget, timeout: Duration) -> Result<Duration, String> {
        let ip = target.ip;
        let v6 = ip.is_ipv6();
        let mode = if v6 {
            self.v6.clone().map_err(|e| format!("icmp {ip}: {e}"))?
        } else {
            self.v4
        };
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        let mut payload = MARK.to_vec();
        payload.extend_from_slice(&(self.nonce ^ n).to_be_bytes());
        let expect = Expect {
            v6,
            mode,
            ident: self.ident,
            seq: n as u16,
            payload: &payload,
        };
        let fail = |what: &str, e: &io::Error| format!("icmp {ip}: {what}: {}", describe(e));
        let socket = open(v6, mode).map_err(|e| fail("cannot open a socket", &e))?;
        socket
            .connect(&SocketAddr::new(ip, 0).into())
            .map_err(|e| fail("cannot connect the socket", &e))?;
        let request = echo_request(v6, expect.ident, expect.seq, &payload);
        let start = Instant::now();
        let deadline = start + timeout;
        socket
            .send(&request)
            .map_err(|e| fail("cannot send the echo request", &e))?;
        // Room for an IPv4 header with options and a quoted packet.
        let mut buf = [0u8; 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("icmp {ip}: no echo reply within {timeout:?}"));
            }
            // A timeout that rounds to 0 µs would mean "wait forever".
            socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .map_err(|e| fail("cannot set the socket timeout", &e))?;
            let len = match (&socket).read(&mut buf) {
                Ok(len) => len,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                // An ICMP error reported on the socket (e.g. host
                // unreachable on a datagram socket).
                Err(e) => return Err(fail("echo failed", &e)),
            };
            match classify(&expect, &buf[..len]) {
                Seen::Reply => return Ok(start.elapsed()),
                Seen::Error(why) => return Err(format!("icmp {ip}: {why}")),
                Seen::Other => {}
            }
        }
    }

    fn name(&self) -> &str {
        "icmp"
    }

    fn address(&self, target: &ProbeTarget) -> String {
        IpAddr::to_string(&target.ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn target(ip: IpAddr) -> ProbeTarget {
        ProbeTarget { ip, port: None }
    }

    #[test]
    fn checksum_matches_rfc_1071_examples() {
        // The RFC's example words sum to 0xddf2; the checksum is its
        // complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        // A packet with its checksum filled in sums to 0.
        let p = echo_request(false, 0x1234, 7, b"vpc-router odd");
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    /// An IPv4 header (20 bytes, protocol ICMP) in front of `icmp`.
    fn ipv4(icmp: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        p.extend_from_slice(icmp);
        p
    }

    fn reply(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = echo_request(v6, ident, seq, payload);
        p[0] = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
        p
    }

    #[test]
    fn classify_as_data() {
        let pl: &[u8] = b"vpc-router12345678";
        let raw4 = Expect {
            v6: false,
            mode: Mode::Raw,
            ident: 0x1234,
            seq: 9,
            payload: pl,
        };
        let dgram4 = Expect {
            mode: Mode::Datagram,
            ..raw4
        };
        let raw6 = Expect {
            v6: true,
            mode: Mode::Raw,
            ..raw4
        };
        let dgram6 = Expect {
            v6: true,
            mode: Mode::Datagram,
            ..raw4
        };
        let unreachable4 = {
            let mut p = vec![UNREACHABLE_V4, 1, 0, 0, 0, 0, 0, 0];
            p.extend(ipv4(&echo_request(false, 0x1234, 9, pl)[..8]));
            p
        };
        let unreachable6 = {
            let mut p = vec![UNREACHABLE_V6, 3, 0, 0, 0, 0, 0, 0];
            let mut header = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
            header.extend([0; 32]);
            p.extend(header);
            p.extend(&echo_request(true, 0x1234, 9, pl)[..8]);
            p
        };
        let err = |s: &str| Seen::Error(s.to_string());
        #[rustfmt::skip]
        let cases: Vec<(&Expect, Vec<u8>, Seen, &str)> = vec![
            (&raw4, ipv4(&reply(false, 0x1234, 9, pl)), Seen::Reply, "raw IPv4: the header is skipped"),
            (&raw4, reply(false, 0x1234, 9, pl), Seen::Other, "raw IPv4 without a header is not ours"),
            (&raw4, ipv4(&echo_request(false, 0x1234, 9, pl)), Seen::Other, "our own request, seen on loopback"),
            (&raw4, ipv4(&reply(false, 0x1234, 10, pl)), Seen::Other, "another check's sequence number"),
            (&raw4, ipv4(&reply(false, 0x9999, 9, pl)), Seen::Other, "another process's identifier"),
            (&raw4, ipv4(&reply(false, 0x1234, 9, b"vpc-router00000000")), Seen::Other, "another payload"),
            (&raw4, ipv4(&reply(false, 0x1234, 9, pl)[..6]), Seen::Other, "truncated"),
            (&raw4, vec![], Seen::Other, "empty"),
            (&raw4, ipv4(&unreachable4), err("destination unreachable (code 1)"), "an error about our request"),
            (&dgram4, reply(false, 0x9999, 9, pl), Seen::Reply, "datagram: the kernel's identifier"),
            (&dgram4, reply(false, 0x9999, 8, pl), Seen::Other, "datagram: another sequence number"),
            (&raw6, reply(true, 0x1234, 9, pl), Seen::Reply, "ICMPv6 has no header to skip"),
            (&raw6, echo_request(true, 0x1234, 9, pl), Seen::Other, "our own ICMPv6 request"),
            (&raw6, vec![135, 0, 0, 0, 0, 0, 0, 0, 0, 0], Seen::Other, "neighbour solicitation"),
            (&raw6, unreachable6, err("destination unreachable (code 3)"), "an ICMPv6 error about our request"),
            (&dgram6, reply(true, 1, 9, pl), Seen::Reply, "datagram ICMPv6"),
            (&dgram6, reply(false, 1, 9, pl), Seen::Other, "an ICMPv4 reply type on ICMPv6"),
        ];
        for (expect, packet, want, what) in cases {
            assert_eq!(classify(expect, &packet), want, "{what}");
        }
    }

    #[test]
    fn the_startup_error_says_what_was_tried_and_what_to_do() {
        let denied = io::Error::from_raw_os_error(13);
        let eperm = io::Error::from_raw_os_error(1);
        let m = startup_error(false, &denied, &eperm);
        for want in [
            "cannot open an ICMP socket",
            "datagram socket was refused (permission denied;",
            "net.ipv4.ping_group_range",
            "raw socket was refused (operation not permitted; it needs CAP_NET_RAW)",
            "or use --health tcp",
        ] {
            assert!(m.contains(want), "{want:?} not in {m}");
        }
    }

    // Tests run as root here, where ping_group_range is "1 0": the
    // datagram kind is refused and the raw fallback is what answers.
    #[test]
    fn echo_to_ipv4_loopback() {
        let p = IcmpProbe::new().unwrap();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        p.probe(&target(ip), TIMEOUT).unwrap();
        p.probe(&target("127.0.0.2".parse().unwrap()), TIMEOUT)
            .unwrap();
        assert_eq!(p.address(&ProbeTarget { ip, port: Some(22) }), "127.0.0.1");
    }

    #[test]
    fn echo_to_ipv6_loopback() {
        if std::net::UdpSocket::bind("[::1]:0").is_err() {
            eprintln!("skipped: no IPv6 loopback here");
            return;
        }
        let p = IcmpProbe::new().unwrap();
        p.probe(&target(IpAddr::V6(Ipv6Addr::LOCALHOST)), TIMEOUT)
            .unwrap();
    }

    #[test]
    fn concurrent_checks_take_only_their_own_replies() {
        // Raw sockets see every reply from 127.0.0.1; each check must
        // still finish with its own.
        let p = Arc::new(IcmpProbe::new().unwrap());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let p = Arc::clone(&p);
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        p.probe(&target(IpAddr::V4(Ipv4Addr::LOCALHOST)), TIMEOUT)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(p.count.load(Ordering::Relaxed), 160);
    }
}
