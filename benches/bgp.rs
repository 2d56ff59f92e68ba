//! `make bench`: BGP. A real BIRD 2 router (127.0.0.2) and a backup
//! (127.0.0.3, a longer AS path) announce to vpc-router (`-m bgp`) in front
//! of the EC2 simulator (3 route tables):
//!
//! - announce -> routes: a prefix is announced on the router; timed until
//!   every table routes it to the router's interface; 10 prefixes.
//! - session up -> routes: a router starts with a prefix configured;
//!   timed from its session's Established until every table routes it.
//! - peer killed -> routes: the preferred router is killed with SIGKILL;
//!   timed until every table routes the prefix to the backup; 5 runs.
//!
//! Median and max are printed, never asserted.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::bird::{Bird, BirdConfig, Route};
use common::ec2sim::{scenario, Ec2Sim};
use common::etcd::reserve_port;
use common::{summary, temp_dir, wait_until, Daemon, A_ENI, A_IP, B_ENI, B_IP, TABLES};

fn everywhere(sim: &Ec2Sim, cidr: &str, eni: &str) -> bool {
    TABLES
        .iter()
        .all(|t| sim.route_target(t, cidr).as_deref() == Some(eni))
}

fn daemon(sim: &Ec2Sim, listen: SocketAddr) -> Daemon {
    let state = temp_dir("bench-bgp").join("state");
    let listen = listen.to_string();
    Daemon::start(
        &sim.url(),
        &[
            "-m",
            "bgp",
            "--state-dir",
            state.to_str().unwrap(),
            "--route-recheck-interval",
            "0",
            "--bgp-listen",
            &listen,
            "--bgp-asn",
            "65000",
            "--bgp-hold-time",
            "3",
            "--bgp-allow",
            "10.60.0.0/14",
            "--bgp-peer",
            "127.0.0.2,as=65001",
            "--bgp-peer",
            "127.0.0.3,as=65001",
        ],
    )
}

fn main() {
    let sim = scenario();
    let port = reserve_port();
    let listen: SocketAddr = format!("127.0.0.1:{}", port.port).parse().unwrap();
    let d = daemon(&sim, listen);
    // Both paths known to the daemon, so that a kill measures the move only.
    let both_paths = || {
        let (_, v) = common::call(&d, "GET", "/bgp", None);
        v["prefixes"]["10.60.0.0/16"]["paths"]
            .as_array()
            .is_some_and(|p| p.len() == 2)
    };

    // Session up -> routes.
    let mut config = BirdConfig::new(listen, "127.0.0.2".parse().unwrap());
    config.routes = vec![("10.60.0.0/16".into(), Route::via(A_IP))];
    let t0 = Instant::now();
    let mut a = Bird::start("bench-bgp-a", config);
    a.wait_state("Established");
    let up = t0.elapsed();
    wait_until("the first routes", Duration::from_secs(10), || {
        everywhere(&sim, "10.60.0.0/16", A_ENI)
    });
    println!(
        "BIRD start -> Established {:.0} ms; -> routes in every table {:.0} ms (target: under 1 s after Established)",
        up.as_secs_f64() * 1000.0,
        t0.elapsed().as_secs_f64() * 1000.0
    );

    // Announce -> routes.
    let mut ms = Vec::new();
    for i in 0..10 {
        let prefix = format!("10.61.{i}.0/24");
        let t0 = Instant::now();
        a.announce(&prefix, Route::via(A_IP));
        wait_until("the announced route", Duration::from_secs(10), || {
            everywhere(&sim, &prefix, A_ENI)
        });
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    summary(
        "announce -> last route call answered (target under 1 s)",
        ms,
    );

    // Peer killed -> routes on the backup.
    let b = Bird::start(
        "bench-bgp-b",
        BirdConfig::new(listen, "127.0.0.3".parse().unwrap()),
    );
    b.wait_state("Established");
    b.announce(
        "10.60.0.0/16",
        Route {
            prepend: 2,
            ..Route::via(B_IP)
        },
    );
    let mut ms = Vec::new();
    for run in 0..5 {
        wait_until("both paths", Duration::from_secs(10), both_paths);
        let t0 = Instant::now();
        a.kill9();
        wait_until("the backup's routes", Duration::from_secs(10), || {
            everywhere(&sim, "10.60.0.0/16", B_ENI)
        });
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        let mut config = BirdConfig::new(listen, "127.0.0.2".parse().unwrap());
        config.routes = vec![("10.60.0.0/16".into(), Route::via(A_IP))];
        a = Bird::start(&format!("bench-bgp-a{run}"), config);
        a.wait_state("Established");
        wait_until("the preferred routes back", Duration::from_secs(10), || {
            everywhere(&sim, "10.60.0.0/16", A_ENI)
        });
    }
    summary(
        "preferred peer killed -> routes on the backup (target under 1 s)",
        ms,
    );
    drop(b);
}
