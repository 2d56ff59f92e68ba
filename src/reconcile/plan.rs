//! The reconcile planner: spec + observed tables + interfaces + what we own
//! -> the changes that make every table match the spec. Pure: no I/O, no
//! clock, cannot fail; every rule is here and tested as data.
//!
//! The rules:
//! - One router per CIDR, the same in every table: keep a router some
//!   table already uses if it is eligible (its IP is held by an attached
//!   interface of the VPC, and its health check has not failed), the
//!   highest in spec order of those, unless a higher host may fail back;
//!   else the first eligible host known to be healthy, or the first
//!   eligible one. No eligible host: leave the routes.
//! - Per table, at most one change per CIDR, and none where the route is
//!   already right (active, to the chosen interface).
//! - A blackhole route, or one to an interface that no longer holds an
//!   eligible IP, is re-pointed.
//! - Routes vpc-router does not own (local, gateways, propagated) are never
//!   touched, even at a spec CIDR: they are reported.
//! - An eligible router whose interface has source/destination check on
//!   is reported, or with `fix_source_dest_check` gets a [`Fix`].
//! - A CIDR we managed that left the spec has its interface routes
//!   deleted; with `prune`, every interface route not in the spec is,
//!   except inside the `ignore` ranges.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use crate::ec2::{Destination, NetworkInterface, Route, RouteState, RouteTable, RouteTarget};
use crate::spec::Spec;
use crate::types::{Cidr, EniId, RouteTableId};

/// What the planner needs besides the spec and the observation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Delete every instance/interface route not in the spec.
    pub prune: bool,
    /// Ranges `prune` never touches.
    pub ignore: Vec<Cidr>,
    /// Warn when a table would hold more routes than this (0: no check).
    pub route_limit: usize,
    /// Plan a [`Fix`] for a router interface with source/destination
    /// check on, instead of only reporting it.
    pub fix_source_dest_check: bool,
}

/// A router interface whose source/destination check is to be turned
/// off (`--fix-source-dest-check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub eni: EniId,
    pub ip: IpAddr,
}

/// The router chosen for a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub ip: IpAddr,
    pub eni: EniId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Create,
    Replace,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

/// Why a change is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The table has no route for a spec CIDR.
    Missing,
    /// The route points at another router of the spec.
    OtherRouter,
    /// The route's target is gone (state blackhole).
    Blackhole,
    /// The route points at an interface that holds no eligible IP (an IP
    /// reused by a new instance, a router removed from the spec).
    NotEligible,
    /// The CIDR left the spec; we created the route, so we delete it.
    LeftSpec,
    /// `prune`: an interface route that is not in the spec.
    Pruned,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Missing => "missing",
            Reason::OtherRouter => "points at another router",
            Reason::Blackhole => "blackhole",
            Reason::NotEligible => "points at an interface that is not an eligible router",
            Reason::LeftSpec => "no longer in the spec",
            Reason::Pruned => "not in the spec (--prune)",
        })
    }
}

/// One mutating call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub table: RouteTableId,
    pub cidr: Cidr,
    pub action: Action,
    /// The route's target now (none for a create).
    pub from: Option<RouteTarget>,
    /// The chosen router (none for a delete).
    pub to: Option<Target>,
    pub reason: Reason,
}

/// Something the user should know that no change fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    /// No host of the CIDR is eligible: routes stay as they are.
    NoEligibleRouter { cidr: Cidr },
    /// Hosts of the CIDR are held by attached interfaces, but every one of
    /// them has failed its health check: routes stay as they are.
    NoHealthyRouter { cidr: Cidr },
    /// A route vpc-router does not own sits at a spec CIDR.
    NotOurs {
        table: RouteTableId,
        cidr: Cidr,
        target: RouteTarget,
    },
    /// The table would hold more routes than the limit.
    RouteLimit {
        table: RouteTableId,
        routes: usize,
        limit: usize,
    },
    /// A learned (BGP) path's next hop is held by no attached interface of
    /// the VPC: the path is passed over for the next best.
    NextHopNotInVpc { cidr: Cidr, ip: IpAddr },
    /// An eligible router's interface has source/destination check
    /// enabled, so it drops the packets it should forward (reported when
    /// not fixing it).
    SourceDestCheck { eni: EniId, ip: IpAddr },
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issue::NoEligibleRouter { cidr } => write!(
                f,
                "{cidr}: no eligible router (no listed IP is held by an attached interface of \
                 the VPC); its routes are left as they are"
            ),
            Issue::NextHopNotInVpc { cidr, ip } => write!(
                f,
                "{cidr}: a better path's next hop {ip} is held by no attached interface of the \
                 VPC; the next best path is used"
            ),
            Issue::NoHealthyRouter { cidr } => write!(
                f,
                "{cidr}: no healthy router (every host that could carry it has failed its \
                 health check); its routes are left as they are"
            ),
            Issue::NotOurs {
                table,
                cidr,
                target,
            } => write!(
                f,
                "{cidr} in {table}: the route goes to {target}, which vpc-router does not \
                 own; left alone"
            ),
            Issue::RouteLimit {
                table,
                routes,
                limit,
            } => write!(
                f,
                "{table} would hold {routes} routes, over the limit of {limit} \
                 (--route-limit; EC2's quota is 50 by default, up to 1,000 on request)"
            ),
            Issue::SourceDestCheck { eni, ip } => write!(
                f,
                "source/destination check is enabled on {eni} ({ip}), so it drops forwarded \
                 packets; disable it (or run with --fix-source-dest-check)"
            ),
        }
    }
}

/// The planner's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Source/destination checks to turn off, before the route changes so
    /// that a router forwards as soon as routes point at it.
    pub fixes: Vec<Fix>,
    /// Per spec CIDR, the chosen router (none when no host is eligible).
    pub targets: BTreeMap<Cidr, Option<Target>>,
    pub issues: Vec<Issue>,
}

/// The routes of a set of CIDRs in every table, found in one scan of the
/// tables (O(tables × routes), one lookup in a map of the CIDRs per
/// route), so that finding a CIDR's route in a table is an array index,
/// not a scan of its routes. The planner and the engine's record of a pass
/// index the spec's CIDRs.
pub struct RouteIndex<'a> {
    tables: &'a [RouteTable],
    /// Each indexed CIDR's row in `routes`.
    rows: HashMap<Cidr, usize, BuildHasherDefault<CidrHasher>>,
    /// Row by row: the route for row `r` in table `t` is at
    /// `r * tables.len() + t`.
    routes: Vec<Option<&'a Route>>,
}

/// A fast hash for the index's keys (FxHash's mix, a word at a time):
/// they are CIDRs from the spec and EC2's answers, not from clients, so
/// std's SipHash, which resists chosen keys, buys nothing here and cost a
/// third of the planner's time.
#[derive(Default)]
pub struct CidrHasher(u64);

impl Hasher for CidrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl<'a> RouteIndex<'a> {
    /// Indexes the routes for `cidrs` in `tables`.
    pub fn new<'c>(tables: &'a [RouteTable], cidrs: impl IntoIterator<Item = &'c Cidr>) -> Self {
        let mut rows: HashMap<Cidr, usize, BuildHasherDefault<CidrHasher>> = HashMap::default();
        for c in cidrs {
            let next = rows.len();
            rows.entry(*c).or_insert(next);
        }
        let mut routes = vec![None; rows.len() * tables.len()];
        if !rows.is_empty() {
            for (t, table) in tables.iter().enumerate() {
                for r in &table.routes {
                    if let Destination::Cidr(c) = &r.destination {
                        if let Some(row) = rows.get(c) {
                            // The first, as RouteTable::route_for finds it.
                            routes[row * tables.len() + t].get_or_insert(r);
                        }
                    }
                }
            }
        }
        RouteIndex {
            tables,
            rows,
            routes,
        }
    }

    /// The route for exactly `cidr` in the `table`-th table. A CIDR not
    /// indexed is looked for in the table's routes.
    pub fn get(&self, table: usize, cidr: &Cidr) -> Option<&'a Route> {
        self.at(self.rows.get(cidr).copied(), table, cidr)
    }

    /// The route for `cidr` in each table that has one, in table order.
    pub fn routes_for<'s>(&'s self, cidr: &'s Cidr) -> impl Iterator<Item = &'a Route> + 's {
        let row = self.rows.get(cidr).copied();
        (0..self.tables.len()).filter_map(move |t| self.at(row, t, cidr))
    }

    /// The route in `row` (`cidr`'s, if it is indexed) of `table`.
    fn at(&self, row: Option<usize>, table: usize, cidr: &Cidr) -> Option<&'a Route> {
        match row {
            Some(row) => self
                .routes
                .get(row * self.tables.len() + table)
                .copied()
                .flatten(),
            None => self.tables.get(table)?.route_for(cidr),
        }
    }
}

/// Everything the planner looks at.
pub struct Input<'a> {
    pub spec: &'a Spec,
    /// The tables in scope, as observed.
    pub tables: &'a [RouteTable],
    /// The interfaces that hold any of the spec's IPs.
    pub enis: &'a [NetworkInterface],
    /// The CIDRs vpc-router manages (from the state dir).
    pub owned: &'a BTreeSet<Cidr>,
    /// What the health checks say of each host.
    pub health: &'a HealthView<'a>,
    pub options: &'a Options,
}

/// A host's health as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// Not checked enough yet: eligible, but a healthy host is preferred
    /// when a router must be chosen anew.
    Unknown,
    /// Never eligible.
    Failed,
}

/// The health checks' view: each host's state, and whether a host may take
/// its routes back from a lower-priority router (`--failback`: it has
/// stayed healthy for the hold-down time).
pub struct HealthView<'a> {
    pub state: &'a dyn Fn(IpAddr) -> Health,
    pub failback: &'a dyn Fn(IpAddr) -> bool,
}

fn always_healthy(_: IpAddr) -> Health {
    Health::Healthy
}

fn never(_: IpAddr) -> bool {
    false
}

/// Without health checks: every host is healthy, nothing fails back.
pub const ALL_HEALTHY: HealthView<'static> = HealthView {
    state: &always_healthy,
    failback: &never,
};

/// A route vpc-router may change: the one safety rule of the commands
/// (`route::plan::protection`), which a plan never forces.
fn ours(r: &Route) -> bool {
    crate::route::plan::protection(r).is_none()
}

pub fn plan(input: &Input<'_>) -> Plan {
    let mut out = Plan::default();
    let eni_of = |ip: IpAddr| -> Option<&NetworkInterface> {
        input.enis.iter().find(|e| e.addresses.contains(&ip))
    };
    let mut sdc_seen: BTreeSet<EniId> = BTreeSet::new();
    // Each table's routes by destination, once: a VPC of 200 tables of 500
    // routes would otherwise cost a linear search per (CIDR, table).
    let index = RouteIndex::new(input.tables, input.spec.routes().keys());

    for (cidr, hosts) in input.spec.routes() {
        // Eligible hosts in spec order, with their interfaces.
        let state = input.health.state;
        let eligible: Vec<(IpAddr, &NetworkInterface)> = hosts
            .iter()
            .filter(|h| state(h.ip) != Health::Failed)
            .filter_map(|h| eni_of(h.ip).map(|e| (h.ip, e)))
            .filter(|(_, e)| e.attached())
            .collect();
        let in_use = |eni: &EniId| {
            index
                .routes_for(cidr)
                .any(|r| r.state == RouteState::Active && r.target.eni() == Some(eni) && ours(r))
        };
        // Keep the router in use (no flapping back and forth), unless a
        // higher one may fail back; choose anew only when none is in use,
        // preferring a host known to be healthy.
        // A strict CIDR (learned over BGP) goes to its first eligible host
        // at once: the best path wins, whoever carries it now.
        let current = if input.spec.is_strict(cidr) {
            None
        } else {
            eligible.iter().position(|(_, e)| in_use(&e.id))
        };
        let chosen = match current {
            Some(c) => eligible[..c]
                .iter()
                .position(|(ip, _)| (input.health.failback)(*ip))
                .unwrap_or(c),
            None => eligible
                .iter()
                .position(|(ip, _)| state(*ip) == Health::Healthy)
                .unwrap_or(0),
        };
        let Some((ip, nic)) = eligible.get(chosen) else {
            out.targets.insert(*cidr, None);
            let held = hosts
                .iter()
                .any(|h| eni_of(h.ip).is_some_and(NetworkInterface::attached));
            out.issues.push(if held {
                Issue::NoHealthyRouter { cidr: *cidr }
            } else {
                Issue::NoEligibleRouter { cidr: *cidr }
            });
            continue;
        };
        let target = Target {
            ip: *ip,
            eni: nic.id.clone(),
        };
        if input.spec.is_strict(cidr) {
            // A better path whose next hop no interface of the VPC holds
            // is passed over: say so.
            for h in hosts.iter().take_while(|h| h.ip != *ip) {
                if !eni_of(h.ip).is_some_and(NetworkInterface::attached) {
                    out.issues.push(Issue::NextHopNotInVpc {
                        cidr: *cidr,
                        ip: h.ip,
                    });
                }
            }
        }
        // Every eligible router, not only the chosen one: a backup with
        // the check on would drop traffic the moment it takes over.
        for (ip, nic) in &eligible {
            if nic.source_dest_check == Some(true) && sdc_seen.insert(nic.id.clone()) {
                if input.options.fix_source_dest_check {
                    out.fixes.push(Fix {
                        eni: nic.id.clone(),
                        ip: *ip,
                    });
                } else {
                    out.issues.push(Issue::SourceDestCheck {
                        eni: nic.id.clone(),
                        ip: *ip,
                    });
                }
            }
        }
        let spec_enis: Vec<&EniId> = hosts
            .iter()
            .filter_map(|h| eni_of(h.ip).map(|e| &e.id))
            .collect();
        for (i, t) in input.tables.iter().enumerate() {
            let change = |action, from: Option<&Route>, reason| Change {
                table: t.id.clone(),
                cidr: *cidr,
                action,
                from: from.map(|r| r.target.clone()),
                to: Some(target.clone()),
                reason,
            };
            match index.get(i, cidr) {
                None => out
                    .changes
                    .push(change(Action::Create, None, Reason::Missing)),
                Some(r) if !ours(r) => out.issues.push(Issue::NotOurs {
                    table: t.id.clone(),
                    cidr: *cidr,
                    target: r.target.clone(),
                }),
                Some(r) => {
                    let eni = r.target.eni();
                    let reason = if r.state == RouteState::Blackhole {
                        Some(Reason::Blackhole)
                    } else if eni == Some(&target.eni) {
                        None
                    } else if eni.is_some_and(|e| spec_enis.contains(&e)) {
                        Some(Reason::OtherRouter)
                    } else {
                        Some(Reason::NotEligible)
                    };
                    if let Some(reason) = reason {
                        out.changes.push(change(Action::Replace, Some(r), reason));
                    }
                }
            }
        }
        out.targets.insert(*cidr, Some(target));
    }

    deletions(input, &mut out);
    route_limits(input, &mut out);
    out
}

/// Deletions: CIDRs we managed that left the spec, and with prune every
/// other interface route outside the spec and the ignored ranges.
fn deletions(input: &Input<'_>, out: &mut Plan) {
    // Only a CIDR we own that left the spec, or with prune any route, can
    // be deleted: with neither (a pass in sync), no route need be looked at.
    let left_spec = input.owned.iter().any(|c| input.spec.hosts(c).is_none());
    if !left_spec && !input.options.prune {
        return;
    }
    for t in input.tables {
        for r in &t.routes {
            let Destination::Cidr(cidr) = &r.destination else {
                continue;
            };
            if input.spec.hosts(cidr).is_some() || !ours(r) {
                continue;
            }
            let reason = if input.owned.contains(cidr) {
                Reason::LeftSpec
            } else if input.options.prune && !input.options.ignore.iter().any(|i| i.covers(cidr)) {
                Reason::Pruned
            } else {
                continue;
            };
            out.changes.push(Change {
                table: t.id.clone(),
                cidr: *cidr,
                action: Action::Delete,
                from: Some(r.target.clone()),
                to: None,
                reason,
            });
        }
    }
}

/// A warning for each table that the changes would take past the route
/// limit.
fn route_limits(input: &Input<'_>, out: &mut Plan) {
    if input.options.route_limit > 0 {
        // Creates and deletes per table, in one pass over the changes.
        let mut delta: HashMap<&RouteTableId, (usize, usize)> = HashMap::new();
        for c in &out.changes {
            let d = delta.entry(&c.table).or_default();
            match c.action {
                Action::Create => d.0 += 1,
                Action::Delete => d.1 += 1,
                Action::Replace => {}
            }
        }
        let mut issues = Vec::new();
        for t in input.tables {
            let (added, removed) = delta.get(&t.id).copied().unwrap_or_default();
            let routes = t.routes.len() + added - removed;
            if routes > input.options.route_limit {
                issues.push(Issue::RouteLimit {
                    table: t.id.clone(),
                    routes,
                    limit: input.options.route_limit,
                });
            }
        }
        out.issues.extend(issues);
    }
}

#[cfg(test)]
mod tests;
