//! Decides what one command means for one route table. Pure: no I/O, no
//! clock, no errors. Everything it needs is passed in, so every rule (the
//! safety rules above all) is tested as data. The safety rule itself,
//! [`protection`], is the one the reconcile planner applies too.

use std::fmt;

use crate::ec2::{Route, RouteOrigin, RouteState, RouteTable, RouteTarget};
use crate::types::{Cidr, EniId};

/// The three commands of the CLI and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Show,
    Del,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Show => "show",
            Op::Del => "del",
        }
    }
}

/// What to do with one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// add: the table has no route for the CIDR.
    Create,
    /// add: the route exists but must point at our interface.
    Replace(ReplaceReason),
    /// del: the route exists and may be deleted.
    Delete,
    /// add: the route already points at our interface and is active.
    Unchanged,
    /// show: the route exists.
    Found,
    /// show, del: the table has no route for the CIDR.
    Missing,
    /// The route at this CIDR is not ours to change.
    Refused(Protection),
}

impl Step {
    /// Whether this step needs a mutating EC2 call.
    pub fn mutates(&self) -> bool {
        matches!(self, Step::Create | Step::Replace(_) | Step::Delete)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaceReason {
    /// It points at another instance or interface.
    OtherTarget,
    /// Its target is gone (state blackhole).
    Blackhole,
    /// It points at a gateway or is propagated, and `--force` was given.
    Forced,
}

/// Why a route is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// The VPC's `local` route: never touched, not even with `--force`.
    Local,
    /// A gateway, NAT, peering, endpoint, ... target; `--force` overrides.
    Gateway(String),
    /// Propagated by a virtual private gateway; `--force` overrides.
    Propagated,
    /// Installed by VPC Route Server (origin `Advertisement`); `--force`
    /// overrides.
    RouteServer,
    /// Another origin than `CreateRoute` (one EC2 added later, or none);
    /// `--force` overrides.
    Origin(String),
    /// A target vpc-router does not recognise; `--force` overrides.
    UnknownTarget,
}

impl Protection {
    /// Whether `--force` may override this protection.
    pub fn forcible(&self) -> bool {
        !matches!(self, Protection::Local)
    }
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protection::Local => {
                f.write_str("this is the VPC's local route, which vpc-router never changes")
            }
            Protection::Gateway(id) => write!(
                f,
                "the route targets {id}, not an instance; use --force to change it anyway"
            ),
            Protection::Propagated => f.write_str(
                "the route is propagated by a virtual private gateway; \
                 use --force to change it anyway",
            ),
            Protection::RouteServer => f.write_str(
                "the route was installed by VPC Route Server (origin Advertisement); \
                 use --force to change it anyway",
            ),
            Protection::Origin(o) => write!(
                f,
                "the route's origin is '{o}', not CreateRoute, so vpc-router did not make it; \
                 use --force to change it anyway"
            ),
            Protection::UnknownTarget => f.write_str(
                "the route has a target vpc-router does not recognise; \
                 use --force to change it anyway",
            ),
        }
    }
}

/// Why `route` is not vpc-router's to change, or `None` when it may be: the
/// one safety rule, for the commands here and for the reconcile planner
/// (which never forces). Only a route to an instance or interface that a
/// `CreateRoute` made is a candidate; the local route, a gateway of any
/// kind, and every other origin (made with the table, propagated,
/// installed by VPC Route Server, or one EC2 adds later) are not.
pub fn protection(route: &Route) -> Option<Protection> {
    match (&route.target, &route.origin) {
        (RouteTarget::Local, _) | (_, RouteOrigin::CreateRouteTable) => Some(Protection::Local),
        (_, RouteOrigin::EnableVgwRoutePropagation) => Some(Protection::Propagated),
        (_, RouteOrigin::Advertisement) => Some(Protection::RouteServer),
        (_, RouteOrigin::Other(o)) => Some(Protection::Origin(o.to_string())),
        (RouteTarget::Gateway(id), RouteOrigin::CreateRoute) => {
            Some(Protection::Gateway(id.to_string()))
        }
        (RouteTarget::Unknown, RouteOrigin::CreateRoute) => Some(Protection::UnknownTarget),
        (RouteTarget::Interface { .. }, RouteOrigin::CreateRoute) => None,
    }
}

/// Decides the step for `table`. `router` is the interface that should
/// receive the CIDR's packets (for add; ignored otherwise).
pub fn decide(
    op: Op,
    table: &RouteTable,
    cidr: &Cidr,
    router: Option<&EniId>,
    force: bool,
) -> Step {
    let Some(route) = table.route_for(cidr) else {
        return match op {
            Op::Add => Step::Create,
            Op::Show | Op::Del => Step::Missing,
        };
    };
    if op == Op::Show {
        return Step::Found;
    }
    if let Some(p) = protection(route) {
        if !(force && p.forcible()) {
            return Step::Refused(p);
        }
        return match op {
            Op::Add => Step::Replace(ReplaceReason::Forced),
            _ => Step::Delete,
        };
    }
    match op {
        Op::Del => Step::Delete,
        Op::Add => {
            // A route already at the router is left alone even in
            // blackhole: EC2 reports that while the router's interface is
            // detached, and ReplaceRoute to the same interface would change
            // nothing (execute warns about the detached interface).
            if route.target.eni().is_some() && route.target.eni() == router {
                Step::Unchanged
            } else if route.state == RouteState::Blackhole {
                Step::Replace(ReplaceReason::Blackhole)
            } else {
                Step::Replace(ReplaceReason::OtherTarget)
            }
        }
        Op::Show => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(lines: &str) -> RouteTable {
        crate::ec2::fake::table("rtb-0a1b2c3d", false, lines)
    }

    const ME: &str = "eni-0aaaaaaaaaaaaaaa1";

    fn check(op: Op, force: bool, cidr: &str, lines: &str, expect: Step) {
        let eni: EniId = ME.parse().unwrap();
        let got = decide(op, &table(lines), &cidr.parse().unwrap(), Some(&eni), force);
        assert_eq!(got, expect, "{op:?} {cidr} force={force} in:\n{lines}");
    }

    const T: &str = "
        10.33.0.0/16 local active table
        0.0.0.0/0 igw-1a2b3c4d
        10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1+i-0aaaaaaaaaaaaaaa1
        10.56.0.0/16 eni-0bbbbbbbbbbbbbbb2+i-0bbbbbbbbbbbbbbb2
        10.66.0.0/16 eni-0aaaaaaaaaaaaaaa1 blackhole
        10.67.0.0/16 i-0ccccccccccccccc3 blackhole
        10.68.0.0/16 i-0aaaaaaaaaaaaaaa1
        172.16.0.0/12 vgw-0a1b2c3d active propagated
        192.168.0.0/16 pcx-0a1b2c3d
        10.99.0.0/16 ?
        2001:db8::/48 eni-0aaaaaaaaaaaaaaa1
    ";

    #[test]
    fn add() {
        use ReplaceReason::*;
        check(Op::Add, false, "10.77.0.0/16", T, Step::Create);
        check(Op::Add, false, "10.55.0.0/16", T, Step::Unchanged);
        check(
            Op::Add,
            false,
            "10.56.0.0/16",
            T,
            Step::Replace(OtherTarget),
        );
        // Blackhole at our own interface (detached): nothing to change.
        check(Op::Add, false, "10.66.0.0/16", T, Step::Unchanged);
        check(Op::Add, false, "10.67.0.0/16", T, Step::Replace(Blackhole));
        // An instance route without an ENI is made explicit.
        check(
            Op::Add,
            false,
            "10.68.0.0/16",
            T,
            Step::Replace(OtherTarget),
        );
        check(Op::Add, false, "2001:db8::/48", T, Step::Unchanged);
        check(Op::Add, false, "2001:db8::/56", T, Step::Create);
        // A longer or shorter prefix at the same address is another route.
        check(Op::Add, false, "10.55.0.0/24", T, Step::Create);
    }

    #[test]
    fn add_never_touches_what_is_not_ours_without_force() {
        use Protection::*;
        let gw = |s: &str| Step::Refused(Gateway(s.into()));
        check(Op::Add, false, "10.33.0.0/16", T, Step::Refused(Local));
        check(Op::Add, false, "0.0.0.0/0", T, gw("igw-1a2b3c4d"));
        check(Op::Add, false, "192.168.0.0/16", T, gw("pcx-0a1b2c3d"));
        check(
            Op::Add,
            false,
            "172.16.0.0/12",
            T,
            Step::Refused(Propagated),
        );
        check(
            Op::Add,
            false,
            "10.99.0.0/16",
            T,
            Step::Refused(UnknownTarget),
        );
    }

    #[test]
    fn force_overrides_all_but_local() {
        let forced = Step::Replace(ReplaceReason::Forced);
        check(Op::Add, true, "0.0.0.0/0", T, forced.clone());
        check(Op::Add, true, "172.16.0.0/12", T, forced.clone());
        check(Op::Add, true, "10.99.0.0/16", T, forced);
        check(
            Op::Add,
            true,
            "10.33.0.0/16",
            T,
            Step::Refused(Protection::Local),
        );
        check(Op::Del, true, "192.168.0.0/16", T, Step::Delete);
        check(
            Op::Del,
            true,
            "10.33.0.0/16",
            T,
            Step::Refused(Protection::Local),
        );
        // A route created with the table is local whatever its target says.
        check(
            Op::Del,
            true,
            "10.33.0.0/16",
            "10.33.0.0/16 eni-0aaaaaaaaaaaaaaa1 active table",
            Step::Refused(Protection::Local),
        );
    }

    #[test]
    fn del() {
        check(Op::Del, false, "10.55.0.0/16", T, Step::Delete);
        check(Op::Del, false, "10.56.0.0/16", T, Step::Delete);
        check(Op::Del, false, "10.66.0.0/16", T, Step::Delete);
        check(Op::Del, false, "10.77.0.0/16", T, Step::Missing);
        check(
            Op::Del,
            false,
            "0.0.0.0/0",
            T,
            Step::Refused(Protection::Gateway("igw-1a2b3c4d".into())),
        );
        check(
            Op::Del,
            false,
            "172.16.0.0/12",
            T,
            Step::Refused(Protection::Propagated),
        );
        check(
            Op::Del,
            false,
            "10.33.0.0/16",
            T,
            Step::Refused(Protection::Local),
        );
    }

    // Issue 16: a VPC Route Server route to an interface was an ordinary
    // interface route: del would delete it, add would replace it.
    #[test]
    fn only_create_route_routes_are_candidates() {
        const RS: &str = "
            10.88.0.0/16 eni-0aaaaaaaaaaaaaaa1 active advertised
            10.89.0.0/16 eni-0bbbbbbbbbbbbbbb2 filtered advertised
            10.92.0.0/16 eni-0bbbbbbbbbbbbbbb2 active other:SomethingNew
            10.93.0.0/16 eni-0bbbbbbbbbbbbbbb2 active other:
        ";
        let rs = Step::Refused(Protection::RouteServer);
        for op in [Op::Add, Op::Del] {
            check(op, false, "10.88.0.0/16", RS, rs.clone());
            check(op, false, "10.89.0.0/16", RS, rs.clone());
            check(
                op,
                false,
                "10.92.0.0/16",
                RS,
                Step::Refused(Protection::Origin("SomethingNew".into())),
            );
            check(
                op,
                false,
                "10.93.0.0/16",
                RS,
                Step::Refused(Protection::Origin(String::new())),
            );
        }
        check(
            Op::Add,
            true,
            "10.88.0.0/16",
            RS,
            Step::Replace(ReplaceReason::Forced),
        );
        check(Op::Del, true, "10.92.0.0/16", RS, Step::Delete);
        check(Op::Show, false, "10.89.0.0/16", RS, Step::Found);
    }

    #[test]
    fn the_safety_rule_as_a_table() {
        let route = |target: RouteTarget, origin: RouteOrigin| Route {
            destination: crate::ec2::Destination::Cidr("10.55.0.0/16".parse().unwrap()),
            target,
            state: RouteState::Active,
            origin,
        };
        let eni = RouteTarget::Interface {
            eni: Some(ME.parse().unwrap()),
            instance: None,
        };
        let gw = RouteTarget::Gateway("nat-0123456789abcdef0".into());
        use RouteOrigin::*;
        let cases = [
            (eni.clone(), CreateRoute, None),
            (eni.clone(), Advertisement, Some(Protection::RouteServer)),
            (
                eni.clone(),
                EnableVgwRoutePropagation,
                Some(Protection::Propagated),
            ),
            (eni.clone(), CreateRouteTable, Some(Protection::Local)),
            (eni, Other("x".into()), Some(Protection::Origin("x".into()))),
            (
                gw.clone(),
                CreateRoute,
                Some(Protection::Gateway("nat-0123456789abcdef0".into())),
            ),
            (gw, Advertisement, Some(Protection::RouteServer)),
            (RouteTarget::Local, CreateRoute, Some(Protection::Local)),
            (
                RouteTarget::Unknown,
                CreateRoute,
                Some(Protection::UnknownTarget),
            ),
        ];
        for (target, origin, want) in cases {
            let r = route(target, origin);
            assert_eq!(protection(&r), want, "{r:?}");
        }
    }

    #[test]
    fn show_reports_without_judging() {
        check(Op::Show, false, "10.55.0.0/16", T, Step::Found);
        check(Op::Show, false, "0.0.0.0/0", T, Step::Found);
        check(Op::Show, false, "10.33.0.0/16", T, Step::Found);
        check(Op::Show, false, "10.77.0.0/16", T, Step::Missing);
    }

    #[test]
    fn only_mutating_steps_mutate() {
        assert!(Step::Create.mutates() && Step::Delete.mutates());
        assert!(Step::Replace(ReplaceReason::Forced).mutates());
        for s in [
            Step::Unchanged,
            Step::Found,
            Step::Missing,
            Step::Refused(Protection::Local),
        ] {
            assert!(!s.mutates(), "{s:?}");
        }
    }
}
