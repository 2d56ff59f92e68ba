//! `make bench`: etcd. Against a real etcd on loopback and the EC2
//! simulator (the scenario's 3 route tables):
//!
//! - edit -> routes: the spec key is put in etcd; timed until every table
//!   routes the CIDR to the new router (the simulator has answered the last
//!   ReplaceRoute), over 20 edits; median and max.
//! - takeover: two daemons on one etcd, leases of `TTL` s; the leader is
//!   killed with SIGKILL and a route removed by hand at the same moment;
//!   timed until the simulator receives the new leader's first mutating
//!   call (its CreateRoute), over 5 runs; median and max, beside TTL + 1 s.
//!
//! Figures are printed, never asserted.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::ec2sim::{scenario, Ec2Sim};
use common::etcd::Etcd;
use common::{call, summary, wait_until, Daemon, A_ENI, B_ENI, TABLES};

const SPEC: &str = "/vpc-router/spec";
const EDITS: usize = 20;
const TAKEOVERS: usize = 5;
const TTL: u64 = 2;

fn daemon(sim: &Ec2Sim, etcd: &Etcd, name: &str) -> Daemon {
    let ttl = TTL.to_string();
    Daemon::start(
        &sim.url(),
        &[
            "-m",
            "etcd",
            "--etcd-endpoints",
            &etcd.url(),
            "--etcd-name",
            name,
            "--etcd-lease-ttl",
            &ttl,
            "--route-recheck-interval",
            "0.5",
        ],
    )
}

fn leads(d: &Daemon) -> bool {
    call(d, "GET", "/status", None).1["control"]["role"] == "leader"
}

fn everywhere(sim: &Ec2Sim, cidr: &str, eni: &str) -> bool {
    TABLES
        .iter()
        .all(|t| sim.route_target(t, cidr).as_deref() == Some(eni))
}

fn edits() {
    let sim = scenario();
    let etcd = Etcd::start("bench-edits");
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    let d = daemon(&sim, &etcd, "bench");
    wait_until("leading", Duration::from_secs(10), || leads(&d));
    wait_until("the first pass", Duration::from_secs(10), || {
        everywhere(&sim, "10.60.0.0/16", A_ENI)
    });
    let mut ms = Vec::new();
    for i in 0..EDITS {
        let (ip, eni) = if i % 2 == 0 {
            ("10.33.30.22", B_ENI)
        } else {
            ("10.33.20.142", A_ENI)
        };
        let t0 = Instant::now();
        etcd.put(SPEC, &format!(r#"{{"10.60.0.0/16": ["{ip}"]}}"#));
        wait_until("the edit in every table", Duration::from_secs(10), || {
            everywhere(&sim, "10.60.0.0/16", eni)
        });
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    summary(
        "etcd edit -> last route call answered (target under 1 s)",
        ms,
    );
}

fn takeovers() {
    let sim = scenario();
    let etcd = Etcd::start("bench-takeover");
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    let mut leader = daemon(&sim, &etcd, "bench-0");
    wait_until("leading", Duration::from_secs(10), || leads(&leader));
    wait_until("the first pass", Duration::from_secs(10), || {
        everywhere(&sim, "10.60.0.0/16", A_ENI)
    });
    let mut ms = Vec::new();
    for run in 1..=TAKEOVERS {
        let follower = daemon(&sim, &etcd, &format!("bench-{run}"));
        wait_until(
            "the follower sees the leader",
            Duration::from_secs(10),
            || call(&follower, "GET", "/status", None).1["etcd"]["leader"].is_string(),
        );
        let seen = sim.calls().len();
        let t0 = Instant::now();
        leader.signal("KILL");
        sim.remove_route(TABLES[0], "10.60.0.0/16");
        wait_until(
            "the new leader's first call",
            Duration::from_secs(30),
            || {
                sim.calls()[seen..]
                    .iter()
                    .any(|c| c.action == "CreateRoute")
            },
        );
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        wait_until("the route back", Duration::from_secs(10), || {
            everywhere(&sim, "10.60.0.0/16", A_ENI)
        });
        leader = follower;
    }
    summary(
        &format!(
            "kill -9 of the leader -> the new leader's first mutating call (TTL {TTL} s; \
             target under {} ms)",
            (TTL + 1) * 1000
        ),
        ms,
    );
}

fn main() {
    edits();
    takeovers();
}
