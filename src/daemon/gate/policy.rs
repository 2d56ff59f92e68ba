//! The gate's rules as data, without sockets or a clock of their own: which
//! connection gives way when every slot is taken, how clients are counted
//! (per address; per /64 for IPv6), and how refusals are logged without
//! flooding the log (the first of each reason, then a count every window).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

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

/// Rate-limited refusal logging: the first refusal of a reason is logged
/// in full; the rest are counted, and the count logged once its window has
/// passed. So a flood logs about one line per reason per window.
#[derive(Debug)]
pub struct Quiet {
    window: Duration,
    tallies: BTreeMap<&'static str, Tally>,
}

#[derive(Debug)]
struct Tally {
    since: Instant,
    more: u64,
}

/// Refusals of one reason that were not logged one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub reason: &'static str,
    pub count: u64,
    pub over: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused {} more connection{} in the last {} s ({})",
            thousands(self.count),
            if self.count == 1 { "" } else { "s" },
            self.over.as_secs_f64().ceil().max(1.0),
            self.reason
        )
    }
}

impl Quiet {
    pub fn new(window: Duration) -> Quiet {
        Quiet {
            window,
            tallies: BTreeMap::new(),
        }
    }

    /// Whether this refusal is logged in full; if not, it is counted.
    pub fn first(&mut self, reason: &'static str, now: Instant) -> bool {
        match self.tallies.get_mut(reason) {
            Some(t) => {
                t.more += 1;
                false
            }
            None => {
                self.tallies.insert(
                    reason,
                    Tally {
                        since: now,
                        more: 0,
                    },
                );
                true
            }
        }
    }

    /// The counts whose window has passed by `now` (all of them at the
    /// end). A reason with nothing counted in its window is forgotten, so
    /// that its next refusal is logged in full again.
    pub fn due(&mut self, now: Instant, end: bool) -> Vec<Summary> {
        let mut out = Vec::new();
        self.tallies.retain(|&reason, t| {
            let over = now.saturating_duration_since(t.since);
            if !end && over < self.window {
                return true;
            }
            if t.more == 0 {
                return false;
            }
            out.push(Summary {
                reason,
                count: t.more,
                over,
            });
            *t = Tally {
                since: now,
                more: 0,
            };
            true
        });
        out
    }

    /// When the next window ends, if any is open.
    pub fn next_due(&self) -> Option<Instant> {
        self.tallies.values().map(|t| t.since + self.window).min()
    }
}

/// 1936 -> "1,936".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_flood_logs_one_line_per_reason_per_window() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut q = Quiet::new(Duration::from_secs(10));
        assert!(q.first("busy", s(0)));
        assert!(q.first("timeout", s(0)));
        let logged = (0..1936).filter(|_| q.first("busy", s(1))).count();
        assert_eq!(logged, 0);
        assert_eq!(q.due(s(9), false), []);
        assert_eq!(q.next_due(), Some(s(10)));
        let due = q.due(s(10), false);
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(
            due[0].to_string(),
            "refused 1,936 more connections in the last 10 s (busy)"
        );
        // Still flooding: counted on; a quiet window ends the tally.
        assert!(!q.first("busy", s(12)));
        assert_eq!(
            q.due(s(20), false)[0].to_string(),
            "refused 1 more connection in the last 10 s (busy)"
        );
        assert_eq!(q.due(s(30), false), []);
        assert!(q.first("busy", s(31)));
        assert!(q.first("timeout", s(31)));
        // At the end, what was counted is logged at once.
        assert!(!q.first("busy", s(32)));
        assert_eq!(q.due(s(33), true)[0].count, 1);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
