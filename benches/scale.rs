//! `make bench`: how the cost grows with the VPC, against the stateful EC2
//! simulator on 127.0.0.1 (`tests/common/ec2sim.rs`). For 50, 200 and 400
//! route tables x 500 routes (500 CIDRs in the spec, every route already
//! right):
//!
//! - an in-sync one-shot `apply`: describe calls, mutating calls, wall,
//!   CPU and peak RSS of the process (the sizes run in ascending order, so
//!   the children's peak RSS is that size's);
//! - a daemon (`-m configfile`) on the same VPC: its first pass's duration,
//!   then `GET /status`'s size and time (median of 5), and the daemon's
//!   peak RSS (VmHWM).
//!
//! Linear means the figures double from 200 to 400 tables. Figures are
//! printed, never asserted.

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
    for _ in 0..3 {
        sim.clear_calls();
        let (cpu0, _) = children_usage();
        let started = Instant::now();
        let out = common::run_with(
            common::command("bench-scale"),
            &sim.url(),
            &["apply", "-f", spec.to_str().unwrap(), "--route-limit", "0"],
        );
        let wall = started.elapsed();
        let (cpu1, _) = children_usage();
        assert_eq!(out.code, 0, "{}", out.stdout);
        let actions = sim.actions();
        let describes = actions.iter().filter(|a| a.starts_with("Describe")).count();
        runs.push((wall, cpu1 - cpu0, describes, actions.len() - describes));
    }
    runs.sort();
    let (wall, cpu, describes, others) = runs[1];
    let (_, peak) = children_usage();
    println!(
        "  {tables:>3} tables x {ROUTES}: apply in sync: {describes} describe calls, {others} other calls; wall {:.0} ms, CPU {:.0} ms, peak RSS {} KiB",
        ms(wall),
        ms(cpu),
        peak
    );
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

fn hwm_kib(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map_or("?".into(), |l| {
            l.trim_start_matches("VmHWM:").trim().to_string()
        })
}

fn daemon(tables: usize, spec: &std::path::Path, dir: &std::path::Path) {
    let sim = vpc(tables);
    let state = dir.join(format!("state-{tables}"));
    let d = Daemon::configfile(&sim.url(), spec, &state, &[]);
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
        "  {tables:>3} tables x {ROUTES}: daemon first pass {} in {:.0} ms; GET /status {size} bytes in {:.1} ms (median of 5, max {:.1}); a page of 10 CIDRs {page} bytes in {:.1} ms; daemon peak RSS {}",
        pass["result"].as_str().unwrap_or("?"),
        pass["duration_seconds"].as_f64().unwrap_or(0.0) * 1000.0,
        ms(times[2]),
        ms(times[4]),
        ms(page_time),
        hwm_kib(d.child.id()),
    );
}

fn main() {
    let dir = std::env::temp_dir().join(format!("vpc-router-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = spec_file(&dir);
    println!("scale: route tables x {ROUTES} routes, {ROUTES} CIDRs in the spec, all in sync");
    for tables in SIZES {
        one_shot(tables, &spec);
    }
    for tables in SIZES {
        daemon(tables, &spec, &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
