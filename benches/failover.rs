//! `make bench`: failover latency. The daemon (`-d -m configfile --health
//! tcp --check-interval 0.2 --fall 3`) keeps 10 CIDRs on router A in the 4
//! route tables of the EC2 simulator; A's health endpoint is a TCP listener
//! on 127.0.0.2 and B's on 127.0.0.3. The bench closes the current router's
//! listener and measures until the simulator has answered ReplaceRoute for
//! all 40 routes, then opens it again, and repeats the other way round.
//!
//! The breakdown: detection (the listener closed -> the daemon's failover
//! starts: `fall` failed checks) and calls (its 40 ReplaceRoute, side by
//! side on 32 threads, as the daemon logs them). Once with the simulator
//! answering at once, once with 100 ms per call, closer to EC2's own
//! latency. Figures are printed, never asserted.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use common::ec2sim::Ec2Sim;
use common::{Daemon, A_ENI, A_IP, B_ENI, B_IP, VPC};

const TABLES: usize = 4;
const CIDRS: usize = 10;
const ROUNDS: usize = 4;

fn cidr(i: usize) -> String {
    format!("10.{}.0.0/16", 60 + i)
}

fn table(t: usize) -> String {
    format!("rtb-{t:08x}")
}

fn all_at(sim: &Ec2Sim, eni: &str) -> bool {
    (0..TABLES)
        .all(|t| (0..CIDRS).all(|c| sim.route_target(&table(t), &cidr(c)).as_deref() == Some(eni)))
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        thread::sleep(Duration::from_micros(500));
    }
}

/// The largest "N ms from detection" of the failover log lines in `log`.
fn calls_ms(log: &str) -> Option<f64> {
    log.lines()
        .filter(|l| l.contains("failover "))
        .filter_map(|l| {
            let before = l.split(" ms from detection").next()?;
            before.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .reduce(f64::max)
}

fn main() {
    let sim = Ec2Sim::start();
    sim.add_eni(A_ENI, &[A_IP], Some("i-0aaaaaaaaaaaaaaa1"), VPC, false);
    sim.add_eni(B_ENI, &[B_IP], Some("i-0bbbbbbbbbbbbbbb2"), VPC, false);
    for t in 0..TABLES {
        sim.add_table(&table(t), VPC, t == 0);
        sim.add_gateway_route(&table(t), "10.33.0.0/16", "local");
    }
    let mut listeners = [
        Some(TcpListener::bind("127.0.0.2:0").unwrap()),
        Some(TcpListener::bind("127.0.0.3:0").unwrap()),
    ];
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.as_ref().unwrap().local_addr().unwrap().to_string())
        .collect();
    let dir =
        std::env::temp_dir().join(format!("vpc-router-bench-failover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = format!(
        r#"[{{"ip": "{A_IP}", "check": "{}"}}, {{"ip": "{B_IP}", "check": "{}"}}]"#,
        addrs[0], addrs[1]
    );
    let doc: Vec<String> = (0..CIDRS)
        .map(|c| format!(r#""{}": {hosts}"#, cidr(c)))
        .collect();
    let spec = dir.join("spec.json");
    std::fs::write(&spec, format!("{{{}}}", doc.join(", "))).unwrap();
    let state = dir.join("state");
    let d = Daemon::configfile(
        &sim.url(),
        &spec,
        &state,
        &[
            "--route-recheck-interval",
            "0",
            "--health",
            "tcp",
            "--check-interval",
            "0.2",
            "--check-timeout",
            "0.1",
            "--fall",
            "3",
            "--rise",
            "2",
        ],
    );
    wait("routes on A", Duration::from_secs(20), || {
        all_at(&sim, A_ENI)
    });

    println!(
        "failover: {TABLES} tables x {CIDRS} CIDRs, --check-interval 0.2 --fall 3 (detection takes 2 to 3 intervals after the last good check)"
    );
    let mut round = 0;
    for (label, delay) in [
        ("EC2 answering at once", Duration::ZERO),
        ("EC2 taking 100 ms a call", Duration::from_millis(100)),
    ] {
        sim.set_delay(delay);
        println!("  {label}:");
        let mut totals = Vec::new();
        for _ in 0..ROUNDS {
            let (from, to_eni) = if round % 2 == 0 {
                (0, B_ENI)
            } else {
                (1, A_ENI)
            };
            round += 1;
            // Let the previous failover's confirming pass finish and the
            // reopened router be healthy again.
            thread::sleep(Duration::from_secs(2));
            let log_before = d.log().len();
            sim.clear_calls();
            let t0 = Instant::now();
            listeners[from] = None;
            wait("the failover", Duration::from_secs(20), || {
                all_at(&sim, to_eni)
            });
            let total = t0.elapsed().as_secs_f64() * 1000.0;
            thread::sleep(Duration::from_millis(100) + delay);
            let log = d.log();
            let calls = calls_ms(&log[log_before..]).unwrap_or(f64::NAN);
            let replaces = sim
                .calls()
                .iter()
                .filter(|c| c.action == "ReplaceRoute")
                .count();
            println!(
                "    {total:>5.0} ms from the listener closing to the last ReplaceRoute answer \
                 (detection ~{:>4.0} ms, calls {calls:>4.0} ms; {replaces} ReplaceRoute)",
                total - calls,
            );
            totals.push(total);
            listeners[from] = Some(TcpListener::bind(&addrs[from]).unwrap());
        }
        totals.sort_by(f64::total_cmp);
        println!(
            "    median {:.0} ms, max {:.0} ms (target: under 1000 ms)",
            totals[totals.len() / 2],
            totals[totals.len() - 1]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
