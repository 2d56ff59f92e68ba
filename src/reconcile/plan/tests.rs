//! The planner as data: (spec, observed tables, interfaces, owned,
//! options, health) -> expected changes and issues.

use super::*;
use crate::ec2::fake::{eni, table};
use crate::spec;

const A: &str = "eni-0aaaaaaaaaaaaaaa1"; // 10.33.20.142
const B: &str = "eni-0bbbbbbbbbbbbbbb2"; // 10.33.30.22
const C: &str = "eni-0ccccccccccccccc3"; // 10.33.40.7, in no spec below
const LOCAL: &str = "10.33.0.0/16 local active table";

fn enis() -> Vec<NetworkInterface> {
    vec![
        eni(A, "i-0aaaaaaaaaaaaaaa1", &["10.33.20.142"], false),
        eni(B, "i-0bbbbbbbbbbbbbbb2", &["10.33.30.22"], false),
        eni(C, "i-0ccccccccccccccc3", &["10.33.40.7"], false),
    ]
}

struct Case<'a> {
    name: &'a str,
    spec: &'a str,
    /// One string of routes per table (rtb-1..., rtb-2...), in the fake's
    /// `table()` notation.
    tables: &'a [&'a str],
    owned: &'a [&'a str],
    options: Options,
    /// IPs whose health check failed.
    down: &'a [&'a str],
    /// IPs not checked enough yet.
    unknown: &'a [&'a str],
    /// IPs that may fail back (`--failback`, after the hold-down).
    failback: &'a [&'a str],
    enis: Vec<NetworkInterface>,
    /// "action table cidr target (reason)", in plan order.
    changes: &'a [&'a str],
    issues: &'a [&'a str],
    /// "eni (ip)" of each source/dest check fix.
    fixes: &'a [&'a str],
    /// The spec is learned (BGP): every CIDR strict.
    learned: bool,
}

impl Default for Case<'_> {
    fn default() -> Self {
        Case {
            name: "",
            spec: r#"{"10.55.0.0/16": ["10.33.20.142", "10.33.30.22"]}"#,
            tables: &[LOCAL, LOCAL],
            owned: &[],
            options: Options::default(),
            down: &[],
            unknown: &[],
            failback: &[],
            enis: enis(),
            changes: &[],
            issues: &[],
            fixes: &[],
            learned: false,
        }
    }
}

const IDS: [&str; 3] = ["rtb-0a1b2c3d", "rtb-1a2b3c4d", "rtb-2a2b3c4d"];

fn render(c: &Change) -> String {
    let to = c.to.as_ref().map_or("-".to_string(), |t| t.eni.to_string());
    format!(
        "{} {} {} {to} ({})",
        c.action.as_str(),
        &c.table.as_str()[..8],
        c.cidr,
        c.reason
    )
}

fn check(case: Case<'_>) {
    let spec = spec::parse(case.spec.as_bytes()).unwrap();
    let spec = if case.learned {
        crate::spec::Spec::learned(spec.routes().clone())
    } else {
        spec
    };
    let tables: Vec<RouteTable> = case
        .tables
        .iter()
        .enumerate()
        .map(|(i, routes)| table(IDS[i], i == 0, routes))
        .collect();
    let owned: BTreeSet<Cidr> = case.owned.iter().map(|c| c.parse().unwrap()).collect();
    let ips = |l: &[&str]| -> Vec<IpAddr> { l.iter().map(|d| d.parse().unwrap()).collect() };
    let (down, unknown, failback) = (ips(case.down), ips(case.unknown), ips(case.failback));
    let state = |ip: IpAddr| {
        if down.contains(&ip) {
            Health::Failed
        } else if unknown.contains(&ip) {
            Health::Unknown
        } else {
            Health::Healthy
        }
    };
    let failback = |ip: IpAddr| failback.contains(&ip);
    let p = plan(&Input {
        spec: &spec,
        tables: &tables,
        enis: &case.enis,
        owned: &owned,
        health: &HealthView {
            state: &state,
            failback: &failback,
        },
        options: &case.options,
    });
    let got: Vec<String> = p.changes.iter().map(render).collect();
    assert_eq!(got, case.changes, "{}: changes", case.name);
    let fixes: Vec<String> = p
        .fixes
        .iter()
        .map(|f| format!("{} ({})", f.eni, f.ip))
        .collect();
    assert_eq!(fixes, case.fixes, "{}: fixes", case.name);
    let issues: Vec<String> = p.issues.iter().map(ToString::to_string).collect();
    assert_eq!(
        issues.len(),
        case.issues.len(),
        "{}: issues {issues:#?}",
        case.name
    );
    for (got, want) in issues.iter().zip(case.issues) {
        assert!(
            got.contains(want),
            "{}: issue {got:?} lacks {want:?}",
            case.name
        );
    }
}

#[test]
fn converges_from_empty_and_is_quiet_in_sync() {
    check(Case {
        name: "from empty: the first host, in every table",
        changes: &[
            "create rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)",
            "create rtb-1a2b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)",
        ],
        ..Case::default()
    });
    let a = "10.33.0.0/16 local active table\n10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1";
    check(Case {
        name: "in sync: no change at all",
        tables: &[a, a, a],
        ..Case::default()
    });
}

#[test]
fn keeps_a_router_in_use_and_makes_the_tables_agree() {
    let b =
        "10.33.0.0/16 local active table\n10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2+i-0bbbbbbbbbbbbbbb2";
    let a = "10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1";
    check(Case {
        name: "B is in use and eligible: kept, the other table follows",
        tables: &[b, LOCAL],
        changes: &["create rtb-1a2b 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2 (missing)"],
        ..Case::default()
    });
    check(Case {
        name: "tables disagree: the higher-priority router in use wins",
        tables: &[b, a],
        changes: &[
            "replace rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (points at another router)",
        ],
        ..Case::default()
    });
    check(Case {
        name: "A is back, but B is in use: no failback by default",
        tables: &[b, b],
        ..Case::default()
    });
    check(Case {
        name: "A may fail back (--failback, held long enough): every table moves",
        tables: &[b, b],
        failback: &["10.33.20.142"],
        changes: &[
            "replace rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (points at another router)",
            "replace rtb-1a2b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (points at another router)",
        ],
        ..Case::default()
    });
    check(Case {
        name: "a new choice prefers a host known healthy to an unknown one",
        tables: &[LOCAL],
        unknown: &["10.33.20.142"],
        changes: &["create rtb-0a1b 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2 (missing)"],
        ..Case::default()
    });
    check(Case {
        name: "an unknown host in use is kept",
        tables: &[a],
        unknown: &["10.33.20.142"],
        ..Case::default()
    });
    check(Case {
        name: "only unknown hosts: the first one",
        tables: &[LOCAL],
        unknown: &["10.33.20.142", "10.33.30.22"],
        changes: &["create rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)"],
        ..Case::default()
    });
    check(Case {
        name: "B in use but down: back to A",
        tables: &[b, LOCAL],
        down: &["10.33.30.22"],
        changes: &[
            "replace rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (points at another router)",
            "create rtb-1a2b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)",
        ],
        ..Case::default()
    });
}

#[test]
fn repairs_blackholes_and_stale_interfaces() {
    check(Case {
        name: "a blackhole to the chosen router is re-pointed",
        tables: &["10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 blackhole"],
        changes: &["replace rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (blackhole)"],
        ..Case::default()
    });
    check(Case {
        name: "a route to an interface not in the spec is re-pointed",
        tables: &["10.55.0.0/16 eni-0ccccccccccccccc3"],
        changes: &[
            "replace rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (points at an interface that is not an eligible router)",
        ],
        ..Case::default()
    });
    // The router's IP now belongs to a new instance's interface: the old
    // route (to the old interface) is stale.
    let mut moved = enis();
    moved[0].id = "eni-0ddddddddddddddd4".parse().unwrap();
    check(Case {
        name: "an IP reused by a new instance",
        spec: r#"{"10.55.0.0/16": ["10.33.20.142"]}"#,
        tables: &["10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1"],
        enis: moved,
        changes: &[
            "replace rtb-0a1b 10.55.0.0/16 eni-0ddddddddddddddd4 (points at an interface that is not an eligible router)",
        ],
        ..Case::default()
    });
    // A router whose interface lost its instance: EC2 keeps routes to it
    // in blackhole, so it is not eligible; with no other host the routes
    // stay (re-pointing them at it again would change nothing, forever).
    let mut detached = enis();
    detached[0].instance = None;
    detached[0].status = "available".into();
    check(Case {
        name: "a detached router: the next host takes over",
        tables: &["10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 blackhole"],
        enis: detached.clone(),
        changes: &["replace rtb-0a1b 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2 (blackhole)"],
        ..Case::default()
    });
    check(Case {
        name: "a detached router and no other: nothing to do",
        spec: r#"{"10.55.0.0/16": ["10.33.20.142"]}"#,
        tables: &["10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 blackhole"],
        enis: detached,
        issues: &["10.55.0.0/16: no eligible router"],
        ..Case::default()
    });
}

#[test]
fn never_touches_what_is_not_its_own() {
    check(Case {
        name: "a gateway and a propagated route at spec CIDRs",
        spec: r#"{"10.55.0.0/16": ["10.33.20.142"], "172.16.0.0/12": ["10.33.20.142"]}"#,
        tables: &[
            "10.55.0.0/16 igw-1a2b3c4d\n172.16.0.0/12 vgw-0a1b2c3d active propagated",
            LOCAL,
        ],
        changes: &[
            "create rtb-1a2b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)",
            "create rtb-1a2b 172.16.0.0/12 eni-0aaaaaaaaaaaaaaa1 (missing)",
        ],
        issues: &[
            "10.55.0.0/16 in rtb-0a1b2c3d: the route goes to igw-1a2b3c4d, which vpc-router does not own",
            "172.16.0.0/12 in rtb-0a1b2c3d: the route goes to vgw-0a1b2c3d",
        ],
        ..Case::default()
    });
    check(Case {
        name: "the local route itself in the spec",
        spec: r#"{"10.33.0.0/16": ["10.33.20.142"]}"#,
        issues: &[
            "10.33.0.0/16 in rtb-0a1b2c3d",
            "10.33.0.0/16 in rtb-1a2b3c4d",
        ],
        ..Case::default()
    });
    check(Case {
        name: "no eligible router: nothing changes",
        spec: r#"{"10.55.0.0/16": ["10.9.9.9"]}"#,
        tables: &["10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1"],
        issues: &["10.55.0.0/16: no eligible router"],
        ..Case::default()
    });
    check(Case {
        name: "every host down: nothing changes",
        tables: &["10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1"],
        down: &["10.33.20.142", "10.33.30.22"],
        issues: &["10.55.0.0/16: no healthy router"],
        ..Case::default()
    });
}

#[test]
fn deletes_only_what_it_owns_unless_pruning() {
    let t = "10.33.0.0/16 local active table\n\
             0.0.0.0/0 igw-1a2b3c4d\n\
             10.66.0.0/16 eni-0aaaaaaaaaaaaaaa1\n\
             10.77.0.0/16 eni-0ccccccccccccccc3\n\
             10.78.1.0/24 eni-0ccccccccccccccc3\n\
             10.88.0.0/16 tgw-0123456789abcdef0";
    let sync = "10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1";
    let both = format!("{sync}\n{t}");
    check(Case {
        name: "a CIDR we managed left the spec: its interface routes go",
        tables: &[
            &both,
            "10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1\n10.66.0.0/16 igw-1a2b3c4d",
        ],
        owned: &["10.55.0.0/16", "10.66.0.0/16"],
        changes: &["delete rtb-0a1b 10.66.0.0/16 - (no longer in the spec)"],
        ..Case::default()
    });
    check(Case {
        name: "routes never managed are never touched",
        tables: &[&both],
        owned: &["10.55.0.0/16"],
        ..Case::default()
    });
    check(Case {
        name: "--prune, with an ignored range",
        tables: &[&both],
        options: Options {
            prune: true,
            ignore: vec!["10.78.0.0/16".parse().unwrap()],
            ..Options::default()
        },
        changes: &[
            "delete rtb-0a1b 10.66.0.0/16 - (not in the spec (--prune))",
            "delete rtb-0a1b 10.77.0.0/16 - (not in the spec (--prune))",
        ],
        ..Case::default()
    });
}

#[test]
fn warns_about_quota_and_source_dest_check() {
    let full = "10.33.0.0/16 local active table\n0.0.0.0/0 igw-1a2b3c4d\n10.1.0.0/16 eni-0ccccccccccccccc3";
    check(Case {
        name: "route limit",
        tables: &[full, LOCAL],
        options: Options {
            route_limit: 3,
            ..Options::default()
        },
        changes: &[
            "create rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)",
            "create rtb-1a2b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)",
        ],
        issues: &["rtb-0a1b2c3d would hold 4 routes, over the limit of 3"],
        ..Case::default()
    });
    let mut checked = enis();
    checked[1].source_dest_check = Some(true);
    check(Case {
        name: "source/dest check on the chosen router, reported once",
        spec: r#"{"10.55.0.0/16": ["10.33.30.22"], "10.56.0.0/16": ["10.33.30.22"], "2001:db8::/56": ["10.33.20.142"]}"#,
        tables: &[LOCAL],
        changes: &[
            "create rtb-0a1b 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2 (missing)",
            "create rtb-0a1b 10.56.0.0/16 eni-0bbbbbbbbbbbbbbb2 (missing)",
            "create rtb-0a1b 2001:db8::/56 eni-0aaaaaaaaaaaaaaa1 (missing)",
        ],
        issues: &["source/destination check is enabled on eni-0bbbbbbbbbbbbbbb2 (10.33.30.22)"],
        enis: checked.clone(),
        ..Case::default()
    });
    check(Case {
        name: "source/dest check on a backup router is reported too",
        tables: &[LOCAL],
        enis: checked.clone(),
        changes: &["create rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)"],
        issues: &["source/destination check is enabled on eni-0bbbbbbbbbbbbbbb2 (10.33.30.22)"],
        ..Case::default()
    });
    check(Case {
        name: "--fix-source-dest-check: a fix instead of a warning",
        tables: &[LOCAL],
        enis: checked,
        options: Options {
            fix_source_dest_check: true,
            ..Options::default()
        },
        changes: &["create rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)"],
        fixes: &["eni-0bbbbbbbbbbbbbbb2 (10.33.30.22)"],
        ..Case::default()
    });
}

#[test]
fn targets_are_reported_per_cidr() {
    let spec =
        spec::parse(br#"{"10.55.0.0/16": ["10.33.30.22"], "10.56.0.0/16": ["10.9.9.9"]}"#).unwrap();
    let p = plan(&Input {
        spec: &spec,
        tables: &[],
        enis: &enis(),
        owned: &BTreeSet::new(),
        health: &ALL_HEALTHY,
        options: &Options::default(),
    });
    let t = &p.targets[&"10.55.0.0/16".parse().unwrap()];
    assert_eq!(t.as_ref().unwrap().eni.as_str(), B);
    assert_eq!(p.targets[&"10.56.0.0/16".parse().unwrap()], None);
}

// Issue 16: routes VPC Route Server installs (origin Advertisement) were
// replaced at a spec CIDR and deleted by --prune; now the planner uses the
// commands' own safety rule, so they are reported and left alone.
#[test]
fn route_server_and_other_origins_are_never_touched() {
    let rs = "10.33.0.0/16 local active table
              10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2 active advertised
              10.88.0.0/16 eni-0ccccccccccccccc3 active advertised
              10.89.0.0/16 eni-0ccccccccccccccc3 filtered advertised
              10.92.0.0/16 eni-0ccccccccccccccc3 active other:SomethingNew";
    check(Case {
        name: "a spec CIDR held by Route Server: reported, not replaced",
        tables: &[rs],
        issues: &["10.55.0.0/16 in rtb-0a1b2c3d: the route goes to eni-0bbbbbbbbbbbbbbb2"],
        ..Case::default()
    });
    check(Case {
        name: "--prune and owned CIDRs leave them alone",
        spec: r#"{"10.56.0.0/16": ["10.33.20.142"]}"#,
        tables: &[rs],
        owned: &["10.88.0.0/16", "10.92.0.0/16"],
        options: Options {
            prune: true,
            ..Options::default()
        },
        changes: &["create rtb-0a1b 10.56.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)"],
        ..Case::default()
    });
    // A filtered route to A is not "A in use": B, in use elsewhere, stays.
    let filtered_a = "10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 filtered";
    let b = "10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2";
    check(Case {
        name: "a filtered route is not an active one",
        tables: &[filtered_a, b],
        changes: &[
            "replace rtb-0a1b 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2 (points at another router)",
        ],
        ..Case::default()
    });
}

#[test]
fn a_learned_cidr_follows_its_best_eligible_path_at_once() {
    let b =
        "10.33.0.0/16 local active table\n10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2+i-0bbbbbbbbbbbbbbb2";
    // A (better) is not in use; a configured spec keeps B, which is.
    check(Case {
        name: "configured: the router in use stays",
        spec: r#"{"10.55.0.0/16": ["10.33.20.142", "10.33.30.22"]}"#,
        tables: &[b, LOCAL],
        changes: &["create rtb-1a2b 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2 (missing)"],
        ..Case::default()
    });
    // Learned: the best path (A) wins at once; a better path whose next
    // hop no interface holds is passed over, and said so.
    check(Case {
        name: "learned: the best eligible path wins",
        spec: r#"{"10.55.0.0/16": ["10.33.50.9", "10.33.20.142", "10.33.30.22"]}"#,
        tables: &[b, LOCAL],
        learned: true,
        changes: &[
            "replace rtb-0a1b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (points at another router)",
            "create rtb-1a2b 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 (missing)",
        ],
        issues: &[
            "10.55.0.0/16: a better path's next hop 10.33.50.9 is held by no attached \
                   interface of the VPC; the next best path is used",
        ],
        ..Case::default()
    });
}

#[test]
fn the_route_index_finds_what_a_scan_finds() {
    let tables = [
        table(
            IDS[0],
            true,
            "10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1\n10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2\n10.66.0.0/16 local",
        ),
        table(IDS[1], false, "10.77.0.0/16 eni-0bbbbbbbbbbbbbbb2"),
        table(IDS[2], false, "2001:db8::/32 eni-0ccccccccccccccc3"),
    ];
    let cidrs: Vec<Cidr> = ["10.55.0.0/16", "10.77.0.0/16", "2001:db8::/32"]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    // Indexed (the spec's CIDRs, one given twice) or not (10.66.0.0/16,
    // 10.88.0.0/16): every lookup agrees with the table's own scan, the
    // first route of a CIDR given twice included.
    let index = RouteIndex::new(&tables, cidrs.iter().chain(&cidrs[..1]));
    let all: Vec<Cidr> = [
        "10.55.0.0/16",
        "10.66.0.0/16",
        "10.77.0.0/16",
        "10.88.0.0/16",
        "2001:db8::/32",
    ]
    .iter()
    .map(|c| c.parse().unwrap())
    .collect();
    for c in &all {
        for (t, table) in tables.iter().enumerate() {
            assert_eq!(index.get(t, c), table.route_for(c), "{c} in {t}");
        }
        let scanned: Vec<&Route> = tables.iter().filter_map(|t| t.route_for(c)).collect();
        assert_eq!(index.routes_for(c).collect::<Vec<_>>(), scanned, "{c}");
    }
    assert_eq!(
        index
            .get(0, &all[0])
            .and_then(|r| r.target.eni())
            .map(EniId::as_str),
        Some(A)
    );
    assert!(index.get(3, &all[0]).is_none(), "no fourth table");
}
