//! The daemon's thread budget (ARCHITECTURE.md, "Thread budget"): every
//! thread starts with the daemon, so concurrent load through the API (route
//! commands on a slow EC2, status and liveness, a new connection per
//! request) adds none, and the count stays within the documented formula.
//! The count is read from /proc/PID/task throughout the load.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::ec2sim::{scenario, Ec2Sim};
use common::etcd::thread_states;
use common::{call, converge, temp_dir, wait_for_status, Daemon, A_ENI, A_IP, B_ENI, B_IP};

/// ARCHITECTURE.md's budget of a daemon without `-m` (no spec): main,
/// control, W workers, the gate, W relays, 2 status relays, 2 status
/// workers, and the two tiny_http servers: an accept thread each and a
/// pool of at least 4, a thread per relay connection (plus at most one
/// per lane while starting).
fn budget(workers: usize) -> usize {
    let fixed = 1 + 1 + workers + 1 + workers + 2 + 2;
    let route_server = 1 + workers.max(4) + 1;
    let status_server = 1 + 4 + 1;
    fixed + route_server + status_server
}

/// `workers` clients of route commands, each answered only once all
/// `workers` are at EC2 at once (the simulator's waves: every relay, every
/// tiny_http connection and every worker busy together), beside 16 clients
/// of status and liveness; every call on a new connection.
fn load(d: &Daemon, sim: &Ec2Sim, workers: usize) {
    const WAVES: usize = 5;
    sim.hold_waves(&[workers; WAVES]);
    let start = Arc::new(Barrier::new(workers + 16));
    thread::scope(|s| {
        for i in 0..workers + 16 {
            let start = start.clone();
            s.spawn(move || {
                start.wait();
                let (path, n) = match i {
                    i if i < workers => ("/route?dst_cidr=10.55.0.0/16", WAVES),
                    i if i % 2 == 0 => ("/status", 20),
                    _ => ("/healthz", 20),
                };
                for _ in 0..n {
                    let (status, body) = call(d, "GET", path, None);
                    // 404: the route is missing from one table (a `show`).
                    assert!(status == 200 || status == 404, "{status} {body}");
                }
            });
        }
    });
    assert_eq!(
        sim.broken_waves(),
        0,
        "route commands did not run side by side"
    );
}

/// With `-m configfile --health tcp`: the reconcile thread, the file
/// feed's, 16 health checkers and 50 failover threads more (as many as the
/// mutating budget's burst, so 50 route changes go in one wave).
const WITH_SPEC: usize = 1 + 1 + 16 + 50;

fn check_budget(d: &Daemon, sim: &Ec2Sim, workers: usize, budget: usize, during: impl Fn() + Sync) {
    let pid = d.child.id();
    // One request of each lane: nothing should start lazily, but if
    // something did, it would be counted in the start-up figure.
    for path in ["/healthz", "/route?dst_cidr=10.55.0.0/16"] {
        let (status, body) = call(d, "GET", path, None);
        assert!(status == 200 || status == 404, "{status} {body}");
    }
    let at_start = thread_states(pid).len();
    assert!(
        at_start <= budget,
        "{at_start} threads at start, over the budget of {budget}"
    );
    let (done, most) = (AtomicBool::new(false), AtomicUsize::new(0));
    let samples = AtomicUsize::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                most.fetch_max(thread_states(pid).len(), Ordering::SeqCst);
                samples.fetch_add(1, Ordering::SeqCst);
                thread::yield_now();
            }
        });
        s.spawn(&during);
        load(d, sim, workers);
        done.store(true, Ordering::SeqCst);
    });
    let most = most.load(Ordering::SeqCst);
    println!("workers {workers}: {at_start} threads at start, at most {most} under load, budget {budget}");
    assert!(samples.load(Ordering::SeqCst) > 0);
    assert!(
        most <= at_start,
        "the load added threads: {at_start} at start, {most} under load (workers {workers})"
    );
}

fn plain(workers: usize) {
    let sim = scenario();
    // Slow enough that route commands pile up on every worker.
    sim.set_delay(Duration::from_millis(5));
    let w = workers.to_string();
    let d = Daemon::start(
        &sim.url(),
        &["--workers", &w, "--max-connections-per-client", "64"],
    );
    check_budget(&d, &sim, workers, budget(workers), || {});
}

#[test]
fn concurrent_load_adds_no_thread_with_4_workers() {
    plain(4);
}

#[test]
fn concurrent_load_adds_no_thread_with_8_workers() {
    plain(8);
}

/// With a spec, health checks and a failover under way beside the load.
#[test]
fn a_failover_under_load_adds_no_thread() {
    let sim = scenario();
    let a = TcpListener::bind("127.0.0.2:0").unwrap();
    let b = TcpListener::bind("127.0.0.3:0").unwrap();
    let hosts = format!(
        r#"[{{"ip": "{A_IP}", "check": "{}"}}, {{"ip": "{B_IP}", "check": "{}"}}]"#,
        a.local_addr().unwrap(),
        b.local_addr().unwrap()
    );
    let spec = temp_dir("threads-spec").join("spec.json");
    std::fs::write(&spec, format!(r#"{{"10.60.0.0/16": {hosts}}}"#)).unwrap();
    let state = temp_dir("threads-state").join("state");
    let d = Daemon::configfile(
        &sim.url(),
        &spec,
        &state,
        &[
            "--workers",
            "4",
            "--max-connections-per-client",
            "64",
            "--health",
            "tcp",
            "--check-interval",
            "0.05",
            "--check-timeout",
            "0.5",
        ],
    );
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    wait_for_status(&d, |st| st["reconcile"]["last_pass"]["result"].is_string());
    let a = std::sync::Mutex::new(Some(a));
    check_budget(&d, &sim, 4, budget(4) + WITH_SPEC, || {
        // Router A's check stops answering: its CIDR moves to B.
        a.lock().unwrap().take();
        converge(&sim, "10.60.0.0/16", Some(B_ENI));
    });
}

/// One exchange on a new client connection: the answer as text.
fn raw(d: &Daemon, request: &str) -> String {
    use std::io::{Read, Write};
    let addr = d
        .url("/")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The relays' connections to tiny_http outlive each request: a HEAD's
/// answer (a length, no body) and a GET's follow each other on them.
#[test]
fn head_and_get_take_turns_on_the_kept_connections() {
    let sim = scenario();
    let d = Daemon::start(&sim.url(), &["--workers", "1"]);
    for _ in 0..4 {
        let head = raw(
            &d,
            "HEAD /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "a body after HEAD: {head}");
        let get = raw(
            &d,
            "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(get.starts_with("HTTP/1.1 200 "), "{get}");
        let body = get.split_once("\r\n\r\n").unwrap().1;
        assert!(
            serde_json::from_str::<serde_json::Value>(body).is_ok(),
            "{get}"
        );
        let spec = raw(
            &d,
            "HEAD /route_spec HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let route = raw(
            &d,
            "GET /route?dst_cidr=10.33.0.0/16 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(route.starts_with("HTTP/1.1 200 "), "{spec}\n{route}");
    }
}
