//! Health monitors for routers: is each host of the route spec answering?
//!
//! This module owns the checks and nothing else: a [`Probe`] (`tcp`, `icmp`,
//! or `multi` of those) says whether one address answers; a [`Tracker`]
//! turns results into a [`State`] with `fall`/`rise` hysteresis (pure, time
//! passed in); a [`Monitor`] checks every host on a fixed pool of threads
//! and sends a [`Transition`] on each change so the caller can fail over at
//! once. It knows no EC2 and no routes, reads no environment and logs
//! nothing: what it has to say is in the transitions and [`Monitor::snapshot`].
//!
//! Defaults ([`Settings::default`]): a check every 1 s per host, 0.5 s
//! timeout, 3 failures in a row mark a host failed, 2 successes in a row mark
//! it healthy again, TCP checks on port 22, at most 16 checking threads.
//! Failover is therefore detected in about `fall × interval` (3 s), and
//! intervals below a second are allowed: 0.05 s with a 0.05 s timeout is
//! the README's fast-detection setting (detection in 100-200 ms, about
//! 20 connects a second per router).
//! A new host is `Unknown` until `rise` successes or `fall` failures in a
//! row decide it; what `Unknown` means for routing is the caller's choice.

mod icmp;
mod monitor;
mod probe;
mod tracker;

use crate::clock::Clock;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use icmp::IcmpProbe;
pub use monitor::{HostStatus, Monitor};
pub use probe::{MultiProbe, Probe, TcpProbe};
pub use tracker::Tracker;

use crate::spec::Host;

/// What is known about a host's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not enough results yet: fewer than `rise` successes or `fall`
    /// failures in a row since the host was added.
    Unknown,
    Healthy,
    Failed,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Unknown => "unknown",
            State::Healthy => "healthy",
            State::Failed => "failed",
        })
    }
}

/// A change of a host's state, sent as soon as the deciding check ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The router IP (the host's identity, not its check address).
    pub ip: IpAddr,
    pub from: State,
    pub to: State,
    /// When the deciding check ended.
    pub detected: Instant,
    /// Why, for the log: e.g. "3 failed checks in a row, the last: tcp
    /// 10.0.0.5:22: connection refused".
    pub reason: String,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "router {}: {} -> {} ({})",
            self.ip, self.from, self.to, self.reason
        )
    }
}

/// Where a host is probed: `host.check` when the spec gives one, else the
/// router IP itself. `port` is used by the TCP probe (its configured port
/// when `None`); ICMP ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbeTarget {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl ProbeTarget {
    pub fn of(host: &Host) -> ProbeTarget {
        match host.check {
            Some(c) => ProbeTarget {
                ip: c.ip,
                port: c.port,
            },
            None => ProbeTarget {
                ip: host.ip,
                port: None,
            },
        }
    }
}

impl fmt::Display for ProbeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => SocketAddr::new(self.ip, p).fmt(f),
            None => self.ip.fmt(f),
        }
    }
}

/// How hosts are checked. Validated by [`Settings::validate`]; the
/// [`Monitor`] clamps what it cannot use (a zero `fall` counts as 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Time between the starts of two checks of one host.
    pub interval: Duration,
    /// How long one check may take before it counts as failed.
    pub timeout: Duration,
    /// Failed checks in a row that mark a host failed.
    pub fall: u32,
    /// Successful checks in a row that mark a host healthy.
    pub rise: u32,
    /// The TCP port checked when the host's check address has none.
    pub tcp_port: u16,
    /// The checking threads, all started with the monitor: at most this
    /// many checks run at once.
    pub threads: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            fall: 3,
            rise: 2,
            tcp_port: 22,
            threads: 16,
        }
    }
}

impl Settings {
    /// Checks the values, naming the one at fault, for the command line.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval.is_zero() {
            return Err("the health check interval must be more than 0 seconds".into());
        }
        if self.timeout.is_zero() {
            return Err("the health check timeout must be more than 0 seconds".into());
        }
        if self.fall == 0 {
            return Err(
                "fall (failed checks in a row to mark a router failed) must be at least 1".into(),
            );
        }
        if self.rise == 0 {
            return Err(
                "rise (successful checks in a row to mark a router healthy) must be at least 1"
                    .into(),
            );
        }
        if self.tcp_port == 0 {
            return Err("the TCP health check port must be between 1 and 65535".into());
        }
        if self.threads == 0 || self.threads > 256 {
            return Err("the number of health check threads must be between 1 and 256".into());
        }
        Ok(())
    }
}

/// A monitor as named on the command line (`--health`, `--multi-plugins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Every host is healthy; nothing is checked.
    None,
    Tcp,
    Icmp,
    /// Every member checks the host; it fails if any of them fails it.
    Multi(Vec<Kind>),
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::None => f.write_str("none"),
            Kind::Tcp => f.write_str("tcp"),
            Kind::Icmp => f.write_str("icmp"),
            Kind::Multi(ks) => {
                let names: Vec<String> = ks.iter().map(Kind::to_string).collect();
                write!(f, "multi ({})", names.join(":"))
            }
        }
    }
}

const KINDS: &str = "tcp, icmp, multi or none";
const MEMBERS: &str = "tcp and icmp, separated by ':' (e.g. icmp:tcp)";

/// Parses `--health` and `--multi-plugins`: `parse_kind("multi",
/// Some("icmp:tcp"))`. The error says what was wrong and what is accepted.
pub fn parse_kind(health: &str, multi_plugins: Option<&str>) -> Result<Kind, String> {
    let kind = match health {
        "none" => Kind::None,
        "tcp" => Kind::Tcp,
        "icmp" => Kind::Icmp,
        "multi" => {
            let Some(list) = multi_plugins else {
                return Err(format!(
                    "--health multi needs --multi-plugins: the monitors to combine, of {MEMBERS}"
                ));
            };
            let mut members = Vec::new();
            for name in list.split(':') {
                let member = match name {
                    "tcp" => Kind::Tcp,
                    "icmp" => Kind::Icmp,
                    "" => {
                        return Err(format!(
                            "--multi-plugins '{list}': an empty name; the monitors are {MEMBERS}"
                        ))
                    }
                    other => {
                        return Err(format!(
                            "--multi-plugins '{list}': '{other}' is not a monitor that can be combined; the monitors are {MEMBERS}"
                        ))
                    }
                };
                if members.contains(&member) {
                    return Err(format!("--multi-plugins '{list}': '{name}' is given twice"));
                }
                members.push(member);
            }
            return Ok(Kind::Multi(members));
        }
        other => {
            return Err(format!(
                "--health '{other}' is not a health monitor; expected {KINDS}"
            ))
        }
    };
    if multi_plugins.is_some() {
        return Err(format!(
            "--multi-plugins is used only with --health multi, not with --health {health}"
        ));
    }
    Ok(kind)
}

impl Kind {
    /// Builds the probe, or `None` for [`Kind::None`]. This is where an
    /// unusable ICMP socket is found: at start-up, with what to do about it.
    pub fn probe(&self, settings: &Settings) -> Result<Option<Arc<dyn Probe>>, String> {
        Ok(match self {
            Kind::None => None,
            Kind::Tcp => Some(Arc::new(TcpProbe::new(settings.tcp_port))),
            Kind::Icmp => Some(Arc::new(IcmpProbe::new()?)),
            Kind::Multi(members) => {
                let mut probes = Vec::new();
                for m in members {
                    match m.probe(settings)? {
                        Some(p) => probes.push(p),
                        None => return Err(format!("'{m}' cannot be part of --health multi")),
                    }
                }
                Some(Arc::new(MultiProbe::new(probes)))
            }
        })
    }
}

/// Where a [`Monitor`] sends each transition: a channel of transitions,
/// or of anything made from one (the daemon's control inputs).
pub struct Notify(Box<dyn Fn(Transition) + Send + Sync>);

impl Notify {
    pub fn send(&self, t: Transition) {
        (self.0)(t)
    }
}

impl<T: From<Transition> + Send + 'static> From<Sender<T>> for Notify {
    fn from(tx: Sender<T>) -> Notify {
        // A receiver that is gone (the daemon stopping) wants nothing more.
        Notify(Box::new(move |t| {
            let _ = tx.send(T::from(t));
        }))
    }
}

impl Monitor {
    /// Starts the monitor named on the command line: [`Monitor::none`] for
    /// [`Kind::None`], else [`Monitor::start`] with its probe, timed by
    /// `clock`.
    pub fn for_kind(
        kind: &Kind,
        settings: Settings,
        on_transition: impl Into<Notify>,
        clock: Clock,
    ) -> Result<Monitor, String> {
        settings.validate()?;
        Ok(match kind.probe(&settings)? {
            None => Monitor::none(),
            Some(probe) => Monitor::start(settings, probe, on_transition, clock)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::CheckAddr;

    #[test]
    fn parse_kind_accepts_the_documented_names() {
        let cases: &[(&str, Option<&str>, Kind)] = &[
            ("none", None, Kind::None),
            ("tcp", None, Kind::Tcp),
            ("icmp", None, Kind::Icmp),
            (
                "multi",
                Some("icmp:tcp"),
                Kind::Multi(vec![Kind::Icmp, Kind::Tcp]),
            ),
            ("multi", Some("tcp"), Kind::Multi(vec![Kind::Tcp])),
        ];
        for (health, plugins, want) in cases {
            assert_eq!(
                parse_kind(health, *plugins).as_ref(),
                Ok(want),
                "{health} {plugins:?}"
            );
        }
    }

    #[test]
    fn parse_kind_errors_say_what_is_wrong_and_what_is_accepted() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "ping",
                None,
                "--health 'ping' is not a health monitor; expected tcp, icmp, multi or none",
            ),
            ("multi", None, "--health multi needs --multi-plugins"),
            (
                "multi",
                Some("icmp:http"),
                "'http' is not a monitor that can be combined; the monitors are tcp and icmp",
            ),
            ("multi", Some("icmp::tcp"), "an empty name"),
            (
                "multi",
                Some("multi"),
                "'multi' is not a monitor that can be combined",
            ),
            ("multi", Some("tcp:tcp"), "'tcp' is given twice"),
            (
                "tcp",
                Some("icmp"),
                "--multi-plugins is used only with --health multi",
            ),
        ];
        for (health, plugins, want) in cases {
            let err = parse_kind(health, *plugins).unwrap_err();
            assert!(err.contains(want), "{health} {plugins:?}: {err}");
        }
    }

    #[test]
    fn settings_default_is_valid_and_documented() {
        let s = Settings::default();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(
            (s.interval, s.timeout, s.fall, s.rise, s.tcp_port, s.threads),
            (
                Duration::from_secs(1),
                Duration::from_millis(500),
                3,
                2,
                22,
                16
            )
        );
        for (bad, named) in [
            (
                Settings {
                    fall: 0,
                    ..Settings::default()
                },
                "fall",
            ),
            (
                Settings {
                    rise: 0,
                    ..Settings::default()
                },
                "rise",
            ),
            (
                Settings {
                    interval: Duration::ZERO,
                    ..Settings::default()
                },
                "interval",
            ),
            (
                Settings {
                    timeout: Duration::ZERO,
                    ..Settings::default()
                },
                "timeout",
            ),
            (
                Settings {
                    threads: 0,
                    ..Settings::default()
                },
                "threads",
            ),
        ] {
            let err = bad.validate().unwrap_err();
            assert!(err.contains(named), "{err}");
        }
    }

    #[test]
    fn the_probe_target_is_the_check_address_when_given() {
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        let check: IpAddr = "127.0.0.2".parse().unwrap();
        let plain = Host { ip, check: None };
        let with_port = Host {
            ip,
            check: Some(CheckAddr {
                ip: check,
                port: Some(2201),
            }),
        };
        let without_port = Host {
            ip,
            check: Some(CheckAddr {
                ip: check,
                port: None,
            }),
        };
        assert_eq!(ProbeTarget::of(&plain).to_string(), "10.0.0.5");
        assert_eq!(ProbeTarget::of(&with_port).to_string(), "127.0.0.2:2201");
        assert_eq!(ProbeTarget::of(&without_port).to_string(), "127.0.0.2");
    }
}
