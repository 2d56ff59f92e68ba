//! BGP-4 messages as bytes (RFC 4271), with multiprotocol IPv6 unicast (RFC
//! 4760), four-octet AS numbers (RFC 6793), the revised UPDATE error handling
//! (RFC 7606) and the shutdown communication (RFC 8203/9003): framing,
//! decoding, encoding. Pure functions of bytes, no state: the session decides
//! what a message means for the connection. Decoding never panics, and every
//! length is checked against the message before it is used, so what it
//! allocates is bounded by its input. An error comes back as the NOTIFICATION
//! to send.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const MARKER: [u8; 16] = [0xff; 16];
pub const HEADER_LEN: usize = 19;
/// RFC 4271's largest message. We never advertise the extended message
/// capability (RFC 8654), so a peer may not send more.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The 2-octet stand-in for a 4-octet AS number (RFC 6793).
pub const AS_TRANS: u32 = 23456;
pub const VERSION: u8 = 4;

/// Message types (RFC 4271 §4.1, RFC 2918).
pub mod kind {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 6608, RFC 4486).
pub mod code {
    pub const HEADER: u8 = 1;
    pub const OPEN: u8 = 2;
    pub const UPDATE: u8 = 3;
    pub const HOLD_TIMER: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
}

/// Error subcodes, per code.
pub mod subcode {
    // Message Header Error.
    pub const NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_LENGTH: u8 = 2;
    pub const BAD_TYPE: u8 = 3;
    // OPEN Message Error.
    pub const UNSPECIFIC: u8 = 0;
    pub const UNSUPPORTED_VERSION: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_ID: u8 = 3;
    pub const UNSUPPORTED_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    // UPDATE Message Error.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN: u8 = 2;
    pub const OPTIONAL_ATTRIBUTE: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    // Finite State Machine Error (RFC 6608).
    pub const FSM_IN_OPEN_SENT: u8 = 1;
    pub const FSM_IN_OPEN_CONFIRM: u8 = 2;
    pub const FSM_IN_ESTABLISHED: u8 = 3;
    // Cease (RFC 4486).
    pub const MAX_PREFIXES: u8 = 1;
    pub const ADMIN_SHUTDOWN: u8 = 2;
    pub const ADMIN_RESET: u8 = 4;
}

/// Path attribute type codes.
mod attr {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MED: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const ORIGINATOR_ID: u8 = 9;
    pub const CLUSTER_LIST: u8 = 10;
    pub const MP_REACH: u8 = 14;
    pub const MP_UNREACH: u8 = 15;
    pub const EXT_COMMUNITIES: u8 = 16;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const LARGE_COMMUNITIES: u8 = 32;
}

/// Attribute flags (RFC 4271 §4.3).
pub mod flag {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// AS_PATH segment types (RFC 4271; RFC 5065 adds 3, AS_CONFED_SEQUENCE,
/// and 4, AS_CONFED_SET).
const AS_SET: u8 = 1;
const AS_SEQUENCE: u8 = 2;
const AS_CONFED_SET: u8 = 4;

/// The address families vpc-router takes routes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Ipv4Unicast,
    Ipv6Unicast,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ipv4Unicast, Family::Ipv6Unicast];

    pub fn afi_safi(self) -> (u16, u8) {
        match self {
            Family::Ipv4Unicast => (1, 1),
            Family::Ipv6Unicast => (2, 1),
        }
    }

    pub fn from_afi_safi(afi: u16, safi: u8) -> Option<Family> {
        match (afi, safi) {
            (1, 1) => Some(Family::Ipv4Unicast),
            (2, 1) => Some(Family::Ipv6Unicast),
            _ => None,
        }
    }

    fn max_len(self) -> u8 {
        match self {
            Family::Ipv4Unicast => 32,
            Family::Ipv6Unicast => 128,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4Unicast => "IPv4 unicast",
            Family::Ipv6Unicast => "IPv6 unicast",
        })
    }
}

/// A destination prefix, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// The prefix of `addr` with `len` bits (host bits cleared), or None if
    /// `len` is too long for the address.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        let addr = match addr {
            IpAddr::V4(a) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
            _ => return None,
        };
        Some(Prefix { addr, len })
    }

    pub fn family(&self) -> Family {
        match self.addr {
            IpAddr::V4(_) => Family::Ipv4Unicast,
            IpAddr::V6(_) => Family::Ipv6Unicast,
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// What a route says about how to reach its prefixes: what best-path
/// selection and the VPC side need, nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// 0 IGP, 1 EGP, 2 INCOMPLETE.
    pub origin: u8,
    /// AS_SEQUENCE members in order; an AS_SET's members too. Confederation
    /// segments (RFC 5065) are left out, as they count for nothing.
    pub as_path: Vec<u32>,
    /// For best-path: a sequence counts each AS, a set counts 1.
    pub as_path_len: usize,
    pub next_hop: IpAddr,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
}

/// A NOTIFICATION: what we send on an error, or what the peer told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// A whole message: the header, then `body`. The caller keeps `body` under
/// `MAX_MESSAGE_LEN - HEADER_LEN`.
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MARKER);
    let len = u16::try_from(HEADER_LEN + body.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

pub fn keepalive() -> Vec<u8> {
    message(kind::KEEPALIVE, &[])
}

/// The first message in `buf`, when its header is whole: `Ok(Some((type,
/// length)))` once all of it is there, `Ok(None)` while it is not, or the
/// Message Header Error to send (RFC 4271 §6.1), decided as soon as the
/// header is in.
pub fn frame(buf: &[u8]) -> Result<Option<(u8, usize)>, Notification> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    if header[..16] != MARKER[..] {
        return Err(Notification::new(
            code::HEADER,
            subcode::NOT_SYNCHRONIZED,
            vec![],
        ));
    }
    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
    let t = header[18];
    let bad_length =
        || Notification::new(code::HEADER, subcode::BAD_LENGTH, header[16..18].to_vec());
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(bad_length());
    }
    // The smallest of each type; a NOTIFICATION is never answered with one
    // (RFC 4271 §6.4), so a short one is taken as it is.
    let fits = match t {
        kind::OPEN => len >= 29,
        kind::UPDATE => len >= 23,
        kind::KEEPALIVE => len == HEADER_LEN,
        kind::NOTIFICATION => true,
        kind::ROUTE_REFRESH => len >= 23,
        _ => return Err(Notification::new(code::HEADER, subcode::BAD_TYPE, vec![t])),
    };
    if !fits {
        return Err(bad_length());
    }
    Ok((buf.len() >= len).then_some((t, len)))
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Notification {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// Cease with an RFC 8203 shutdown communication: a length octet, then
    /// UTF-8. Cut to 128 octets (at a character boundary), RFC 8203's
    /// limit, which every receiver takes; RFC 9003's 255 is newer.
    pub fn shutdown(subcode: u8, message: &str) -> Notification {
        let mut end = message.len().min(128);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = &message.as_bytes()[..end];
        let mut data = Vec::with_capacity(1 + text.len());
        data.push(text.len() as u8);
        data.extend_from_slice(text);
        Notification::new(code::CEASE, subcode, data)
    }

    /// The NOTIFICATION message. Data that would not fit is cut.
    pub fn encode(&self) -> Vec<u8> {
        let room = MAX_MESSAGE_LEN - HEADER_LEN - 2;
        let mut body = vec![self.code, self.subcode];
        body.extend_from_slice(&self.data[..self.data.len().min(room)]);
        message(kind::NOTIFICATION, &body)
    }

    /// A received NOTIFICATION's body. Never fails: a short one has code 0.
    pub fn decode(body: &[u8]) -> Notification {
        Notification::new(
            body.first().copied().unwrap_or(0),
            body.get(1).copied().unwrap_or(0),
            body.get(2..).unwrap_or_default().to_vec(),
        )
    }

    /// RFC 8203/9003: the shutdown communication of a Cease/Administrative
    /// Shutdown or Reset, control characters escaped. `Err` with a hex dump
    /// when it is malformed (a length past the data, or not UTF-8).
    pub fn shutdown_text(&self) -> Option<Result<String, String>> {
        let shutdown = [subcode::ADMIN_SHUTDOWN, subcode::ADMIN_RESET];
        if self.code != code::CEASE || !shutdown.contains(&self.subcode) || self.data.is_empty() {
            return None;
        }
        let len = usize::from(self.data[0]);
        let text = self
            .data
            .get(1..1 + len)
            .and_then(|t| std::str::from_utf8(t).ok());
        Some(match text {
            Some(t) => {
                let mut out = String::new();
                crate::log::escape_controls(t, &mut out);
                Ok(out)
            }
            None => Err(hex(&self.data)),
        })
    }
}

fn hex(data: &[u8]) -> String {
    let shown: Vec<String> = data.iter().take(32).map(|b| format!("{b:02x}")).collect();
    let more = if data.len() > 32 { " ..." } else { "" };
    format!("{}{more}", shown.join(" "))
}

fn code_name(code: u8) -> Option<&'static str> {
    Some(match code {
        1 => "Message Header Error",
        2 => "OPEN Message Error",
        3 => "UPDATE Message Error",
        4 => "Hold Timer Expired",
        5 => "Finite State Machine Error",
        6 => "Cease",
        7 => "ROUTE-REFRESH Message Error",
        _ => return None,
    })
}

fn subcode_name(code: u8, subcode: u8) -> Option<&'static str> {
    Some(match (code, subcode) {
        (1, 1) => "Connection Not Synchronized",
        (1, 2) => "Bad Message Length",
        (1, 3) => "Bad Message Type",
        (2, 1) => "Unsupported Version Number",
        (2, 2) => "Bad Peer AS",
        (2, 3) => "Bad BGP Identifier",
        (2, 4) => "Unsupported Optional Parameter",
        (2, 6) => "Unacceptable Hold Time",
        (2, 7) => "Unsupported Capability",
        (2, 11) => "Role Mismatch",
        (3, 1) => "Malformed Attribute List",
        (3, 2) => "Unrecognized Well-known Attribute",
        (3, 3) => "Missing Well-known Attribute",
        (3, 4) => "Attribute Flags Error",
        (3, 5) => "Attribute Length Error",
        (3, 6) => "Invalid ORIGIN Attribute",
        (3, 8) => "Invalid NEXT_HOP Attribute",
        (3, 9) => "Optional Attribute Error",
        (3, 10) => "Invalid Network Field",
        (3, 11) => "Malformed AS_PATH",
        (5, 1) => "Receive Unexpected Message in OpenSent State",
        (5, 2) => "Receive Unexpected Message in OpenConfirm State",
        (5, 3) => "Receive Unexpected Message in Established State",
        (6, 1) => "Maximum Number of Prefixes Reached",
        (6, 2) => "Administrative Shutdown",
        (6, 3) => "Peer De-configured",
        (6, 4) => "Administrative Reset",
        (6, 5) => "Connection Rejected",
        (6, 6) => "Other Configuration Change",
        (6, 7) => "Connection Collision Resolution",
        (6, 8) => "Out of Resources",
        (6, 9) => "Hard Reset",
        (6, 10) => "BFD Down",
        (7, 1) => "Invalid Message Length",
        _ => return None,
    })
}

/// As text for logs and /status: "Cease/Administrative Shutdown:
/// maintenance", "OPEN Message Error/Bad Peer AS", "code 9/subcode 3 (data
/// 01 02)".
impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match code_name(self.code) {
            Some(name) => f.write_str(name)?,
            None => write!(f, "code {}", self.code)?,
        }
        match subcode_name(self.code, self.subcode) {
            Some(name) => write!(f, "/{name}")?,
            None if self.subcode != 0 => write!(f, "/subcode {}", self.subcode)?,
            None => {}
        }
        if let Some(text) = self.shutdown_text() {
            return match text {
                Ok(t) if t.is_empty() => Ok(()),
                Ok(t) => write!(f, ": {t}"),
                Err(h) => write!(f, " (malformed shutdown communication: {h})"),
            };
        }
        let d = &self.data;
        if (self.code, self.subcode) == (code::CEASE, subcode::MAX_PREFIXES) && d.len() == 7 {
            let (afi, safi) = (u16::from_be_bytes([d[0], d[1]]), d[2]);
            let limit = u32::from_be_bytes([d[3], d[4], d[5], d[6]]);
            return write!(f, " (AFI {afi}, SAFI {safi}, limit {limit})");
        }
        if !d.is_empty() {
            write!(f, " (data {})", hex(d))?;
        }
        Ok(())
    }
}

/// A capability of an OPEN (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// RFC 4760: the peer takes this AFI/SAFI.
    Multiprotocol { afi: u16, safi: u8 },
    /// RFC 6793: the peer's 4-octet AS number.
    FourOctetAs(u32),
    /// Any other (route refresh, graceful restart, add-path, ...): kept
    /// as it came, and ignored.
    Other { code: u8, value: Vec<u8> },
}

/// An OPEN message (RFC 4271 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub version: u8,
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// The OPEN vpc-router sends: IPv4 and IPv6 unicast, 4-octet AS
    /// numbers (so `My AS` is AS_TRANS when ours needs 4 octets).
    pub fn ours(local_as: u32, hold_time: u16, router_id: Ipv4Addr) -> Open {
        let (v4, v6) = (
            Family::Ipv4Unicast.afi_safi(),
            Family::Ipv6Unicast.afi_safi(),
        );
        Open {
            version: VERSION,
            my_as: u16::try_from(local_as).unwrap_or(AS_TRANS as u16),
            hold_time,
            bgp_id: router_id,
            capabilities: vec![
                Capability::Multiprotocol {
                    afi: v4.0,
                    safi: v4.1,
                },
                Capability::Multiprotocol {
                    afi: v6.0,
                    safi: v6.1,
                },
                Capability::FourOctetAs(local_as),
            ],
        }
    }

    /// The peer's AS: from the 4-octet AS capability if it sent one.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
    }

    /// The families the peer takes that we know. A peer without any
    /// multiprotocol capability speaks IPv4 unicast only (RFC 4760 §8).
    pub fn families(&self) -> Vec<Family> {
        let mut mp = false;
        let mut out = Vec::new();
        for c in &self.capabilities {
            if let Capability::Multiprotocol { afi, safi } = c {
                mp = true;
                out.extend(Family::from_afi_safi(*afi, *safi));
            }
        }
        if !mp {
            out.push(Family::Ipv4Unicast);
        }
        out.sort();
        out.dedup();
        out
    }

    /// The whole message, every capability in one optional parameter.
    pub fn encode(&self) -> Vec<u8> {
        let mut caps = Vec::new();
        for c in &self.capabilities {
            match c {
                Capability::Multiprotocol { afi, safi } => {
                    caps.extend_from_slice(&[1, 4]);
                    caps.extend_from_slice(&afi.to_be_bytes());
                    caps.extend_from_slice(&[0, *safi]);
                }
                Capability::FourOctetAs(asn) => {
                    caps.extend_from_slice(&[65, 4]);
                    caps.extend_from_slice(&asn.to_be_bytes());
                }
                Capability::Other { code, value } => {
                    caps.push(*code);
                    caps.push(value.len().min(255) as u8);
                    caps.extend_from_slice(&value[..value.len().min(255)]);
                }
            }
        }
        let mut body = vec![self.version];
        body.extend_from_slice(&self.my_as.to_be_bytes());
        body.extend_from_slice(&self.hold_time.to_be_bytes());
        body.extend_from_slice(&self.bgp_id.octets());
        if caps.is_empty() {
            body.push(0);
        } else if caps.len() + 2 <= 254 {
            body.push(caps.len() as u8 + 2);
            body.extend_from_slice(&[2, caps.len() as u8]);
        } else {
            // RFC 9072: more than one octet's worth of parameters.
            body.extend_from_slice(&[255, 255]);
            body.extend_from_slice(&(caps.len() as u16 + 3).to_be_bytes());
            body.push(2);
            body.extend_from_slice(&(caps.len() as u16).to_be_bytes());
        }
        body.extend_from_slice(&caps);
        message(kind::OPEN, &body)
    }

    /// An OPEN's body (after the header). Checks the version first (what
    /// follows may differ in another version), then the optional parameters
    /// (RFC 5492, and RFC 9072's extended length); the peer's AS, hold time
    /// and identifier are the session's to judge.
    pub fn decode(body: &[u8]) -> Result<Open, Notification> {
        let open_error = |sub: u8, data: Vec<u8>| Notification::new(code::OPEN, sub, data);
        let version = body.first().copied().unwrap_or(0);
        if version != VERSION {
            return Err(open_error(subcode::UNSUPPORTED_VERSION, vec![0, VERSION]));
        }
        let (Some(my_as), Some(hold_time), Some(id), Some(&opt_len)) =
            (be16(body, 1), be16(body, 3), be32(body, 5), body.get(9))
        else {
            return Err(open_error(subcode::UNSPECIFIC, vec![]));
        };
        let mut params = &body[10..];
        // RFC 9072: 255 then type 255 announce a 2-octet length, and
        // 2-octet parameter lengths.
        let extended = opt_len == 255 && params.first() == Some(&255);
        if extended {
            let len = be16(params, 1).ok_or_else(|| open_error(subcode::UNSPECIFIC, vec![]))?;
            params = &params[3..];
            if params.len() != len {
                return Err(open_error(subcode::UNSPECIFIC, vec![]));
            }
        } else if params.len() != usize::from(opt_len) {
            let len = (HEADER_LEN + body.len()) as u16;
            return Err(Notification::new(
                code::HEADER,
                subcode::BAD_LENGTH,
                len.to_be_bytes().to_vec(),
            ));
        }
        let mut capabilities = Vec::new();
        while !params.is_empty() {
            let head = if extended { 3 } else { 2 };
            let (t, len) = match (params.first(), extended) {
                (Some(&t), true) => (t, be16(params, 1)),
                (Some(&t), false) => (t, params.get(1).map(|&l| usize::from(l))),
                (None, _) => break,
            };
            let value = len
                .and_then(|len| params.get(head..head + len))
                .ok_or_else(|| open_error(subcode::UNSPECIFIC, vec![]))?;
            if t != 2 {
                return Err(open_error(subcode::UNSUPPORTED_PARAMETER, vec![]));
            }
            decode_capabilities(value, &mut capabilities)
                .ok_or_else(|| open_error(subcode::UNSPECIFIC, vec![]))?;
            params = &params[head + value.len()..];
        }
        Ok(Open {
            version,
            my_as: my_as as u16,
            hold_time: hold_time as u16,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
        })
    }
}

/// The capabilities in one parameter; None if one overruns it or one we
/// use has the wrong length.
fn decode_capabilities(mut b: &[u8], out: &mut Vec<Capability>) -> Option<()> {
    while let [code, len, rest @ ..] = b {
        let value = rest.get(..usize::from(*len))?;
        out.push(match (code, value) {
            (1, [a0, a1, _, safi]) => Capability::Multiprotocol {
                afi: u16::from_be_bytes([*a0, *a1]),
                safi: *safi,
            },
            (65, [a, b, c, d]) => Capability::FourOctetAs(u32::from_be_bytes([*a, *b, *c, *d])),
            (1 | 65, _) => return None,
            _ => Capability::Other {
                code: *code,
                value: value.to_vec(),
            },
        });
        b = &rest[value.len()..];
    }
    b.is_empty().then_some(())
}

/// Prefixes as RFC 4271 §4.3 encodes them: a length in bits, then as few
/// octets as hold it. `Err` on a length too long for the family or a
/// prefix past the end.
fn decode_prefixes(mut b: &[u8], family: Family, out: &mut Vec<Prefix>) -> Result<(), ()> {
    while let [len, rest @ ..] = b {
        if *len > family.max_len() {
            return Err(());
        }
        let n = usize::from(*len).div_ceil(8);
        let bits = rest.get(..n).ok_or(())?;
        let addr = match family {
            Family::Ipv4Unicast => {
                let mut a = [0u8; 4];
                a[..n].copy_from_slice(bits);
                IpAddr::from(a)
            }
            Family::Ipv6Unicast => {
                let mut a = [0u8; 16];
                a[..n].copy_from_slice(bits);
                IpAddr::from(a)
            }
        };
        out.extend(Prefix::new(addr, *len));
        b = &rest[n..];
    }
    Ok(())
}

pub fn encode_prefixes(prefixes: &[Prefix], out: &mut Vec<u8>) {
    for p in prefixes {
        let n = usize::from(p.len).div_ceil(8);
        out.push(p.len);
        match p.addr {
            IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n.min(4)]),
            IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n.min(16)]),
        }
    }
}

/// What decoding an UPDATE needs to know of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateContext {
    /// Both sides sent the 4-octet AS capability: AS_PATH carries 4-octet
    /// numbers, and AS4_PATH is not used.
    pub four_octet: bool,
    /// The peer is in another AS: its LOCAL_PREF is not ours to use.
    pub ebgp: bool,
}

/// A decoded UPDATE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    pub announced: Vec<(Prefix, Path)>,
    pub withdrawn: Vec<Prefix>,
    /// RFC 7606 treat-as-withdraw: why the UPDATE's prefixes are in
    /// `withdrawn` rather than in `announced`.
    pub treat_as_withdraw: Option<String>,
    /// The UPDATE was the End-of-RIB marker of this family (RFC 4724).
    pub end_of_rib: Option<Family>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    kind: u8,
    asns: Vec<u32>,
}

/// An MP_REACH_NLRI of a family we take.
struct MpReach {
    next_hop: IpAddr,
    nlri: Vec<Prefix>,
}

/// The path attributes of one UPDATE, as far as they were usable.
#[derive(Default)]
struct Attrs {
    origin: Option<u8>,
    as_path: Option<Vec<Segment>>,
    as4_path: Option<Vec<Segment>>,
    next_hop: Option<Ipv4Addr>,
    med: Option<u32>,
    local_pref: Option<u32>,
    aggregator_as: Option<u32>,
    mp_reach: Option<MpReach>,
    mp_unreach: Option<(Family, Vec<Prefix>)>,
    /// How many attributes there were (for End-of-RIB).
    count: usize,
    /// The first reason to treat the UPDATE as a withdrawal.
    withdraw: Option<String>,
}

impl Attrs {
    fn treat_as_withdraw(&mut self, why: String) {
        self.withdraw.get_or_insert(why);
    }
}

fn update_error(sub: u8, data: Vec<u8>) -> Notification {
    Notification::new(code::UPDATE, sub, data)
}

/// An UPDATE's body (after the header). `Err` is a session reset, where
/// RFC 7606 keeps one: the withdrawn routes, the attributes or the NLRI
/// cannot be located or parsed, or an MP_REACH_NLRI/MP_UNREACH_NLRI is
/// malformed or repeated. Everything else is treat-as-withdraw (in
/// `Update::treat_as_withdraw`) or attribute discard (silent).
pub fn decode_update(body: &[u8], ctx: UpdateContext) -> Result<Update, Notification> {
    let malformed = || update_error(subcode::MALFORMED_ATTRIBUTE_LIST, vec![]);
    let invalid_network = |_| update_error(subcode::INVALID_NETWORK_FIELD, vec![]);
    let wlen = be16(body, 0).ok_or_else(malformed)?;
    let attrs_at = 2 + wlen + 2;
    let alen = be16(body, 2 + wlen).ok_or_else(malformed)?;
    let nlri_at = attrs_at + alen;
    if nlri_at > body.len() {
        return Err(malformed());
    }
    let mut withdrawn = Vec::new();
    decode_prefixes(&body[2..2 + wlen], Family::Ipv4Unicast, &mut withdrawn)
        .map_err(invalid_network)?;
    let mut a = decode_attrs(&body[attrs_at..nlri_at], ctx)?;
    let mut nlri = Vec::new();
    decode_prefixes(&body[nlri_at..], Family::Ipv4Unicast, &mut nlri).map_err(invalid_network)?;

    if body.len() == 4 {
        return Ok(Update {
            end_of_rib: Some(Family::Ipv4Unicast),
            ..Update::default()
        });
    }
    let mp_reach = a.mp_reach.take();
    if let Some((family, gone)) = a.mp_unreach.take() {
        if gone.is_empty() && withdrawn.is_empty() && nlri.is_empty() && mp_reach.is_none() {
            return Ok(Update {
                end_of_rib: Some(family),
                ..Update::default()
            });
        }
        withdrawn.extend(gone);
    }
    let (mp_next_hop, mp_nlri) = match mp_reach {
        Some(m) => (Some(m.next_hop), m.nlri),
        None => (None, Vec::new()),
    };
    if nlri.is_empty() && mp_nlri.is_empty() {
        // Nothing announced, so nothing to treat as withdrawn either.
        return Ok(Update {
            withdrawn,
            ..Update::default()
        });
    }
    let mut missing = Vec::new();
    if a.origin.is_none() {
        missing.push("ORIGIN");
    }
    if a.as_path.is_none() {
        missing.push("AS_PATH");
    }
    if !nlri.is_empty() && a.next_hop.is_none() {
        missing.push("NEXT_HOP");
    }
    if !missing.is_empty() {
        a.treat_as_withdraw(format!("missing {}", missing.join(", ")));
    }
    let mut update = Update::default();
    match (a.withdraw.take(), a.origin, a.as_path.take()) {
        (None, Some(origin), Some(as_path)) => {
            let segments = merge_as4_path(as_path, a.as4_path.take(), a.aggregator_as);
            let (as_path, as_path_len) = flatten(&segments);
            let path = |next_hop: IpAddr| Path {
                origin,
                as_path: as_path.clone(),
                as_path_len,
                next_hop,
                med: a.med,
                local_pref: if ctx.ebgp { None } else { a.local_pref },
            };
            if let (Some(nh), false) = (a.next_hop, nlri.is_empty()) {
                let p = path(IpAddr::V4(nh));
                update
                    .announced
                    .extend(nlri.into_iter().map(|n| (n, p.clone())));
            }
            if let (Some(nh), false) = (mp_next_hop, mp_nlri.is_empty()) {
                let p = path(nh);
                update
                    .announced
                    .extend(mp_nlri.into_iter().map(|n| (n, p.clone())));
            }
        }
        (why, _, _) => {
            withdrawn.extend(nlri);
            withdrawn.extend(mp_nlri);
            update.treat_as_withdraw = why.or_else(|| Some("malformed attributes".into()));
        }
    }
    // RFC 4271 §3.1: a prefix both withdrawn and announced is announced.
    let announced: HashSet<Prefix> = update.announced.iter().map(|(p, _)| *p).collect();
    withdrawn.retain(|p| !announced.contains(p));
    update.withdrawn = withdrawn;
    Ok(update)
}

/// What to do with an attribute whose flags or value are wrong (RFC 7606
/// §7, RFC 6793 §6, RFC 8092).
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnError {
    Withdraw,
    Discard,
}

/// The flags (optional, transitive) each attribute we check must have,
/// and what an error in it costs. None: not one we know.
fn known(t: u8) -> Option<(bool, bool, OnError)> {
    use OnError::*;
    Some(match t {
        attr::ORIGIN | attr::AS_PATH | attr::NEXT_HOP | attr::LOCAL_PREF => (false, true, Withdraw),
        attr::ATOMIC_AGGREGATE => (false, true, Discard),
        attr::MED | attr::ORIGINATOR_ID | attr::CLUSTER_LIST => (true, false, Withdraw),
        attr::MP_REACH | attr::MP_UNREACH => (true, false, Withdraw),
        attr::AGGREGATOR | attr::AS4_PATH | attr::AS4_AGGREGATOR => (true, true, Discard),
        attr::COMMUNITIES | attr::EXT_COMMUNITIES | attr::LARGE_COMMUNITIES => {
            (true, true, Withdraw)
        }
        _ => return None,
    })
}

fn attr_name(t: u8) -> String {
    let name = match t {
        attr::ORIGIN => "ORIGIN",
        attr::AS_PATH => "AS_PATH",
        attr::NEXT_HOP => "NEXT_HOP",
        attr::MED => "MULTI_EXIT_DISC",
        attr::LOCAL_PREF => "LOCAL_PREF",
        attr::ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
        attr::AGGREGATOR => "AGGREGATOR",
        attr::COMMUNITIES => "COMMUNITIES",
        attr::ORIGINATOR_ID => "ORIGINATOR_ID",
        attr::CLUSTER_LIST => "CLUSTER_LIST",
        attr::MP_REACH => "MP_REACH_NLRI",
        attr::MP_UNREACH => "MP_UNREACH_NLRI",
        attr::EXT_COMMUNITIES => "EXTENDED_COMMUNITIES",
        attr::AS4_PATH => "AS4_PATH",
        attr::AS4_AGGREGATOR => "AS4_AGGREGATOR",
        attr::LARGE_COMMUNITIES => "LARGE_COMMUNITY",
        t => return format!("attribute {t}"),
    };
    name.to_string()
}

/// The path attributes (RFC 4271 §4.3, RFC 7606 §4: an attribute that
/// overruns the attributes is treat-as-withdraw, the Total Path Attribute
/// Length locating the NLRI all the same).
fn decode_attrs(b: &[u8], ctx: UpdateContext) -> Result<Attrs, Notification> {
    let mut a = Attrs::default();
    let mut seen = [false; 256];
    let mut rest = b;
    while !rest.is_empty() {
        let (flags, t) = match rest {
            [flags, t, ..] => (*flags, *t),
            _ => {
                a.treat_as_withdraw("path attributes end in a truncated attribute".into());
                break;
            }
        };
        let head = if flags & flag::EXTENDED_LENGTH != 0 {
            4
        } else {
            3
        };
        let len = if head == 4 {
            be16(rest, 2)
        } else {
            rest.get(2).map(|&l| usize::from(l))
        };
        let Some(value) = len.and_then(|len| rest.get(head..head + len)) else {
            if t == attr::MP_REACH || t == attr::MP_UNREACH {
                // Its NLRI cannot be found, so not even withdrawn.
                return Err(update_error(subcode::OPTIONAL_ATTRIBUTE, rest.to_vec()));
            }
            a.treat_as_withdraw(format!("{} overruns the path attributes", attr_name(t)));
            break;
        };
        let whole = &rest[..head + value.len()];
        rest = &rest[head + value.len()..];
        a.count += 1;
        if std::mem::replace(&mut seen[usize::from(t)], true) {
            // RFC 7606 §3(g): a repeated MP attribute is a reset; any
            // other repeat is discarded.
            if t == attr::MP_REACH || t == attr::MP_UNREACH {
                return Err(update_error(subcode::MALFORMED_ATTRIBUTE_LIST, vec![]));
            }
            continue;
        }
        decode_attr(&mut a, flags, t, value, whole, ctx)?;
    }
    Ok(a)
}

fn decode_attr(
    a: &mut Attrs,
    flags: u8,
    t: u8,
    value: &[u8],
    whole: &[u8],
    ctx: UpdateContext,
) -> Result<(), Notification> {
    let Some((optional, transitive, on_error)) = known(t) else {
        if flags & flag::OPTIONAL == 0 {
            return Err(update_error(
                subcode::UNRECOGNIZED_WELL_KNOWN,
                whole.to_vec(),
            ));
        }
        // Unknown optional attributes: we propagate nothing, so skipped.
        return Ok(());
    };
    let flags_ok =
        (flags & flag::OPTIONAL != 0) == optional && (flags & flag::TRANSITIVE != 0) == transitive;
    let mp = t == attr::MP_REACH || t == attr::MP_UNREACH;
    if !flags_ok && !mp {
        if on_error == OnError::Withdraw {
            a.treat_as_withdraw(format!("{} has the wrong flags {flags:#04x}", attr_name(t)));
        }
        return Ok(());
    }
    let bad = |what: &str| format!("malformed {} ({what})", attr_name(t));
    let len = value.len();
    let u32_value = || be32(value, 0).filter(|_| len == 4);
    match t {
        attr::ORIGIN => match value {
            [o @ 0..=2] => a.origin = Some(*o),
            [o] => a.treat_as_withdraw(bad(&format!("value {o}"))),
            _ => a.treat_as_withdraw(bad(&format!("length {len}"))),
        },
        attr::AS_PATH => match decode_segments(value, if ctx.four_octet { 4 } else { 2 }) {
            Ok(s) => a.as_path = Some(s),
            Err(why) => a.treat_as_withdraw(bad(why)),
        },
        attr::NEXT_HOP => match u32_value().map(Ipv4Addr::from) {
            Some(nh) if usable_v4(nh) => a.next_hop = Some(nh),
            Some(nh) => a.treat_as_withdraw(format!("NEXT_HOP {nh} is not a unicast address")),
            None => a.treat_as_withdraw(bad(&format!("length {len}"))),
        },
        attr::MED => match u32_value() {
            Some(v) => a.med = Some(v),
            None => a.treat_as_withdraw(bad(&format!("length {len}"))),
        },
        attr::LOCAL_PREF => match u32_value() {
            Some(v) => a.local_pref = Some(v),
            None => a.treat_as_withdraw(bad(&format!("length {len}"))),
        },
        attr::AGGREGATOR => {
            // 2 + 4 octets, or 4 + 4 on a 4-octet session; AS 0 is
            // malformed (RFC 7607). Discarded when wrong.
            let asn = match (ctx.four_octet, len) {
                (false, 6) => be16(value, 0).map(|v| v as u32),
                (true, 8) => be32(value, 0),
                _ => None,
            };
            a.aggregator_as = asn.filter(|&asn| asn != 0);
        }
        attr::AS4_PATH if !ctx.four_octet => a.as4_path = decode_segments(value, 4).ok(),
        attr::MP_REACH => {
            a.mp_reach = decode_mp_reach(value, whole)?;
            if !flags_ok {
                a.treat_as_withdraw(format!("MP_REACH_NLRI has the wrong flags {flags:#04x}"));
            }
            if let Some(m) = &a.mp_reach {
                if !usable(m.next_hop) {
                    a.treat_as_withdraw(format!(
                        "next hop {} is not a unicast address",
                        m.next_hop
                    ));
                }
            }
        }
        attr::MP_UNREACH => a.mp_unreach = decode_mp_unreach(value, whole)?,
        _ => {
            let fits = match t {
                attr::ATOMIC_AGGREGATE => len == 0,
                attr::ORIGINATOR_ID => len == 4,
                attr::COMMUNITIES | attr::CLUSTER_LIST => len.is_multiple_of(4),
                attr::EXT_COMMUNITIES => len.is_multiple_of(8),
                attr::LARGE_COMMUNITIES => len.is_multiple_of(12),
                // AS4_PATH on a 4-octet session, AS4_AGGREGATOR: not used.
                _ => true,
            };
            if !fits && on_error == OnError::Withdraw {
                a.treat_as_withdraw(bad(&format!("length {len}")));
            }
        }
    }
    Ok(())
}

/// A NEXT_HOP that can be one: not 0.0.0.0, multicast, broadcast or class E.
fn usable_v4(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.octets()[0] >= 240)
}

fn usable(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => usable_v4(a),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

/// AS_PATH segments with `width`-octet numbers. Malformed (RFC 7606
/// §7.2): an unknown segment type, an empty segment, one that overruns the
/// attribute, octets left over; AS 0 too (RFC 7607).
fn decode_segments(mut b: &[u8], width: usize) -> Result<Vec<Segment>, &'static str> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let [kind, n, rest @ ..] = b else {
            return Err("a truncated segment");
        };
        if !(AS_SET..=AS_CONFED_SET).contains(kind) {
            return Err("an unknown segment type");
        }
        if *n == 0 {
            return Err("an empty segment");
        }
        let Some(bytes) = rest.get(..usize::from(*n) * width) else {
            return Err("a segment overruns the attribute");
        };
        let asns: Vec<u32> = bytes
            .chunks_exact(width)
            .map(|c| c.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
            .collect();
        if asns.contains(&0) {
            return Err("AS 0");
        }
        out.push(Segment { kind: *kind, asns });
        b = &rest[bytes.len()..];
    }
    Ok(out)
}

/// How many ASes a path counts (RFC 4271 §9.1.2.2: a set counts one;
/// RFC 5065: confederation segments count none).
fn path_count(segments: &[Segment]) -> usize {
    segments
        .iter()
        .map(|s| match s.kind {
            AS_SEQUENCE => s.asns.len(),
            AS_SET => 1,
            _ => 0,
        })
        .sum()
}

/// RFC 6793 §4.2.3: the path from a 2-octet speaker, with the 4-octet
/// numbers of its AS4_PATH. AS4_PATH is ignored when it counts more ASes
/// than AS_PATH, or when an AGGREGATOR not from AS_TRANS says the route
/// was aggregated by a 2-octet speaker (so AS4_PATH is stale); otherwise
/// the leading ASes of AS_PATH come before it, up to AS_PATH's count.
fn merge_as4_path(
    as_path: Vec<Segment>,
    as4_path: Option<Vec<Segment>>,
    aggregator: Option<u32>,
) -> Vec<Segment> {
    let Some(as4) = as4_path else {
        return as_path;
    };
    let as4: Vec<Segment> = as4
        .into_iter()
        .filter(|s| s.kind == AS_SEQUENCE || s.kind == AS_SET)
        .collect();
    let (n, n4) = (path_count(&as_path), path_count(&as4));
    if n < n4 || aggregator.is_some_and(|asn| asn != AS_TRANS) {
        return as_path;
    }
    let mut need = n - n4;
    let mut out = Vec::new();
    for s in as_path {
        if need == 0 {
            break;
        }
        match s.kind {
            AS_SEQUENCE => {
                let take = need.min(s.asns.len());
                need -= take;
                out.push(Segment {
                    kind: s.kind,
                    asns: s.asns[..take].to_vec(),
                });
            }
            AS_SET => {
                need -= 1;
                out.push(s);
            }
            // Confederation segments count for nothing, and go along.
            _ => out.push(s),
        }
    }
    out.extend(as4);
    out
}

/// The AS path as `Path` has it, and its length for best-path.
fn flatten(segments: &[Segment]) -> (Vec<u32>, usize) {
    let asns = segments
        .iter()
        .filter(|s| s.kind == AS_SEQUENCE || s.kind == AS_SET)
        .flat_map(|s| s.asns.iter().copied())
        .collect();
    (asns, path_count(segments))
}

fn optional_attribute_error(whole: &[u8]) -> Notification {
    update_error(subcode::OPTIONAL_ATTRIBUTE, whole.to_vec())
}

/// RFC 4760 §3. None for a family we do not take; a next hop of a length
/// the family does not have, or NLRI that does not parse, is a session
/// reset (RFC 7606 §7.11: the NLRI cannot be located reliably). Of a 32
/// octet IPv6 next hop (global, link-local) the global one is used.
fn decode_mp_reach(v: &[u8], whole: &[u8]) -> Result<Option<MpReach>, Notification> {
    let err = || optional_attribute_error(whole);
    let (Some(afi), Some(&safi), Some(&nh_len)) = (be16(v, 0), v.get(2), v.get(3)) else {
        return Err(err());
    };
    let nh_len = usize::from(nh_len);
    let (Some(nh), Some(nlri)) = (v.get(4..4 + nh_len), v.get(4 + nh_len + 1..)) else {
        return Err(err());
    };
    let Some(family) = Family::from_afi_safi(afi as u16, safi) else {
        return Ok(None);
    };
    let next_hop = match (family, nh.len()) {
        (Family::Ipv4Unicast, 4) => IpAddr::from([nh[0], nh[1], nh[2], nh[3]]),
        (Family::Ipv6Unicast, 16 | 32) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&nh[..16]);
            IpAddr::from(a)
        }
        _ => return Err(err()),
    };
    let mut prefixes = Vec::new();
    decode_prefixes(nlri, family, &mut prefixes).map_err(|_| err())?;
    Ok(Some(MpReach {
        next_hop,
        nlri: prefixes,
    }))
}

fn decode_mp_unreach(
    v: &[u8],
    whole: &[u8],
) -> Result<Option<(Family, Vec<Prefix>)>, Notification> {
    let err = || optional_attribute_error(whole);
    let (Some(afi), Some(&safi)) = (be16(v, 0), v.get(2)) else {
        return Err(err());
    };
    let Some(family) = Family::from_afi_safi(afi as u16, safi) else {
        return Ok(None);
    };
    let mut prefixes = Vec::new();
    decode_prefixes(&v[3..], family, &mut prefixes).map_err(|_| err())?;
    Ok(Some((family, prefixes)))
}

/// One path attribute, with the extended length flag when it needs it.
pub fn attribute(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + value.len());
    if value.len() > 255 {
        out.extend_from_slice(&[flags | flag::EXTENDED_LENGTH, code]);
        out.extend_from_slice(&(value.len().min(0xffff) as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[flags & !flag::EXTENDED_LENGTH, code, value.len() as u8]);
    }
    out.extend_from_slice(&value[..value.len().min(0xffff)]);
    out
}

/// An UPDATE from its three parts, as RFC 4271 §4.3 lays them out.
pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + withdrawn.len() + attrs.len() + nlri.len());
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    message(kind::UPDATE, &body)
}

/// AS_SEQUENCE segments of at most 255 ASes, `width` octets each.
fn encode_sequence(asns: &[u32], width: usize, out: &mut Vec<u8>) {
    for chunk in asns.chunks(255) {
        out.extend_from_slice(&[AS_SEQUENCE, chunk.len() as u8]);
        for &asn in chunk {
            out.extend_from_slice(&asn.to_be_bytes()[4 - width..]);
        }
    }
}

/// An UPDATE announcing `prefixes` with `path`, as a peer would send it
/// (for tests and fakes): IPv4 prefixes in the NLRI field with NEXT_HOP,
/// IPv6 ones in MP_REACH_NLRI; the next hop must be of their family. The
/// AS path goes as one sequence; on a 2-octet session (`four_octet`
/// false) 4-octet numbers become AS_TRANS, with AS4_PATH carrying them.
pub fn announce(prefixes: &[Prefix], path: &Path, four_octet: bool) -> Vec<u8> {
    let transitive = flag::TRANSITIVE;
    let mut attrs = attribute(transitive, attr::ORIGIN, &[path.origin]);
    let mut seq = Vec::new();
    if four_octet {
        encode_sequence(&path.as_path, 4, &mut seq);
    } else {
        let two: Vec<u32> = path
            .as_path
            .iter()
            .map(|&a| if a > 0xffff { AS_TRANS } else { a })
            .collect();
        encode_sequence(&two, 2, &mut seq);
    }
    attrs.extend(attribute(transitive, attr::AS_PATH, &seq));
    if !four_octet && path.as_path.iter().any(|&a| a > 0xffff) {
        let mut seq4 = Vec::new();
        encode_sequence(&path.as_path, 4, &mut seq4);
        attrs.extend(attribute(
            flag::OPTIONAL | transitive,
            attr::AS4_PATH,
            &seq4,
        ));
    }
    if let IpAddr::V4(nh) = path.next_hop {
        attrs.extend(attribute(transitive, attr::NEXT_HOP, &nh.octets()));
    }
    if let Some(med) = path.med {
        attrs.extend(attribute(flag::OPTIONAL, attr::MED, &med.to_be_bytes()));
    }
    if let Some(lp) = path.local_pref {
        attrs.extend(attribute(transitive, attr::LOCAL_PREF, &lp.to_be_bytes()));
    }
    let (v4, v6): (Vec<Prefix>, Vec<Prefix>) = prefixes
        .iter()
        .partition(|p| p.family() == Family::Ipv4Unicast);
    if let (IpAddr::V6(nh), false) = (path.next_hop, v6.is_empty()) {
        let mut mp = vec![0, 2, 1, 16];
        mp.extend_from_slice(&nh.octets());
        mp.push(0);
        encode_prefixes(&v6, &mut mp);
        attrs.extend(attribute(flag::OPTIONAL, attr::MP_REACH, &mp));
    }
    let mut nlri = Vec::new();
    encode_prefixes(&v4, &mut nlri);
    update(&[], &attrs, &nlri)
}

/// An UPDATE withdrawing `prefixes`: IPv4 in the withdrawn routes field,
/// IPv6 in MP_UNREACH_NLRI.
pub fn withdraw(prefixes: &[Prefix]) -> Vec<u8> {
    let (v4, v6): (Vec<Prefix>, Vec<Prefix>) = prefixes
        .iter()
        .partition(|p| p.family() == Family::Ipv4Unicast);
    let mut withdrawn = Vec::new();
    encode_prefixes(&v4, &mut withdrawn);
    let mut attrs = Vec::new();
    if !v6.is_empty() {
        let mut mp = vec![0, 2, 1];
        encode_prefixes(&v6, &mut mp);
        attrs = attribute(flag::OPTIONAL, attr::MP_UNREACH, &mp);
    }
    update(&withdrawn, &attrs, &[])
}

/// The End-of-RIB marker (RFC 4724 §2): an empty UPDATE for IPv4 unicast,
/// an empty MP_UNREACH_NLRI for another family.
pub fn end_of_rib(family: Family) -> Vec<u8> {
    match family {
        Family::Ipv4Unicast => update(&[], &[], &[]),
        f => {
            let (afi, safi) = f.afi_safi();
            let mut v = afi.to_be_bytes().to_vec();
            v.push(safi);
            update(&[], &attribute(flag::OPTIONAL, attr::MP_UNREACH, &v), &[])
        }
    }
}

#[cfg(test)]
mod tests;
