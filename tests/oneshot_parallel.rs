//! The one-shot `add` and `del` make their independent EC2 calls side by
//! side (issue 15): the simulator holds its answers in waves that fill only
//! when the calls come together, and records the most requests in flight.
//! Nothing here measures time; `benches/cli.rs` prints the wall time.

mod common;

use common::ec2sim::scenario;
use common::{run, A_ENI, A_IP, TABLES, VPC};

const FOURTH: &str = "rtb-3a2b3c4d";

/// The fixtures' VPC with a fourth table (local route only).
fn four_tables() -> common::ec2sim::Ec2Sim {
    let sim = scenario();
    sim.add_table(FOURTH, VPC, false);
    sim.add_gateway_route(FOURTH, "10.33.0.0/16", "local");
    sim
}

/// Where each table appears in `out`: strictly in table order.
fn in_table_order(out: &str) {
    let at: Vec<usize> = TABLES
        .iter()
        .chain([&FOURTH])
        .map(|t| {
            out.find(t)
                .unwrap_or_else(|| panic!("{t} missing from {out}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{out}");
}

#[test]
fn add_in_four_tables_describes_together_then_creates_together() {
    let sim = four_tables();
    // DescribeNetworkInterfaces with DescribeRouteTables, then 4 CreateRoutes.
    sim.hold_waves(&[2, 4]);
    let r = run(
        &sim.url(),
        &["-c", "add", "--CIDR", "10.88.0.0/16", "--ip", A_IP],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!((sim.broken_waves(), sim.max_in_flight()), (0, 4));
    let mut actions = sim.actions();
    actions.sort();
    assert_eq!(
        actions,
        [
            "CreateRoute",
            "CreateRoute",
            "CreateRoute",
            "CreateRoute",
            "DescribeNetworkInterfaces",
            "DescribeRouteTables",
        ]
    );
    for t in TABLES.iter().chain([&FOURTH]) {
        assert_eq!(
            sim.route_target(t, "10.88.0.0/16").as_deref(),
            Some(A_ENI),
            "{t}"
        );
    }
    in_table_order(&r.stdout);
}

#[test]
fn del_in_four_tables_deletes_together_and_reports_each_table() {
    let sim = four_tables();
    let add = run(
        &sim.url(),
        &["-c", "add", "--CIDR", "10.88.0.0/16", "--ip", A_IP],
    );
    assert_eq!(add.code, 0, "{}", add.stderr);
    // One table loses the route meanwhile: reported missing (exit 1), the
    // other three deleted together.
    assert!(sim.remove_route(TABLES[1], "10.88.0.0/16"));
    sim.clear_calls();
    sim.hold_waves(&[1, 3]);
    let r = run(&sim.url(), &["-c", "del", "--CIDR", "10.88.0.0/16"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(sim.broken_waves(), 0);
    let deletes = sim.actions().iter().filter(|a| *a == "DeleteRoute").count();
    assert_eq!(deletes, 3);
    for t in TABLES.iter().chain([&FOURTH]) {
        assert_eq!(sim.route_target(t, "10.88.0.0/16"), None, "{t}");
    }
    in_table_order(&r.stdout);
}
