//! `make bench`: how the cost grows with the VPC, against the stateful EC2
//! simulator on 127.0.0.1 (`tests/common/ec2sim.rs`). For 50, 200 and 400
//! route tables x 500 routes (500 CIDRs in the spec, every route already
//! right):
//!
//! - an in-sync one-shot `apply`: describe calls, mutating calls, wall,
//!   CPU and peak RSS of the process (its own VmHWM, see `apply_peak`);
//! - a daemon (`-m configfile --route-recheck-interval 1`) on the same VPC:
//!   its first pass's duration; then the CPU of an in-sync pass (the
//!   utime + stime of the daemon's `reconcile` thread, which makes the
//!   passes, from /proc/PID/task/TID/stat across 5 passes, divided by 5;
//!   and the whole process's, which adds the API's answers to the polls
//!   of `/metrics` that see the passes end),
//!   its describe and mutating calls, the daemon's peak RSS (VmHWM) and
//!   RSS after them (VmRSS); then `GET /status`'s size and time (median
//!   of 5).
//!
//! Linear means the figures double from 200 to 400 tables. Figures are
//! printed, never asserted.
//!
//! To save time: `SCALE_TABLES=200` runs one size (comma-separated list),
//! `SCALE_ONLY=apply` or `SCALE_ONLY=daemon` one half; `SCALE_WRAP="valgrind
//! --tool=callgrind --callgrind-out-file=/tmp/cg.out"` runs one `apply`
//! under that command (for instruction counts) instead of three.
//!
//! The binary measured is the build's own (glibc, `CARGO_BIN_EXE`);
//! `BENCH_BIN=target/x86_64-unknown-linux-musl/release/vpc-router` runs
//! the daemon half with another build (the static one of `make static`;
//! `make bench` runs both).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::ec2sim::Ec2Sim;
use common::{children_usage, numbered_cidr, Daemon, VPC};

const A: (&str, &str, &str) = (
    "eni-0aaaaaaaaaaaaaaa1",
    "10.33.20.142",
    "i-0aaaaaaaaaaaaaaa1",
);
const SIZES: [usize; 3] = [50, 200, 400];
const ROUTES: usize = 500;

fn vpc(tables: usize) -> Ec2Sim {
    let sim = Ec2Sim::start();
    sim.add_eni(A.0, &[A.1], Some(A.2), VPC, false);
    for t in 0..tables {
        let id = format!("rtb-{t:08x}");
        sim.add_table(&id, VPC, t == 0);
        sim.add_gateway_route(&id, "10.33.0.0/16", "local");
        for r in 0..ROUTES {
            sim.add_route_to_eni(&id, &numbered_cidr(r), A.0);
        }
    }
    sim
}

fn spec_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut doc = serde_json::Map::new();
    for r in 0..ROUTES {
        doc.insert(numbered_cidr(r), serde_json::json!([A.1]));
    }
    let path = dir.join("spec.json");
    std::fs::write(&path, serde_json::Value::Object(doc).to_string()).unwrap();
    path
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Three in-sync applies; the median's figures.
fn one_shot(tables: usize, spec: &std::path::Path) {
    let sim = vpc(tables);
    let mut runs = Vec::new();
    let n = if std::env::var_os("SCALE_WRAP").is_some() {
        1
    } else {
        3
    };
    for _ in 0..n {
        sim.clear_calls();
        let (cpu0, _) = children_usage();
        let started = Instant::now();
        let peak = apply_peak(&sim.url(), spec);
        let wall = started.elapsed();
        let (cpu1, _) = children_usage();
        let actions = sim.actions();
        let describes = actions.iter().filter(|a| a.starts_with("Describe")).count();
        runs.push((
            wall,
            cpu1 - cpu0,
            describes,
            actions.len() - describes,
            peak,
        ));
    }
    runs.sort();
    let (wall, cpu, describes, others, peak) = runs[n / 2];
    println!(
        "  {tables:>3} tables x {ROUTES}: apply in sync: {describes} describe calls, {others} other calls; wall {:.0} ms, CPU {:.0} ms, peak RSS {} KiB",
        ms(wall),
        ms(cpu),
        peak
    );
}

/// Runs an in-sync `apply` and returns its peak RSS (KiB), from its own
/// VmHWM, read until it exits. The children's rusage would not do: exec
/// records the high-water mark of the memory it replaces, and a child
/// spawned with vfork shares the bench's, simulator and all.
fn apply_peak(url: &str, spec: &std::path::Path) -> u64 {
    let mut c = common::command("bench-scale");
    if let Ok(wrap) = std::env::var("SCALE_WRAP") {
        let bin = c.get_program().to_owned();
        let mut words = wrap.split_whitespace();
        let mut w = std::process::Command::new(words.next().expect("SCALE_WRAP: a command"));
        w.env_clear();
        w.envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))));
        w.args(words).arg(bin);
        c = w;
    }
    c.args(["-r", "us-east-1", "-v", VPC, "--endpoint-url", url])
        .args(["apply", "-f", spec.to_str().unwrap(), "--route-limit", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut peak = 0;
    let status = loop {
        let hwm = status_field(child.id(), "VmHWM");
        if let Some(kib) = hwm.split_whitespace().next().and_then(|k| k.parse().ok()) {
            peak = kib;
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(status.success(), "apply: {status}");
    peak
}

/// `GET /status` raw: the body's size.
fn get(agent: &ureq::Agent, url: &str) -> usize {
    let mut r = agent.get(url).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .unwrap()
        .len()
}

/// A field of /proc/PID/status, such as `VmHWM` ("12345 kB").
fn status_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::trim))
        .map_or("?".into(), str::to_string)
}

/// The process's CPU time so far (utime + stime, in clock ticks of 10 ms).
fn cpu_ticks(pid: u32) -> u64 {
    stat_ticks(&format!("/proc/{pid}/stat"))
}

/// The CPU time so far of the daemon's `reconcile` thread, which makes
/// the passes (their describes, parse, plan and record); the rest of the
/// process's time is the API answering this bench's polls.
fn reconcile_ticks(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task");
    tasks
        .flatten()
        .find(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "reconcile")
        })
        .map_or(0, |t| stat_ticks(&t.path().join("stat").to_string_lossy()))
}

/// utime + stime of a /proc `stat` file, in clock ticks of 10 ms.
fn stat_ticks(path: &str) -> u64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command name (in parentheses); utime and stime
    // are the 14th and 15th of the line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// How many passes the daemon has finished, from `/metrics`.
fn passes(agent: &ureq::Agent, d: &Daemon) -> u64 {
    let mut r = agent.get(&d.url("/metrics")).call().unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    text.lines()
        .filter(|l| l.starts_with("vpc_router_reconcile_passes_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// CPU, calls and memory of `n` in-sync passes after the first.
fn daemon_passes(sim: &Ec2Sim, d: &Daemon, agent: &ureq::Agent, n: u64) -> String {
    let pid = d.child.id();
    let until = Instant::now() + Duration::from_secs(300);
    // Start at a pass's end, so that the window holds n whole passes.
    let first = passes(agent, d);
    while passes(agent, d) == first {
        assert!(Instant::now() < until, "no second pass in 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    sim.clear_calls();
    let (start, cpu0, pass0, t0) = (
        passes(agent, d),
        cpu_ticks(pid),
        reconcile_ticks(pid),
        Instant::now(),
    );
    while passes(agent, d) < start + n {
        assert!(Instant::now() < until, "no {n} passes in 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (cpu1, pass1, wall) = (cpu_ticks(pid), reconcile_ticks(pid), t0.elapsed());
    let actions = sim.actions();
    let describes = actions.iter().filter(|a| a.starts_with("Describe")).count();
    format!(
        "in-sync pass: {:.1} describe calls, {:.1} other calls, CPU {:.0} ms (the process, with the polls: {:.0} ms; {n} passes in {:.1} s); peak RSS {}, RSS {}",
        describes as f64 / n as f64,
        (actions.len() - describes) as f64 / n as f64,
        (pass1 - pass0) as f64 * 10.0 / n as f64,
        (cpu1 - cpu0) as f64 * 10.0 / n as f64,
        wall.as_secs_f64(),
        status_field(pid, "VmHWM"),
        status_field(pid, "VmRSS"),
    )
}

fn daemon(tables: usize, spec: &std::path::Path, dir: &std::path::Path) {
    let sim = vpc(tables);
    let state = dir.join(format!("state-{tables}"));
    let c = match std::env::var("BENCH_BIN") {
        Ok(bin) => common::command_for(&bin, "daemon"),
        Err(_) => common::command("daemon"),
    };
    let d = Daemon::configfile_with(
        c,
        &sim.url(),
        spec,
        &state,
        &["--route-recheck-interval", "1"],
    );
    let until = Instant::now() + Duration::from_secs(300);
    let pass = loop {
        let (_, st) = common::call(&d, "GET", "/status", None);
        let p = &st["reconcile"]["last_pass"];
        if p["result"].is_string() {
            break p.clone();
        }
        assert!(Instant::now() < until, "no pass in 300 s: {st:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let passes = daemon_passes(&sim, &d, &agent, 5);
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let started = Instant::now();
        size = get(&agent, &d.url("/status"));
        times.push(started.elapsed());
    }
    times.sort();
    let started = Instant::now();
    let page = get(&agent, &d.url("/status/routes?page=1&per_page=10"));
    let page_time = started.elapsed();
    println!(
        "  {tables:>3} tables x {ROUTES}: daemon first pass {} in {:.0} ms; {passes}; GET /status {size} bytes in {:.1} ms (median of 5, max {:.1}); a page of 10 CIDRs {page} bytes in {:.1} ms",
        pass["result"].as_str().unwrap_or("?"),
        pass["duration_seconds"].as_f64().unwrap_or(0.0) * 1000.0,
        ms(times[2]),
        ms(times[4]),
        ms(page_time),
    );
}

fn main() {
    let dir = std::env::temp_dir().join(format!("vpc-router-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = spec_file(&dir);
    println!("scale: route tables x {ROUTES} routes, {ROUTES} CIDRs in the spec, all in sync");
    let sizes: Vec<usize> = match std::env::var("SCALE_TABLES") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().expect("SCALE_TABLES: numbers"))
            .collect(),
        Err(_) => SIZES.to_vec(),
    };
    let only = std::env::var("SCALE_ONLY").unwrap_or_default();
    if only != "daemon" {
        for &tables in &sizes {
            one_shot(tables, &spec);
        }
    }
    if only != "apply" {
        if let Ok(other) = std::env::var("BENCH_BIN") {
            println!("the daemon: {other}");
        }
        for &tables in &sizes {
            daemon(tables, &spec, &dir);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
