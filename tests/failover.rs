//! Health checks and failover end to end: the daemon (`-d -m configfile
//! --health ...`) against the EC2 simulator, with local TCP listeners on
//! 127.0.0.x standing in for the routers' health endpoints (each spec host
//! names its listener as its `check` address). Closing a listener is a
//! router dying.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use common::ec2sim::{scenario, Ec2Sim};
use common::*;

/// A router's health endpoint: a listener on its own loopback address,
/// which can be closed and opened again on the same port.
struct Endpoint {
    addr: String,
    listener: Option<TcpListener>,
}

impl Endpoint {
    fn open(ip: &str) -> Endpoint {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        Endpoint {
            addr,
            listener: Some(listener),
        }
    }

    fn close(&mut self) {
        self.listener = None;
    }

    fn reopen(&mut self) {
        self.listener = Some(TcpListener::bind(&self.addr).unwrap());
    }
}

/// A spec of two CIDRs, each on router A then B, checked at `a` and `b`.
fn spec_file(name: &str, a: &Endpoint, b: &Endpoint) -> PathBuf {
    let dir = temp_dir(name);
    let hosts = format!(
        r#"[{{"ip": "{A_IP}", "check": "{}"}}, {{"ip": "{B_IP}", "check": "{}"}}]"#,
        a.addr, b.addr
    );
    let path = dir.join("spec.json");
    std::fs::write(
        &path,
        format!(r#"{{"10.60.0.0/16": {hosts}, "10.61.0.0/16": {hosts}}}"#),
    )
    .unwrap();
    path
}

fn start(sim: &Ec2Sim, name: &str, spec: &Path, extra: &[&str]) -> Daemon {
    let state = temp_dir(&format!("{name}-state")).join("state");
    let mut args = vec![
        "--route-recheck-interval",
        "0",
        "--health",
        "tcp",
        "--check-interval",
        "0.05",
        "--check-timeout",
        "0.5",
        "--fall",
        "3",
        "--rise",
        "2",
    ];
    args.extend_from_slice(extra);
    Daemon::configfile(&sim.url(), spec, &state, &args)
}

/// Waits until the first pass is recorded: from then on a failover acts
/// on the tables it saw.
fn wait_for_pass(d: &Daemon) {
    wait_for_status(d, |st| st["reconcile"]["last_pass"]["result"].is_string());
}

fn replaces(sim: &Ec2Sim) -> usize {
    sim.calls()
        .iter()
        .filter(|c| c.action == "ReplaceRoute")
        .count()
}

#[test]
fn a_dead_router_fails_over_to_the_backup_in_every_table_and_does_not_fail_back() {
    let sim = scenario();
    let (mut a, b) = (Endpoint::open("127.0.0.2"), Endpoint::open("127.0.0.3"));
    let spec = spec_file("failover", &a, &b);
    let d = start(&sim, "failover", &spec, &[]);
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    converge(&sim, "10.61.0.0/16", Some(A_ENI));
    wait_for_pass(&d);

    sim.clear_calls();
    a.close();
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    converge(&sim, "10.61.0.0/16", Some(B_ENI));
    wait_for_log(&d, "failover 10.61.0.0/16");
    let log = d.log();
    assert_contains!(log, format!("router {A_IP}: healthy -> failed"));
    assert_contains!(
        log,
        format!(
            "failover 10.60.0.0/16: {A_ENI} ({A_IP}) -> {B_ENI} ({B_IP}) (router {A_IP} failed: "
        )
    );
    assert_contains!(log, "3 table(s) changed in");
    // The failover made its calls without a describe first: 2 CIDRs x 3
    // tables, the first ReplaceRoute right after the failure.
    let actions = sim.actions();
    assert_eq!(actions[..6], ["ReplaceRoute"; 6], "{actions:?}");
    let (_, status) = call(&d, "GET", "/status", None);
    let hosts = status["reconcile"]["hosts"].as_array().unwrap().clone();
    let state = |ip: &str| {
        hosts
            .iter()
            .find(|h| h["ip"] == ip)
            .map(|h| h["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state(A_IP).as_deref(), Some("failed"), "{status:#}");
    assert_eq!(state(B_IP).as_deref(), Some("healthy"), "{status:#}");
    let (_, metrics) = call(&d, "GET", "/metrics", None);
    let metrics = metrics.as_str().unwrap().to_string();
    for want in [
        "vpc_router_failovers_total{cidr=\"10.60.0.0/16\"} 1",
        "vpc_router_failover_duration_seconds_count 1",
        &format!("vpc_router_host_up{{ip=\"{A_IP}\"}} 0"),
        &format!("vpc_router_host_up{{ip=\"{B_IP}\"}} 1"),
    ] {
        assert_contains!(metrics, want);
    }

    // A comes back: it is healthy again, but B keeps the routes.
    a.reopen();
    wait_for_log(&d, &format!("router {A_IP}: failed -> healthy"));
    let before = replaces(&sim);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(replaces(&sim), before);
    for t in TABLES {
        assert_eq!(sim.route_target(t, "10.60.0.0/16").as_deref(), Some(B_ENI));
    }
}

#[test]
fn with_failback_the_first_router_takes_its_routes_back_after_the_hold_down() {
    let sim = scenario();
    let (mut a, b) = (Endpoint::open("127.0.0.4"), Endpoint::open("127.0.0.5"));
    let spec = spec_file("failback", &a, &b);
    let d = start(
        &sim,
        "failback",
        &spec,
        &["--failback", "--failback-hold", "0.5"],
    );
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    a.close();
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    a.reopen();
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    converge(&sim, "10.61.0.0/16", Some(A_ENI));
    assert_contains!(d.log(), "failed -> healthy");
}

#[test]
fn with_every_router_down_the_routes_stay_and_the_status_says_so() {
    let sim = scenario();
    let (mut a, mut b) = (Endpoint::open("127.0.0.6"), Endpoint::open("127.0.0.7"));
    let spec = spec_file("all-down", &a, &b);
    let d = start(&sim, "all-down", &spec, &[]);
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    b.close();
    wait_for_log(&d, &format!("router {B_IP}: healthy -> failed"));
    // The backup failing moves nothing.
    assert_not_contains!(d.log(), "failover 10.60.0.0/16");
    a.close();
    wait_for_log(&d, "no healthy router is left");
    wait_for_status(&d, |st| {
        st["reconcile"]["no_healthy_router"] == serde_json::json!(["10.60.0.0/16", "10.61.0.0/16"])
    });
    for t in TABLES {
        assert_eq!(sim.route_target(t, "10.60.0.0/16").as_deref(), Some(A_ENI));
    }
    let (_, metrics) = call(&d, "GET", "/metrics", None);
    assert_contains!(
        metrics.as_str().unwrap(),
        "vpc_router_cidrs_without_healthy_router 2",
    );
}

#[test]
fn icmp_checks_against_loopback() {
    let sim = scenario();
    let dir = temp_dir("icmp");
    let spec = dir.join("spec.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{"10.60.0.0/16": [{{"ip": "{A_IP}", "check": "127.0.0.8"}}, {{"ip": "{B_IP}", "check": "::1"}}]}}"#
        ),
    )
    .unwrap();
    let state = dir.join("state");
    let d = Daemon::configfile(
        &sim.url(),
        &spec,
        &state,
        &["--health", "icmp", "--check-interval", "0.05"],
    );
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    let status = wait_for_status(&d, |st| {
        let hosts = st["reconcile"]["hosts"].as_array().unwrap();
        hosts.len() == 2 && hosts.iter().all(|h| h["state"] == "healthy")
    });
    let hosts = status["reconcile"]["hosts"].as_array().unwrap();
    assert!(hosts.iter().all(|h| h["rtt_ms"].is_number()), "{status:#}");
}

/// A health endpoint that accepts and closes every connection, as a real
/// service does (a listener that never accepts fills its backlog with
/// checks after a while, and its checks then time out).
struct Serving {
    addr: std::net::SocketAddr,
    stop: Option<(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        thread::JoinHandle<()>,
    )>,
}

impl Serving {
    fn open(ip: &str) -> Serving {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let t = thread::spawn(move || {
            for c in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                drop(c);
            }
        });
        Serving {
            addr,
            stop: Some((stop, t)),
        }
    }

    fn close(&mut self) {
        if let Some((stop, t)) = self.stop.take() {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = std::net::TcpStream::connect(self.addr);
            t.join().unwrap();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.close();
    }
}

/// The checks of `ip` so far, in a `/status` answer.
fn checks_of(st: &serde_json::Value, ip: &str) -> u64 {
    st["reconcile"]["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["ip"] == ip))
        .and_then(|h| h["checks"].as_u64())
        .unwrap_or(0)
}

// Issue 15: the fast-detection setting (a check every few tens of ms)
// must not make answering routers flap, and a death moves routes once.
#[test]
fn fast_checks_never_fail_an_answering_router_and_a_death_moves_the_routes_once() {
    let sim = scenario();
    let (mut a, b) = (Serving::open("127.0.0.6"), Serving::open("127.0.0.7"));
    let dir = temp_dir("fast-checks");
    let hosts = format!(
        r#"[{{"ip": "{A_IP}", "check": "{}"}}, {{"ip": "{B_IP}", "check": "{}"}}]"#,
        a.addr, b.addr
    );
    let spec = dir.join("spec.json");
    std::fs::write(
        &spec,
        format!(r#"{{"10.60.0.0/16": {hosts}, "10.61.0.0/16": {hosts}}}"#),
    )
    .unwrap();
    let d = Daemon::configfile(
        &sim.url(),
        &spec,
        &dir.join("state"),
        &[
            "--route-recheck-interval",
            "0",
            "--health",
            "tcp",
            "--check-interval",
            "0.02",
            "--check-timeout",
            "0.05",
            "--fall",
            "3",
            "--rise",
            "3",
        ],
    );
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    converge(&sim, "10.61.0.0/16", Some(A_ENI));
    wait_for_pass(&d);

    // Many checks, closely spaced: none fails a router.
    wait_for_status(&d, |st| {
        checks_of(st, A_IP) >= 150 && checks_of(st, B_IP) >= 150
    });
    assert_not_contains!(d.log(), "-> failed");

    a.close();
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    converge(&sim, "10.61.0.0/16", Some(B_ENI));
    wait_for_log(&d, "failover 10.61.0.0/16");
    // Many more checks later: B still carries the routes, A failed once,
    // nothing else changed.
    let n = checks_of(&call(&d, "GET", "/status", None).1, B_IP);
    wait_for_status(&d, |st| checks_of(st, B_IP) >= n + 100);
    let log = d.log();
    assert_eq!(
        log.matches(&format!("router {A_IP}: healthy -> failed"))
            .count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("failover 10.60.0.0/16").count(), 1, "{log}");
    assert_not_contains!(log, format!("router {B_IP}: healthy -> failed"));
    for t in TABLES {
        assert_eq!(sim.route_target(t, "10.60.0.0/16").as_deref(), Some(B_ENI));
    }
}
