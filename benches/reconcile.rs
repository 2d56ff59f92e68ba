//! `make bench`: desired-state routing at scale, against the stateful EC2
//! simulator on 127.0.0.1 (`tests/common/ec2sim.rs`): a VPC of 200 route
//! tables x 500 routes.
//!
//! - An in-sync `apply`: EC2 calls, wall time, CPU time and peak RSS of
//!   the process.
//! - An `apply` that must change 1,000 routes (5 CIDRs move to another
//!   router in 200 tables): calls and wall time under the rate budget,
//!   next to the least time EC2's mutating bucket allows (50 at once,
//!   then 5 a second).
//!
//! Figures are printed, never asserted. `BENCH_CHANGES=N` (a multiple of
//! 200) changes the size of the second run.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::ec2sim::Ec2Sim;
use common::{children_usage, numbered_cidr, VPC};
const A: (&str, &str, &str) = (
    "eni-0aaaaaaaaaaaaaaa1",
    "10.33.20.142",
    "i-0aaaaaaaaaaaaaaa1",
);
const B: (&str, &str, &str) = (
    "eni-0bbbbbbbbbbbbbbb2",
    "10.33.30.22",
    "i-0bbbbbbbbbbbbbbb2",
);
const TABLES: usize = 200;
const ROUTES: usize = 500;

struct Run {
    wall: Duration,
    cpu: Duration,
    code: i32,
    calls: BTreeMap<String, usize>,
    stdout: String,
}

fn apply(sim: &Ec2Sim, spec: &str) -> Run {
    sim.clear_calls();
    let (cpu0, _) = children_usage();
    let started = Instant::now();
    let out = common::run_with(
        common::command("bench-reconcile"),
        &sim.url(),
        &["apply", "-f", spec, "--route-limit", "0"],
    );
    let wall = started.elapsed();
    let (cpu1, _) = children_usage();
    let mut calls = BTreeMap::new();
    for a in sim.actions() {
        *calls.entry(a).or_default() += 1;
    }
    Run {
        wall,
        cpu: cpu1 - cpu0,
        code: out.code,
        calls,
        stdout: out.stdout,
    }
}

fn calls_text(calls: &BTreeMap<String, usize>) -> String {
    let total: usize = calls.values().sum();
    let each: Vec<String> = calls.iter().map(|(a, n)| format!("{a} {n}")).collect();
    format!("{total} EC2 calls ({})", each.join(", "))
}

fn spec_file(dir: &std::path::Path, name: &str, moved: usize) -> String {
    let mut doc = serde_json::Map::new();
    for r in 0..ROUTES {
        let hosts = if r < moved { vec![B.1] } else { vec![A.1, B.1] };
        doc.insert(numbered_cidr(r), serde_json::json!(hosts));
    }
    let path = dir.join(name);
    std::fs::write(&path, serde_json::Value::Object(doc).to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

fn main() {
    let changes: usize = std::env::var("BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let moved = (changes / TABLES).clamp(1, ROUTES);

    let sim = Ec2Sim::start();
    for (eni, ip, instance) in [A, B] {
        sim.add_eni(eni, &[ip], Some(instance), VPC, false);
    }
    for t in 0..TABLES {
        let id = format!("rtb-{t:08x}");
        sim.add_table(&id, VPC, t == 0);
        sim.add_gateway_route(&id, "10.33.0.0/16", "local");
        for r in 0..ROUTES {
            sim.add_route_to_eni(&id, &numbered_cidr(r), A.0);
        }
    }
    let dir = std::env::temp_dir().join(format!("vpc-router-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let in_sync = spec_file(&dir, "in-sync.json", 0);
    let moving = spec_file(&dir, "moving.json", moved);

    println!("reconcile: {TABLES} route tables x {ROUTES} routes, {ROUTES} CIDRs in the spec");
    let mut walls = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let r = apply(&sim, &in_sync);
        assert_eq!(r.code, 0, "{}", r.stdout);
        assert!(r.stdout.contains("in sync: nothing to change"));
        walls.push(r.wall);
        last = Some(r);
    }
    walls.sort();
    let r = last.unwrap();
    let (_, peak) = children_usage();
    println!(
        "  in-sync apply:  {}; wall median {:.0} ms (min {:.0}, max {:.0}); CPU {:.0} ms; peak RSS {} KiB",
        calls_text(&r.calls),
        walls[2].as_secs_f64() * 1000.0,
        walls[0].as_secs_f64() * 1000.0,
        walls[4].as_secs_f64() * 1000.0,
        r.cpu.as_secs_f64() * 1000.0,
        peak
    );

    let n = moved * TABLES;
    println!("  changing {n} routes ({moved} CIDRs to another router in every table); this takes minutes, as EC2's budget would:");
    let r = apply(&sim, &moving);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let floor = (n.saturating_sub(50)) as f64 / 5.0;
    println!(
        "  {n}-change apply: {}; wall {:.1} s (the mutating budget allows no less than {floor:.1} s); CPU {:.0} ms",
        calls_text(&r.calls),
        r.wall.as_secs_f64(),
        r.cpu.as_secs_f64() * 1000.0
    );
    let wrong = (0..TABLES)
        .flat_map(|t| (0..moved).map(move |c| (t, c)))
        .filter(|(t, c)| {
            sim.route_target(&format!("rtb-{t:08x}"), &numbered_cidr(*c))
                .as_deref()
                != Some(B.0)
        })
        .count();
    println!("  routes not at the new router afterwards: {wrong}");
    let _ = std::fs::remove_dir_all(&dir);
}
