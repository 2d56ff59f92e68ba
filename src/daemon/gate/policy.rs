//! The gate's rules as data, without sockets or a clock of their own: which
//! connection gives way when every slot is taken, and how clients are
//! counted (per address; per /64 for IPv6).

use std::net::IpAddr;
use std::time::Instant;

/// What a connection is doing, as far as giving way goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Answered and closing (reading what the client still sends so that
    /// the answer is not lost to a reset).
    Closing,
    /// Between requests since then.
    Idle(Instant),
    /// Sending a request since then (its first byte, or its accept).
    Sending(Instant),
    /// Its request is at the workers or its answer is being written.
    Served,
}

/// The connection that gives way to a newcomer: one that is closing, else
/// the one idle longest between requests, else the one that has been
/// sending its request longest; between equals, the lowest key (the gate's
/// keys count up, so the oldest). A request at the workers, or an answer
/// on its way, is never cut off.
pub fn victim<K: Ord>(conns: impl IntoIterator<Item = (K, Standing)>) -> Option<K> {
    conns
        .into_iter()
        .filter_map(|(k, s)| match s {
            Standing::Closing => Some((0, None, k)),
            Standing::Idle(t) => Some((1, Some(t), k)),
            Standing::Sending(t) => Some((2, Some(t), k)),
            Standing::Served => None,
        })
        .min()
        .map(|(_, _, k)| k)
}

/// Who a connection counts against: its address (an IPv4 client through an
/// IPv6 socket as itself), or for IPv6 its /64, which one host can fill
/// with addresses.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_closing_then_the_idle_longest_then_the_slowest_give_way() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let pick = |conns: &[(u8, Standing)]| victim(conns.iter().copied());
        let sending = [(1, Standing::Sending(at(5))), (2, Standing::Sending(at(1)))];
        assert_eq!(pick(&sending), Some(2));
        let idle = [
            sending[0],
            (3, Standing::Idle(at(9))),
            (4, Standing::Idle(at(3))),
        ];
        assert_eq!(pick(&idle), Some(4));
        let closing = [idle[0], idle[1], (5, Standing::Closing)];
        assert_eq!(pick(&closing), Some(5));
        let same = [(8, Standing::Sending(at(1))), (7, Standing::Sending(at(1)))];
        assert_eq!(pick(&same), Some(7));
        assert_eq!(pick(&[(6, Standing::Served)]), None);
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn clients_count_by_address_and_ipv6_by_its_64() {
        let key = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(key("10.1.2.3"), "10.1.2.3");
        assert_eq!(key("::ffff:10.1.2.3"), "10.1.2.3");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:bbbb::7"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}
