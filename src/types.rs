//! Domain types that are validated once, when they are parsed.
//!
//! A value of one of these types is known to be well formed, so the route
//! logic never re-checks it. They derive no serde: JSON and XML live at the
//! edges and convert into these.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why a value given by the user (or read from AWS) is not well formed.
/// The message says what was wrong and, where it can, what would be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// An IPv4 or IPv6 network in canonical form: no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

/// A CIDR hashes as one word (IPv4) or three (IPv6), not as the derived
/// field-by-field bytes: the reconcile planner looks up every route of
/// every table by its CIDR, and the derived hash made five hasher calls
/// per lookup. Equal CIDRs hash equally, as `Eq` requires.
impl std::hash::Hash for Cidr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self.addr {
            IpAddr::V4(a) => state.write_u64(u64::from(a.to_bits()) << 8 | u64::from(self.len)),
            IpAddr::V6(a) => {
                state.write_u128(a.to_bits());
                state.write_u8(self.len);
            }
        }
    }
}

impl Cidr {
    /// The network of `addr` with `len` bits (host bits cleared); `None`
    /// for a length too long for the family.
    pub fn new(addr: IpAddr, len: u8) -> Option<Cidr> {
        let addr = match addr {
            IpAddr::V4(ip) if len <= 32 => IpAddr::V4(mask_v4(ip, len)),
            IpAddr::V6(ip) if len <= 128 => IpAddr::V6(mask_v6(ip, len)),
            _ => return None,
        };
        Some(Cidr { addr, len })
    }

    /// The network address (host bits are zero by construction).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(ip, self.len) == net,
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_v6(ip, self.len) == net,
            _ => false,
        }
    }

    /// Whether `other` lies wholly inside this network (or is it).
    pub fn covers(&self, other: &Cidr) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }
}

fn mask_v4(ip: Ipv4Addr, len: u8) -> Ipv4Addr {
    let bits = u32::from(ip);
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    Ipv4Addr::from(bits & mask)
}

fn mask_v6(ip: Ipv6Addr, len: u8) -> Ipv6Addr {
    let bits = u128::from(ip);
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    Ipv6Addr::from(bits & mask)
}

/// `s` as an IPv4 CIDR block in its plain form (1 to 3 digits per octet,
/// no leading zeros, a prefix length of 1 or 2 digits, no host bits), in
/// one pass over the bytes; `None` for anything else, which the general
/// parser below then reads (and refuses or accepts as before). Every route
/// of an EC2 answer holds one of these: at opt-level "z" the general path
/// (`split_once`, std's address parser) cost ~700 instructions a block.
fn plain_v4(s: &[u8]) -> Option<Cidr> {
    let mut octets = [0u8; 4];
    let (mut i, mut v, mut digits) = (0, 0u32, 0);
    for (pos, &b) in s.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                if (digits == 1 && v == 0) || digits == 3 {
                    return None;
                }
                v = v * 10 + u32::from(b - b'0');
                digits += 1;
            }
            b'.' | b'/' if digits > 0 && i < 4 => {
                octets[i] = u8::try_from(v).ok()?;
                (i, v, digits) = (i + 1, 0, 0);
                if b == b'/' {
                    let len = match s.get(pos + 1..)? {
                        [d] if d.is_ascii_digit() => d - b'0',
                        [d, e] if d.is_ascii_digit() && e.is_ascii_digit() => {
                            (d - b'0') * 10 + (e - b'0')
                        }
                        _ => return None,
                    };
                    let addr = Ipv4Addr::from(octets);
                    return (i == 4 && len <= 32 && mask_v4(addr, len) == addr).then_some(Cidr {
                        addr: IpAddr::V4(addr),
                        len,
                    });
                }
            }
            _ => return None,
        }
    }
    None
}

impl FromStr for Cidr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        if let Some(cidr) = plain_v4(s.as_bytes()) {
            return Ok(cidr);
        }
        let bad = |why: &str| {
            ParseError(format!(
                "'{s}' is not a CIDR block ({why}); expected an address and prefix length \
                 such as 10.55.0.0/16 or 2001:db8::/56"
            ))
        };
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| bad("no '/' and prefix length"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad("the address is not an IP address"))?;
        // Only plain decimal digits: "+8" or " 8" parse as u8 but are not CIDR notation.
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
            return Err(bad("the prefix length is not a number"));
        }
        let len: u8 = len
            .parse()
            .map_err(|_| bad("the prefix length is not a number"))?;
        let (max, canonical) = match addr {
            IpAddr::V4(a) => (32, IpAddr::V4(mask_v4(a, len.min(32)))),
            IpAddr::V6(a) => (128, IpAddr::V6(mask_v6(a, len.min(128)))),
        };
        if len > max {
            return Err(bad(&format!("the prefix length must be 0 to {max}")));
        }
        if canonical != addr {
            return Err(ParseError(format!(
                "{s} has host bits set; did you mean {canonical}/{len}?"
            )));
        }
        Ok(Cidr { addr, len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Parses a router IP given by the user (`--ip`, the API's `router_ip`,
/// spec hosts), with a message that names it. An IPv4-mapped IPv6 address
/// (`::ffff:10.33.20.142`) is the IPv4 address it maps: EC2 knows the
/// interface by that one, and would find none by the other.
pub fn parse_ip(s: &str) -> Result<IpAddr, ParseError> {
    let ip: IpAddr = s.parse().map_err(|_| {
        ParseError(format!(
            "'{s}' is not an IP address; expected an address such as 10.33.20.142"
        ))
    })?;
    Ok(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

/// Defines a newtype for an AWS resource ID such as `vpc-0a1b2c3d`.
///
/// AWS IDs are a fixed prefix, a dash and 8 or 17 lowercase hex digits. We
/// accept any length from 8 to 17 so that IDs from emulators (which sometimes
/// use other lengths) still work, but insist on the prefix and on hex.
///
/// The text is shared (`Arc<Box<str>>`): a VPC's routes name the same few
/// router interfaces and instances thousands of times, and a clone is a
/// count. The `Box` makes the pointer thin (8 bytes, and 8 as an `Option`
/// too, where `Arc<str>` takes 16): every observed route holds two.
macro_rules! aws_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(std::sync::Arc<Box<str>>);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, ParseError> {
                let ok = s
                    .strip_prefix(concat!($prefix, "-"))
                    .is_some_and(|hex| {
                        (8..=17).contains(&hex.len())
                            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    });
                if ok {
                    Ok($name(std::sync::Arc::new(s.into())))
                } else {
                    Err(ParseError(format!(
                        concat!("'{}' is not a ", $what, " ID; expected '", $prefix,
                                "-' followed by 8 or 17 hex digits, such as ", $prefix, "-0a1b2c3d"),
                        s
                    )))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

aws_id!(
    /// A VPC ID, `vpc-...`.
    VpcId, "vpc", "VPC"
);
aws_id!(
    /// A route table ID, `rtb-...`.
    RouteTableId, "rtb", "route table"
);
aws_id!(
    /// An elastic network interface ID, `eni-...`.
    EniId, "eni", "network interface"
);
aws_id!(
    /// An EC2 instance ID, `i-...`.
    InstanceId, "i", "instance"
);

/// An AWS region name such as `us-east-1` or `cn-north-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region(String);

impl Region {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Region {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        // Lowercase words joined by dashes, ending in a number: us-east-1,
        // us-gov-west-1, ap-southeast-4. Checked loosely so new regions work.
        let parts: Vec<&str> = s.split('-').collect();
        let ok = parts.len() >= 3
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
            && !parts[parts.len() - 1].is_empty();
        if ok {
            Ok(Region(s.to_string()))
        } else {
            Err(ParseError(format!(
                "'{s}' is not an AWS region name; expected one such as us-east-1 or eu-central-1"
            )))
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Result<String, String> {
        s.parse::<Cidr>().map(|c| c.to_string()).map_err(|e| e.0)
    }

    // The fast IPv4 path reads what the general one reads, and leaves the
    // rest to it.
    #[test]
    fn plain_v4_agrees_with_the_general_parser() {
        for s in [
            "10.33.20.0/24",
            "0.0.0.0/0",
            "255.255.255.255/32",
            "10.0.0.0/8",
            "10.0.0.0/08",
            "256.1.1.0/24",
            "01.2.3.0/24",
            "1.2.3/24",
            "1.2.3.4.5/32",
            "1..3.4/32",
            "1.2.3./24",
            "",
            "a.b.c.d/8",
            "1.2.3.4 /32",
            "1.2.3.4/ 32",
            "1.2.3.4/+32",
            "1000.1.1.0/24",
            "1.2.3.4/33",
            "1.2.3.4/24",
            "1.2.3.4/",
            "1.2.3.4",
            "1.2.3.4/032",
            "::/0",
            "10.0.0.0/8/8",
        ] {
            if let Some(fast) = plain_v4(s.as_bytes()) {
                let (addr, len) = s.split_once('/').unwrap();
                let general = Cidr::new(addr.parse().unwrap(), len.parse().unwrap());
                assert_eq!(Some(fast), general, "{s}");
                assert_eq!(
                    fast.to_string().replace("/8", "/08"),
                    s.replace("/8", "/08")
                );
            } else {
                assert!(
                    !matches!(s, "10.33.20.0/24" | "0.0.0.0/0" | "255.255.255.255/32"),
                    "{s}"
                );
            }
        }
        assert!("010.55.0.0/16".parse::<Cidr>().is_err());
        assert!("10.55.0.1/16".parse::<Cidr>().is_err());
        assert!("10.55.0.0/33".parse::<Cidr>().is_err());
        assert_eq!("10.0.0.0/08".parse::<Cidr>().unwrap().prefix_len(), 8);
    }

    #[test]
    fn cidrs_parse_in_canonical_form() {
        assert_eq!(cidr("10.55.0.0/16"), Ok("10.55.0.0/16".into()));
        assert_eq!(cidr("0.0.0.0/0"), Ok("0.0.0.0/0".into()));
        assert_eq!(cidr("10.1.2.3/32"), Ok("10.1.2.3/32".into()));
        assert_eq!(cidr("2001:db8::/56"), Ok("2001:db8::/56".into()));
        assert_eq!(cidr("::/0"), Ok("::/0".into()));
    }

    #[test]
    fn host_bits_are_refused_with_the_canonical_form() {
        assert_eq!(
            cidr("10.55.1.0/16"),
            Err("10.55.1.0/16 has host bits set; did you mean 10.55.0.0/16?".into())
        );
        assert_eq!(
            cidr("2001:db8::1/64"),
            Err("2001:db8::1/64 has host bits set; did you mean 2001:db8::/64?".into())
        );
    }

    #[test]
    fn malformed_cidrs_say_what_is_wrong() {
        for bad in [
            "10.55.0.0",
            "10.55.0.0/33",
            "10.55.0/16",
            "x/8",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "::/129",
        ] {
            let err = cidr(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
            assert!(
                err.contains("10.55.0.0/16"),
                "error should show an example: {err}"
            );
        }
    }

    #[test]
    fn cidr_contains() {
        let c: Cidr = "10.55.0.0/16".parse().unwrap();
        assert!(c.contains("10.55.200.1".parse().unwrap()));
        assert!(!c.contains("10.56.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
    }

    #[test]
    fn ids_validate_prefix_and_hex() {
        assert!("vpc-350d6a51".parse::<VpcId>().is_ok());
        assert!("vpc-0123456789abcdef0".parse::<VpcId>().is_ok());
        assert!("rtb-0a1b2c3d".parse::<RouteTableId>().is_ok());
        assert!("i-0a1b2c3d".parse::<InstanceId>().is_ok());
        let err = "vpc-xyz".parse::<VpcId>().unwrap_err().0;
        assert!(err.contains("'vpc-xyz' is not a VPC ID"), "{err}");
        assert!("rtb-350d6a51".parse::<VpcId>().is_err());
        assert!("vpc-350D6A51".parse::<VpcId>().is_err());
        assert!("vpc-".parse::<VpcId>().is_err());
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-4",
            "us-isob-east-1",
        ] {
            assert!(ok.parse::<Region>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us_east_1",
            "us-east-1 ",
            "east-1",
        ] {
            assert!(bad.parse::<Region>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ips() {
        assert!(parse_ip("10.33.20.142").is_ok());
        assert!(parse_ip("fd00::1").is_ok());
        assert!(parse_ip("10.33.20")
            .unwrap_err()
            .0
            .contains("'10.33.20' is not an IP address"));
        // Issue 14: the mapped form reached EC2 as it was, and matched no
        // interface.
        assert_eq!(
            parse_ip("::ffff:10.33.20.142").unwrap(),
            "10.33.20.142".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_ip("::FFFF:a21:148e").unwrap().to_string(),
            "10.33.20.142"
        );
        // Not mapped: stays IPv6 (the deprecated compatible form too).
        assert!(parse_ip("::10.33.20.142").unwrap().is_ipv6());
        assert!(parse_ip("64:ff9b::a21:148e").unwrap().is_ipv6());
    }
}
