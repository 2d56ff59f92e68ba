//! Command lines of vpc-router 1.x (the Python tool): its spellings are
//! read as ours and mean the same, each noted once on stderr with what to
//! write instead (`--tcp_check_port is the 1.x spelling; use
//! --tcp-check-port`). Which spellings are 1.x's is in the flag table
//! (each row's `legacy`); what they mean beyond a name is here: values
//! 1.x named otherwise (`--health icmpecho`), flags that implied others
//! (`-m` alone ran the daemon; `--icmp_check_interval` meant the icmpecho
//! monitor, 1.x's default), and `-m fixedconf`. Pure: the notices are
//! returned, `main` prints them.

use std::net::IpAddr;

use super::flags::{Legacy, FLAGS};
use super::tokens::Given;
use super::{err, ConfigError};

/// A value given with a 1.x spelling, as ours reads it: `--ignore_routes`
/// took IPs as well as CIDRs (an IP meaning its host route).
pub fn value(legacy: &Legacy, value: String) -> String {
    if legacy.spelling != "--ignore_routes" {
        return value;
    }
    value
        .split(',')
        .map(str::trim)
        .map(|part| match part.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => format!("{part}/32"),
            Ok(IpAddr::V6(_)) => format!("{part}/128"),
            Err(_) => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `--fixed_hosts`: 1.x separated them with ':'; ',' works too (and is
/// needed for IPv6 routers, unless there is only one).
pub fn fixed_hosts(s: &str) -> Vec<&str> {
    if s.trim().parse::<IpAddr>().is_ok() {
        return vec![s.trim()];
    }
    let sep = if s.contains(',') { ',' } else { ':' };
    s.split(sep).map(str::trim).collect()
}

/// 1.x's monitors by its names, and the interval flag of each.
const MONITORS: [(&str, &str, &str); 2] = [
    ("icmpecho", "icmp", "--icmp_check_interval"),
    ("tcp", "tcp", "--tcp_check_interval"),
];

/// Reads the 1.x spellings of `g` as ours, adding a notice for each to
/// `notices` (also when it then fails: the notice says what to write).
pub fn normalize(g: &mut Given, notices: &mut Vec<String>) -> Result<(), ConfigError> {
    for (row, l) in &g.legacy {
        notices.push(format!(
            "{} is the 1.x spelling; use {}",
            l.spelling,
            l.instead(&FLAGS[*row])
        ));
    }
    if let Some(old @ ("icmpecho" | "always")) = g.one("health") {
        let ours = if old == "always" { "none" } else { "icmp" };
        notices.push(format!(
            "--health {old} is the 1.x spelling; use --health {ours}"
        ));
        g.set("health", ours);
    }
    if let Some(list) = g.one("multi-plugins") {
        if list.split(':').any(|m| m == "icmpecho") {
            notices.push("--multi-plugins icmpecho is the 1.x spelling; use icmp".to_string());
            let ours = list.replace("icmpecho", "icmp");
            g.set("multi-plugins", &ours);
        }
    }
    for (old, ours, spelling) in MONITORS {
        if !g.spelt(spelling) {
            continue;
        }
        let members: Vec<String> = match g.one("health") {
            // 1.x checked with icmpecho unless told otherwise.
            None if ours == "icmp" => {
                g.set("health", "icmp");
                continue;
            }
            None => continue,
            Some("multi") => g
                .one("multi-plugins")
                .unwrap_or("")
                .split(':')
                .map(str::to_string)
                .collect(),
            Some(h) => vec![h.to_string()],
        };
        if !members.iter().any(|m| m == ours) {
            let health = g.one("health").unwrap_or_default();
            return Err(err(
                spelling,
                format!(
                    "1.x's interval of its {old} monitor, but --health is {health}; \
                     give --check-interval for the {health} checks"
                ),
            ));
        }
    }
    let Some(mode) = g.one("mode").map(str::to_string) else {
        return Ok(());
    };
    if mode == "fixedconf" {
        let spec = match (g.one("fixed_cidr"), g.one("fixed_hosts")) {
            (Some(c), Some(h)) => format!(" holding {}", serde_json::json!({ c: fixed_hosts(h) })),
            _ => String::new(),
        };
        notices.push(format!(
            "-m fixedconf is the 1.x spelling; use -d -m configfile -f SPEC, SPEC{spec}"
        ));
    }
    // 1.x had no -d: -m ran the daemon.
    if !g.has("daemon") && g.sub.is_none() && !g.has("cmd") {
        if ["configfile", "http", "etcd", "bgp"].contains(&mode.as_str()) {
            notices.push(format!(
                "-m without -d is the 1.x spelling; use -d -m {mode}"
            ));
        }
        g.set("daemon", "");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::by_legacy;

    #[test]
    fn ignore_routes_took_ips_too() {
        let (_, l) = by_legacy("--ignore_routes").unwrap();
        assert_eq!(
            value(l, "10.1.2.3, 10.9.0.0/16,fd00::1".into()),
            "10.1.2.3/32,10.9.0.0/16,fd00::1/128"
        );
        let (_, l) = by_legacy("--tcp_check_port").unwrap();
        assert_eq!(value(l, "10.1.2.3".into()), "10.1.2.3");
    }

    #[test]
    fn fixed_hosts_split_as_1x_did_or_on_commas() {
        assert_eq!(fixed_hosts("10.1.1.1:10.1.1.2"), ["10.1.1.1", "10.1.1.2"]);
        assert_eq!(fixed_hosts("10.1.1.1, fd00::2"), ["10.1.1.1", "fd00::2"]);
        assert_eq!(fixed_hosts("fd00::1"), ["fd00::1"]);
        assert_eq!(fixed_hosts("10.1.1.1"), ["10.1.1.1"]);
    }
}
