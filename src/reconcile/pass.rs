//! One reconcile pass: observe (one DescribeRouteTables sequence, one
//! DescribeNetworkInterfaces for every spec IP), plan (pure), apply (one
//! call per change, each failure isolated: the rest of the pass goes on,
//! and the next pass retries what failed).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::{json, Value};

use super::plan::{self, Action, Change, Fix, Options, Plan};
use crate::ec2::{Ec2, Ec2Error, NetworkInterface, RouteTable};
use crate::route::{self, RouteError};
use crate::spec::Spec;
use crate::types::{Cidr, RouteTableId, VpcId};

/// Which tables desired-state routing manages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableScope {
    /// Only these tables (empty: all of the VPC's).
    pub tables: Vec<RouteTableId>,
    /// Only tables with this tag (`--route-table-tag Key=Value`).
    pub tag: Option<(String, String)>,
}

impl TableScope {
    fn keep(&self, t: &RouteTable) -> bool {
        self.tag
            .as_ref()
            .is_none_or(|(k, v)| t.tags.iter().any(|(tk, tv)| tk == k && tv == v))
    }
}

/// What a pass looked at.
#[derive(Debug, Clone)]
pub struct Observed {
    pub tables: Vec<RouteTable>,
    pub enis: Vec<NetworkInterface>,
}

/// Reads the tables in scope and the interfaces that hold the spec's IPs.
pub fn observe(
    ec2: &dyn Ec2,
    vpc: &VpcId,
    spec: &Spec,
    scope: &TableScope,
) -> Result<Observed, RouteError> {
    let mut tables = route::observe_tables(ec2, vpc, &scope.tables)?;
    tables.retain(|t| scope.keep(t));
    let ips: Vec<IpAddr> = spec.ips();
    let enis = if ips.is_empty() {
        Vec::new()
    } else {
        ec2.describe_network_interfaces(vpc, &ips)?
    };
    Ok(Observed { tables, enis })
}

/// Plans against an observation.
pub fn plan_for(
    spec: &Spec,
    observed: &Observed,
    owned: &BTreeSet<Cidr>,
    health: &plan::HealthView<'_>,
    options: &Options,
) -> Plan {
    plan::plan(&plan::Input {
        spec,
        tables: &observed.tables,
        enis: &observed.enis,
        owned,
        health,
        options,
    })
}

/// A change and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub change: Change,
    pub result: Result<(), Ec2Error>,
}

/// Makes the calls, in plan order. `pace` is called before each call and
/// may wait (the rate budget); it gets the call about to be made, and
/// answers whether to make it (a change whose router has failed since the
/// plan was made is dropped; it is not in the result). `done` is told of
/// each call as soon as it is answered (its log line is written then, not
/// at the end of a pass that may never end).
pub fn apply(
    ec2: &dyn Ec2,
    changes: &[Change],
    pace: &mut dyn FnMut(&Change) -> bool,
    done: &mut dyn FnMut(&Applied),
) -> Vec<Applied> {
    changes
        .iter()
        .filter(|c| pace(c))
        .map(|c| {
            let result = match (c.action, &c.to) {
                (Action::Create, Some(t)) => ec2.create_route(&c.table, &c.cidr, &t.eni, false),
                (Action::Replace, Some(t)) => ec2.replace_route(&c.table, &c.cidr, &t.eni, false),
                (Action::Delete, _) => ec2.delete_route(&c.table, &c.cidr, false),
                // The planner gives every create and replace a target.
                (_, None) => Ok(()),
            };
            let a = Applied {
                change: c.clone(),
                result,
            };
            done(&a);
            a
        })
        .collect()
}

/// What vpc-router must own before `changes` are made: `owned` and every
/// CIDR they create or point at a router (write-ahead: the record comes
/// before the call, so that a route that exists is always recorded, even
/// if the process dies right after the call).
pub fn owned_before(owned: &BTreeSet<Cidr>, changes: &[Change]) -> BTreeSet<Cidr> {
    let mut out = owned.clone();
    out.extend(
        changes
            .iter()
            .filter(|c| c.action != Action::Delete)
            .map(|c| c.cidr),
    );
    out
}

/// A source/destination check fix and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    pub fix: Fix,
    pub result: Result<(), Ec2Error>,
}

/// Turns source/destination check off where the plan says, each call
/// paced like a route change. Run before the route changes.
pub fn fix(ec2: &dyn Ec2, fixes: &[Fix], pace: &mut dyn FnMut()) -> Vec<Fixed> {
    fixes
        .iter()
        .map(|f| {
            pace();
            Fixed {
                fix: f.clone(),
                result: ec2.disable_source_dest_check(&f.eni, false),
            }
        })
        .collect()
}

/// One line of the text diff for a fix.
pub fn fix_line(f: &Fix) -> String {
    format!("! {} ({})  disable source/destination check", f.eni, f.ip)
}

/// A fix as JSON.
pub fn fix_json(f: &Fix) -> Value {
    json!({
        "network_interface": f.eni.to_string(),
        "ip": f.ip.to_string(),
        "action": "disable_source_dest_check",
    })
}

/// Brings an observation up to date with a change that was made, so that
/// a failover can act on it without looking again.
pub fn record_change(seen: &mut Observed, c: &Change) {
    let Some(t) = seen.tables.iter_mut().find(|t| t.id == c.table) else {
        return;
    };
    t.routes
        .retain(|r| r.destination != crate::ec2::Destination::Cidr(c.cidr));
    if let (Action::Create | Action::Replace, Some(to)) = (c.action, &c.to) {
        let instance = seen
            .enis
            .iter()
            .find(|e| e.id == to.eni)
            .and_then(|e| e.instance.clone());
        t.routes.push(crate::ec2::Route {
            destination: crate::ec2::Destination::Cidr(c.cidr),
            target: crate::ec2::RouteTarget::Interface {
                eni: Some(to.eni.clone()),
                instance,
            },
            state: crate::ec2::RouteState::Active,
            origin: crate::ec2::RouteOrigin::CreateRoute,
        });
    }
}

/// What vpc-router owns once `changes` (planned with `planned_with` owned)
/// were made, from what is `recorded` now: the spec's CIDRs; a CIDR the
/// plan did not know of (recorded meanwhile); and a CIDR left the spec
/// whose routes are not all confirmed deleted (a delete failed, or was
/// never made). A CIDR is released only once every delete of it is
/// confirmed.
pub fn owned_after(
    spec: &Spec,
    recorded: &BTreeSet<Cidr>,
    planned_with: &BTreeSet<Cidr>,
    changes: &[Change],
    applied: &[Applied],
) -> BTreeSet<Cidr> {
    let confirmed = |cidr: &Cidr| {
        changes
            .iter()
            .filter(|c| c.cidr == *cidr && c.action == Action::Delete)
            .all(|d| applied.iter().any(|a| a.change == *d && a.result.is_ok()))
    };
    let failed_deletes = applied
        .iter()
        .filter(|a| a.change.action == Action::Delete && a.result.is_err())
        .map(|a| &a.change.cidr);
    let mut owned: BTreeSet<Cidr> = spec.routes().keys().copied().collect();
    for c in recorded.iter().chain(failed_deletes) {
        if (!planned_with.contains(c) && recorded.contains(c)) || !confirmed(c) {
            owned.insert(*c);
        }
    }
    owned
}

/// A change as JSON (`plan`/`apply --output json`, and `/status` later).
pub fn change_json(c: &Change) -> Value {
    json!({
        "route_table": c.table.to_string(),
        "cidr": c.cidr.to_string(),
        "action": c.action.as_str(),
        "from": c.from.as_ref().map(ToString::to_string),
        "to": c.to.as_ref().map(|t| json!({"ip": t.ip.to_string(), "network_interface": t.eni.to_string()})),
        "reason": c.reason.to_string(),
    })
}

/// The log line of a change just made: `Ok` when it was made, `Err` when
/// its call failed.
pub fn applied_line(a: &Applied) -> Result<String, String> {
    let c = &a.change;
    let (from, to) = from_to(c);
    match &a.result {
        Ok(()) => Ok(format!(
            "route {} in {}: {from} -> {to} ({}: {})",
            c.cidr,
            c.table,
            c.action.as_str(),
            c.reason
        )),
        Err(e) => Err(format!(
            "route {} in {}: {} failed ({from} -> {to}): {e}",
            c.cidr,
            c.table,
            c.action.as_str()
        )),
    }
}

/// A change's old and new target, as text: `(none)` where there is none.
pub fn from_to(c: &Change) -> (String, String) {
    let from = c
        .from
        .as_ref()
        .map_or("(none)".to_string(), ToString::to_string);
    let to =
        c.to.as_ref()
            .map_or("(none)".to_string(), |t| format!("{} ({})", t.eni, t.ip));
    (from, to)
}

/// One line of the text diff.
pub fn change_line(c: &Change) -> String {
    let (from, to) = from_to(c);
    let sign = match c.action {
        Action::Create => '+',
        Action::Replace => '~',
        Action::Delete => '-',
    };
    format!(
        "{sign} {}  {:<18} {:<7}  {from} -> {to}  [{}]",
        c.table,
        c.cidr.to_string(),
        c.action.as_str(),
        c.reason
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::fake::{eni, table, FakeEc2, Fault};
    use crate::spec;

    fn vpc() -> FakeEc2 {
        FakeEc2::new(
            "vpc-350d6a51",
            vec![
                table(
                    "rtb-0a1b2c3d",
                    true,
                    "10.33.0.0/16 local active table\n10.66.0.0/16 eni-0aaaaaaaaaaaaaaa1",
                ),
                table("rtb-1a2b3c4d", false, "10.33.0.0/16 local active table"),
            ],
            vec![
                eni(
                    "eni-0aaaaaaaaaaaaaaa1",
                    "i-0aaaaaaaaaaaaaaa1",
                    &["10.33.20.142"],
                    false,
                ),
                eni(
                    "eni-0bbbbbbbbbbbbbbb2",
                    "i-0bbbbbbbbbbbbbbb2",
                    &["10.33.30.22"],
                    false,
                ),
            ],
        )
    }

    fn pass(ec2: &FakeEc2, spec: &Spec, owned: &BTreeSet<Cidr>) -> (Plan, Vec<Applied>) {
        let vpc_id: VpcId = "vpc-350d6a51".parse().unwrap();
        let seen = observe(ec2, &vpc_id, spec, &TableScope::default()).unwrap();
        let p = plan_for(spec, &seen, owned, &plan::ALL_HEALTHY, &Options::default());
        let applied = apply(ec2, &p.changes, &mut |_| true, &mut |_| {});
        (p, applied)
    }

    #[test]
    fn converges_then_makes_no_mutating_call() {
        let ec2 = vpc();
        let spec = spec::parse(br#"{"10.55.0.0/16": ["10.33.30.22", "10.33.20.142"]}"#).unwrap();
        let owned: BTreeSet<Cidr> = ["10.66.0.0/16".parse().unwrap()].into();
        let (p, applied) = pass(&ec2, &spec, &owned);
        assert!(applied.iter().all(|a| a.result.is_ok()));
        assert_eq!(
            ec2.mutations(),
            [
                "CreateRoute rtb-0a1b2c3d 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2",
                "CreateRoute rtb-1a2b3c4d 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2",
                "DeleteRoute rtb-0a1b2c3d 10.66.0.0/16",
            ]
        );
        let owned = owned_after(&spec, &owned, &owned, &p.changes, &applied);
        assert_eq!(owned.len(), 1);
        // In sync: exactly the two describes, nothing else.
        ec2.calls.borrow_mut().clear();
        let (p, _) = pass(&ec2, &spec, &owned);
        assert!(p.changes.is_empty());
        assert_eq!(ec2.calls().len(), 2, "{:?}", ec2.calls());
        assert!(ec2.calls()[1].starts_with("DescribeNetworkInterfaces"));
    }

    #[test]
    fn one_failure_does_not_stop_the_pass_and_is_retried_next_time() {
        let ec2 = vpc();
        ec2.fail("CreateRoute rtb-0a1b2c3d", Fault::Api("RouteLimitExceeded"));
        ec2.fail(
            "DeleteRoute rtb-0a1b2c3d",
            Fault::Api("UnauthorizedOperation"),
        );
        let spec = spec::parse(br#"{"10.55.0.0/16": ["10.33.20.142"]}"#).unwrap();
        let owned: BTreeSet<Cidr> = ["10.66.0.0/16".parse().unwrap()].into();
        let (p, applied) = pass(&ec2, &spec, &owned);
        let failed: Vec<String> = applied
            .iter()
            .filter_map(|a| {
                a.result
                    .as_ref()
                    .err()
                    .map(|e| e.code().unwrap().to_string())
            })
            .collect();
        assert_eq!(failed, ["RouteLimitExceeded", "UnauthorizedOperation"]);
        // The other table got its route.
        assert!(ec2.route("rtb-1a2b3c4d", "10.55.0.0/16").is_some());
        // The failed delete keeps 10.66.0.0/16 owned, so the next pass
        // deletes it; the failed create is planned again.
        let owned = owned_after(&spec, &owned, &owned, &p.changes, &applied);
        assert!(owned.contains(&"10.66.0.0/16".parse().unwrap()));
        let (p, applied) = pass(&ec2, &spec, &owned);
        assert_eq!(p.changes.len(), 2);
        assert!(applied.iter().all(|a| a.result.is_ok()));
    }

    #[test]
    fn a_hand_deletion_is_restored() {
        let ec2 = vpc();
        let spec = spec::parse(br#"{"10.55.0.0/16": ["10.33.20.142"]}"#).unwrap();
        let (_, _) = pass(&ec2, &spec, &BTreeSet::new());
        ec2.delete_route(
            &"rtb-1a2b3c4d".parse().unwrap(),
            &"10.55.0.0/16".parse().unwrap(),
            false,
        )
        .unwrap();
        ec2.calls.borrow_mut().clear();
        let (p, _) = pass(&ec2, &spec, &BTreeSet::new());
        assert_eq!(p.changes.len(), 1);
        assert_eq!(
            ec2.mutations(),
            ["CreateRoute rtb-1a2b3c4d 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1"]
        );
    }

    #[test]
    fn the_diff_reads_as_a_diff() {
        let ec2 = vpc();
        let spec = spec::parse(br#"{"10.55.0.0/16": ["10.33.20.142"]}"#).unwrap();
        let (p, _) = pass(&ec2, &spec, &["10.66.0.0/16".parse().unwrap()].into());
        let lines: Vec<String> = p.changes.iter().map(change_line).collect();
        assert_eq!(
            lines[0],
            "+ rtb-0a1b2c3d  10.55.0.0/16       create   (none) -> eni-0aaaaaaaaaaaaaaa1 (10.33.20.142)  [missing]"
        );
        assert!(
            lines[2]
                .starts_with("- rtb-0a1b2c3d  10.66.0.0/16       delete   eni-0aaaaaaaaaaaaaaa1"),
            "{}",
            lines[2]
        );
        assert_eq!(
            change_json(&p.changes[2])["reason"],
            "no longer in the spec"
        );
    }
}
