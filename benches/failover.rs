//! `make bench`: failover latency, from a router's death to the last
//! ReplaceRoute answered, over many runs.
//!
//! The daemon (`-d -m configfile --health tcp`) keeps 10 CIDRs on one of
//! two routers in the 4 route tables of the EC2 simulator, which takes
//! 100 ms to answer each call (about EC2's own latency): 40 routes to move.
//! Each router's health endpoint is a listener on its own loopback address
//! (127.0.0.2, 127.0.0.3) that accepts and closes every connection. A run
//! closes the listener of the router carrying the routes and measures until
//! the simulator has answered ReplaceRoute for all 40 routes; the listener
//! is opened again, and the next run starts once both routers are healthy
//! and the daemon's confirming passes are over, at a random point of the
//! check schedule. So the routes go back and forth.
//!
//! Two settings, `BENCH_FAILOVER_RUNS` runs each (default 50): the checks
//! this bench used before (`--check-interval 0.2 --check-timeout 0.1
//! --fall 3 --rise 2`), and the fast-detection setting the README
//! recommends (`--check-interval 0.05 --check-timeout 0.05 --fall 3 --rise
//! 3`). For each: median, p99 and max of the total, and its two parts:
//! detection (the listener closed -> the failed check that decides) and
//! calls (from there to the last answer, as the daemon logs it). Then what
//! the checks cost when idle: the daemon's CPU, checks a second, sockets
//! left in TIME_WAIT and state changes (flapping), with 50 routers checked
//! at 1 s (the default), 0.2 s and 0.05 s. Figures are printed, never
//! asserted.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::ec2sim::Ec2Sim;
use common::{call, Daemon, A_ENI, A_IP, B_ENI, B_IP, VPC};

const TABLES: usize = 4;
const CIDRS: usize = 10;
const DELAY: Duration = Duration::from_millis(100);
/// Routers of the idle-cost part.
const MANY: usize = 50;

const DEFAULT_CHECKS: [&str; 8] = [
    "--check-interval",
    "0.2",
    "--check-timeout",
    "0.1",
    "--fall",
    "3",
    "--rise",
    "2",
];
const FAST_CHECKS: [&str; 8] = [
    "--check-interval",
    "0.05",
    "--check-timeout",
    "0.05",
    "--fall",
    "3",
    "--rise",
    "3",
];

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
        thread::sleep(Duration::from_millis(1));
    }
}

/// A router's health endpoint: a listener that accepts and closes every
/// connection (a listener that never accepts fills its backlog with checks
/// after a while, and the checks then time out as if the router were dead).
struct Endpoint {
    addr: SocketAddr,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Endpoint {
    fn bind(addr: &str) -> Endpoint {
        let listener = TcpListener::bind(addr).unwrap();
        let mut e = Endpoint {
            addr: listener.local_addr().unwrap(),
            running: None,
        };
        e.serve(listener);
        e
    }

    fn serve(&mut self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let t = thread::spawn(move || {
            for c in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                drop(c);
            }
        });
        self.running = Some((stop, t));
    }

    /// Closes the listener: from then on a check is refused.
    fn close(&mut self) {
        if let Some((stop, t)) = self.running.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            t.join().unwrap();
        }
    }

    fn open(&mut self) {
        let listener = TcpListener::bind(self.addr).unwrap();
        self.serve(listener);
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.close();
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

/// Waits until no EC2 call has been made or answered for `quiet`.
fn quiet(sim: &Ec2Sim, quiet: Duration) {
    let fingerprint = || {
        let calls = sim.calls();
        (calls.len(), calls.iter().filter(|c| c.status == 0).count())
    };
    let mut last = fingerprint();
    let mut since = Instant::now();
    wait("EC2 calls to stop", Duration::from_secs(30), || {
        let now = fingerprint();
        if now != last || now.1 > 0 {
            last = now;
            since = Instant::now();
        }
        since.elapsed() >= quiet
    });
}

fn hosts_healthy(d: &Daemon) -> bool {
    let (code, status) = call(d, "GET", "/status", None);
    code == 200
        && status["reconcile"]["hosts"]
            .as_array()
            .is_some_and(|h| h.len() == 2 && h.iter().all(|h| h["state"] == "healthy"))
}

/// A small xorshift for the random start of each run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        n.mul_f64((self.0 % 1_000_000) as f64 / 1_000_000.0)
    }
}

/// Nearest-rank percentile of sorted `v`.
fn pct(v: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "median {:>4.0} ms, p99 {:>4.0} ms, max {:>4.0} ms",
        pct(&v, 50.0),
        pct(&v, 99.0),
        v[v.len() - 1]
    )
}

struct Run {
    total: f64,
    calls: f64,
    replaces: usize,
}

/// `runs` failovers with `checks`; each run's figures.
fn failovers(
    sim: &Ec2Sim,
    endpoints: &mut [Endpoint; 2],
    spec: &std::path::Path,
    state: &std::path::Path,
    checks: &[&str],
    runs: usize,
) -> Vec<Run> {
    let interval: f64 = checks[1].parse().unwrap();
    let mut args = vec!["--route-recheck-interval", "0", "--health", "tcp"];
    args.extend_from_slice(checks);
    if std::env::var_os("BENCH_FAILOVER_DAEMON_VERBOSE").is_some() {
        args.push("--verbose");
    }
    sim.set_delay(Duration::ZERO);
    let d = Daemon::configfile(&sim.url(), spec, state, &args);
    wait("the routes in place", Duration::from_secs(30), || {
        all_at(sim, A_ENI) || all_at(sim, B_ENI)
    });
    sim.set_delay(DELAY);
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.child.id())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map_or(String::new(), |v| v.trim().to_string())
    };
    println!(
        "    the daemon before the first failover: {} threads, {} RSS",
        field("Threads:"),
        field("VmRSS:")
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let mut out = Vec::new();
    for _ in 0..runs {
        wait("both routers healthy", Duration::from_secs(30), || {
            hosts_healthy(&d)
        });
        quiet(sim, DELAY * 3);
        thread::sleep(rng.below(Duration::from_secs_f64(interval)));
        let (from, to) = if all_at(sim, A_ENI) {
            (0, B_ENI)
        } else {
            (1, A_ENI)
        };
        let log_before = d.log().len();
        sim.clear_calls();
        endpoints[from].close();
        let t0 = Instant::now();
        wait("the failover", Duration::from_secs(30), || all_at(sim, to));
        let total = t0.elapsed().as_secs_f64() * 1000.0;
        // The daemon's failover log line comes after the answers.
        let mut calls = None;
        let until = Instant::now() + Duration::from_secs(5);
        while calls.is_none() && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
            calls = calls_ms(&d.log()[log_before..]);
        }
        let replaces = sim
            .calls()
            .iter()
            .filter(|c| c.action == "ReplaceRoute")
            .count();
        if std::env::var_os("BENCH_FAILOVER_VERBOSE").is_some() {
            // With BENCH_FAILOVER_DAEMON_VERBOSE the daemon logs each
            // call's time; retries are logged in any case.
            let log = d.log();
            let run = &log[log_before..];
            let slowest = run
                .lines()
                .filter_map(|l| l.split("EC2 ReplaceRoute: ok after ").nth(1))
                .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
                .max();
            println!(
                "      {total:>5.0} ms (calls {:>4.0} ms, {replaces} ReplaceRoute, slowest call \
                 {slowest:?} ms)",
                calls.unwrap_or(f64::NAN)
            );
            for l in run.lines().filter(|l| l.contains("attempt")) {
                if !l.contains("ok after") {
                    println!("        {l}");
                }
            }
        }
        out.push(Run {
            total,
            calls: calls.unwrap_or(f64::NAN),
            replaces,
        });
        endpoints[from].open();
    }
    out
}

fn report(runs: &[Run]) {
    let total: Vec<f64> = runs.iter().map(|r| r.total).collect();
    let calls: Vec<f64> = runs.iter().map(|r| r.calls).collect();
    let detection: Vec<f64> = runs.iter().map(|r| r.total - r.calls).collect();
    println!(
        "    router death -> last ReplaceRoute answered: {} over {} runs",
        stats(total),
        runs.len()
    );
    println!(
        "      detection:                               {}",
        stats(detection)
    );
    println!(
        "      calls (detection -> last answer):        {}",
        stats(calls)
    );
    if let Some(r) = runs.iter().max_by(|a, b| a.total.total_cmp(&b.total)) {
        println!(
            "      the slowest run: {:.0} ms = detection {:.0} ms + calls {:.0} ms",
            r.total,
            r.total - r.calls,
            r.calls
        );
    }
    let odd: Vec<String> = runs
        .iter()
        .filter(|r| r.replaces != TABLES * CIDRS)
        .map(|r| r.replaces.to_string())
        .collect();
    if !odd.is_empty() {
        println!(
            "      runs with other than 40 ReplaceRoute: {}",
            odd.join(", ")
        );
    }
}

/// utime + stime of `pid`, from /proc.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which ends with ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // SAFETY: sysconf reads a constant.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    Duration::from_secs_f64(ticks / tick)
}

/// Sockets in TIME_WAIT to or from one of `endpoints` (the idle part's
/// routers, on 127.0.1.x).
fn time_wait(endpoints: &[Endpoint]) -> usize {
    // /proc/net/tcp writes an address as little-endian hex IP, ':', hex port.
    let ours: Vec<String> = endpoints
        .iter()
        .map(|e| match e.addr {
            SocketAddr::V4(a) => {
                let ip = u32::from_le_bytes(a.ip().octets());
                format!("{ip:08X}:{:04X}", a.port())
            }
            SocketAddr::V6(_) => String::new(),
        })
        .collect();
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    tcp.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3
                && f[3] == "06"
                && (ours.contains(&f[1].to_string()) || ours.contains(&f[2].to_string()))
        })
        .count()
}

/// The daemon's idle cost with `MANY` routers checked with `checks`.
fn idle_cost(label: &str, checks: &[&str], dir: &std::path::Path) {
    let sim = Ec2Sim::start();
    sim.add_table(&table(0), VPC, true);
    sim.add_gateway_route(&table(0), "10.33.0.0/16", "local");
    let endpoints: Vec<Endpoint> = (0..MANY)
        .map(|i| Endpoint::bind(&format!("127.0.1.{}:0", i + 1)))
        .collect();
    let host = |i: usize| {
        format!(
            r#"{{"ip": "10.33.40.{}", "check": "{}"}}"#,
            i + 1,
            endpoints[i].addr
        )
    };
    let mut doc = Vec::new();
    for i in 0..MANY {
        sim.add_eni(
            &format!("eni-{:017x}", 0x100 + i),
            &[&format!("10.33.40.{}", i + 1)],
            Some(&format!("i-{:017x}", 0x100 + i)),
            VPC,
            false,
        );
        doc.push(format!(
            r#""10.{}.{}.0/24": [{}, {}]"#,
            120 + i / 256,
            i % 256,
            host(i),
            host((i + 1) % MANY)
        ));
    }
    let spec = dir.join(format!("many-{}.json", checks[1]));
    std::fs::write(&spec, format!("{{{}}}", doc.join(", "))).unwrap();
    let mut args = vec!["--route-recheck-interval", "0", "--health", "tcp"];
    args.extend_from_slice(checks);
    let state = dir.join(format!("many-state-{}", checks[1]));
    let d = Daemon::configfile(&sim.url(), &spec, &state, &args);
    wait("the first pass", Duration::from_secs(60), || {
        let (code, s) = call(&d, "GET", "/status", None);
        code == 200 && !s["reconcile"]["last_pass"].is_null()
    });
    // Settle: TIME_WAIT fills for 60 s; a shorter window shows the rate.
    thread::sleep(Duration::from_secs(1));
    let window = Duration::from_secs(5);
    let (log0, cpu0) = (d.log().len(), cpu_of(d.child.id()));
    let checks_of = |d: &Daemon| -> u64 {
        let (_, s) = call(d, "GET", "/status", None);
        s["reconcile"]["hosts"]
            .as_array()
            .map(|h| h.iter().map(|h| h["checks"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0)
    };
    let n0 = checks_of(&d);
    thread::sleep(window);
    let cpu = cpu_of(d.child.id()) - cpu0;
    let n = checks_of(&d) - n0;
    let changes = d.log()[log0..]
        .lines()
        .filter(|l| l.contains(" -> ") && l.starts_with("router "))
        .count();
    let tw = time_wait(&endpoints);
    println!(
        "    {label:<34} {:>4.1} % of a core, {:>5.0} checks/s, {tw:>5} sockets in TIME_WAIT \
         after {} s ({:.0} when steady: 60 s of checks), {changes} state changes",
        cpu.as_secs_f64() * 100.0 / window.as_secs_f64(),
        n as f64 / window.as_secs_f64(),
        (window + Duration::from_secs(1)).as_secs(),
        n as f64 / window.as_secs_f64() * 60.0,
    );
    drop(d);
    drop(endpoints);
}

fn main() {
    let runs: usize = std::env::var("BENCH_FAILOVER_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let sim = Ec2Sim::start();
    sim.add_eni(A_ENI, &[A_IP], Some("i-0aaaaaaaaaaaaaaa1"), VPC, false);
    sim.add_eni(B_ENI, &[B_IP], Some("i-0bbbbbbbbbbbbbbb2"), VPC, false);
    for t in 0..TABLES {
        sim.add_table(&table(t), VPC, t == 0);
        sim.add_gateway_route(&table(t), "10.33.0.0/16", "local");
    }
    let mut endpoints = [Endpoint::bind("127.0.0.2:0"), Endpoint::bind("127.0.0.3:0")];
    let dir =
        std::env::temp_dir().join(format!("vpc-router-bench-failover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = format!(
        r#"[{{"ip": "{A_IP}", "check": "{}"}}, {{"ip": "{B_IP}", "check": "{}"}}]"#,
        endpoints[0].addr, endpoints[1].addr
    );
    let doc: Vec<String> = (0..CIDRS)
        .map(|c| format!(r#""{}": {hosts}"#, cidr(c)))
        .collect();
    let spec = dir.join("spec.json");
    std::fs::write(&spec, format!("{{{}}}", doc.join(", "))).unwrap();

    println!(
        "failover: {TABLES} tables x {CIDRS} CIDRs = {} routes, EC2 answering in {} ms a call; \
         from closing the router's health listener to the last ReplaceRoute answered",
        TABLES * CIDRS,
        DELAY.as_millis()
    );
    for (label, checks) in [
        ("default checks", &DEFAULT_CHECKS),
        ("fast detection", &FAST_CHECKS),
    ] {
        let state = dir.join(format!("state-{}", checks[1]));
        println!("  {label} ({}):", checks.join(" "));
        let r = failovers(&sim, &mut endpoints, &spec, &state, checks, runs);
        report(&r);
    }
    println!("  idle cost of the checks, {MANY} routers, tcp:");
    for (label, checks) in [
        (
            "--check-interval 1 (the default)",
            &["--check-interval", "1"][..],
        ),
        ("default checks above (0.2 s)", &DEFAULT_CHECKS[..]),
        ("fast detection above (0.05 s)", &FAST_CHECKS[..]),
    ] {
        idle_cost(label, checks, &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
