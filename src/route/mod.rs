//! Runs one route command (add, show, del) against every route table of a
//! VPC: observe the tables and the router's interface, decide per table
//! (`plan`, pure), then apply the decisions through the [`Ec2`] trait.
//! The result is a [`Report`] of typed facts; `report` renders it.

pub mod plan;
pub mod report;

use std::fmt;
use std::net::IpAddr;

use crate::ec2::{Ec2, Ec2Error, NetworkInterface, Route, RouteTable};
use crate::types::{Cidr, EniId, InstanceId, RouteTableId, VpcId};
pub use plan::{Op, Protection, ReplaceReason, Step};

/// One command, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRequest {
    pub op: Op,
    pub vpc: VpcId,
    pub cidr: Cidr,
    /// The router's IP: required for add, absent otherwise.
    pub router_ip: Option<IpAddr>,
    /// Restrict to these tables; empty means every table of the VPC.
    pub tables: Vec<RouteTableId>,
    pub force: bool,
    pub dry_run: bool,
}

/// The interface that holds the router IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    pub ip: IpAddr,
    pub eni: EniId,
    pub instance: Option<InstanceId>,
    pub source_dest_check: Option<bool>,
    /// Whether its interface is attached (routes to it are not blackholes).
    pub attached: bool,
}

/// What happened in one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: RouteTableId,
    pub main: bool,
    /// The route at the CIDR as it was observed, if there was one.
    pub before: Option<Route>,
    pub step: Step,
    pub outcome: Outcome,
}

/// The result of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No call was needed (unchanged, found, missing, refused).
    NoCall,
    /// The mutating call succeeded.
    Done,
    /// `--dry-run`: EC2 said the call would have succeeded.
    DryRunOk,
    /// `--dry-run`, but the endpoint answered with success instead of
    /// `DryRunOperation`: it ignored `DryRun=true` and made the change. Real
    /// EC2 never does this; some emulators do.
    AppliedDespiteDryRun,
    /// The call failed; the table is as it was.
    Failed(Ec2Error),
    /// A conflict changed the step: e.g. a CreateRoute that met a route
    /// created meanwhile became a ReplaceRoute. Holds the step taken and its
    /// outcome, which is never another `Redone`.
    Redone(Step, Box<Outcome>),
}

impl Outcome {
    /// The final outcome, through any `Redone`.
    pub fn settled(&self) -> &Outcome {
        match self {
            Outcome::Redone(_, o) => o.settled(),
            o => o,
        }
    }
}

/// The full result of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub request: RouteRequest,
    pub router: Option<Router>,
    pub tables: Vec<TableReport>,
    /// Things the user should know that are not failures.
    pub warnings: Vec<String>,
}

/// The overall verdict, mapped to an exit code or HTTP status at the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    /// show/del: the route is missing from some table.
    NotFound,
    /// A route in the way was not ours to change (see `--force`).
    Refused,
    /// A call to EC2 failed in some table; `transport` when the network was
    /// the cause.
    Failed {
        transport: bool,
    },
}

impl Report {
    /// The worst thing that happened: a failure beats a refusal, which
    /// beats a missing route.
    pub fn verdict(&self) -> Verdict {
        let mut v = Verdict::Ok;
        for t in &self.tables {
            let this = match (t.outcome.settled(), final_step(t)) {
                (Outcome::Failed(e), _) => Verdict::Failed {
                    transport: e.is_transport(),
                },
                (Outcome::AppliedDespiteDryRun, _) => Verdict::Failed { transport: false },
                (_, Step::Refused(_)) => Verdict::Refused,
                (_, Step::Missing) => Verdict::NotFound,
                _ => Verdict::Ok,
            };
            // The first failure decides between API and transport errors.
            if matches!(v, Verdict::Failed { .. }) {
                continue;
            }
            v = v.max(this);
        }
        v
    }
}

/// The step that was finally taken in a table, through any `Redone`.
pub fn final_step(t: &TableReport) -> &Step {
    let mut step = &t.step;
    let mut outcome = &t.outcome;
    while let Outcome::Redone(s, o) = outcome {
        step = s;
        outcome = o;
    }
    step
}

/// Why a command could not be carried out at all (before any table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// Describing the tables or the router's interface failed.
    Ec2(Ec2Error),
    /// No network interface in the VPC holds the router IP.
    UnknownRouterIp { ip: IpAddr, vpc: VpcId },
    /// The VPC has no route tables: most likely it does not exist.
    NoRouteTables { vpc: VpcId },
    /// `--route-table` named tables that are not in the VPC.
    UnknownRouteTables { ids: Vec<RouteTableId>, vpc: VpcId },
    /// No table in scope carries the `--route-table-tag` tag.
    NoTaggedTables {
        key: String,
        value: String,
        vpc: VpcId,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::Ec2(e) => e.fmt(f),
            // EC2 finds interfaces by their addresses; an address inside a
            // prefix delegated to an interface is not one of them.
            RouteError::UnknownRouterIp { ip, vpc } => write!(
                f,
                "no network interface in {vpc} holds the IP {ip}; --ip must be a private \
                 address of the router instance, inside the VPC: its interface's primary or \
                 secondary IPv4 address or one of its IPv6 addresses. An address from a \
                 prefix delegated to the interface (ipv4PrefixSet, ipv6PrefixSet) is not \
                 supported: give the interface's primary IP instead (the route goes to the \
                 interface either way)"
            ),
            RouteError::NoRouteTables { vpc } => write!(
                f,
                "{vpc} has no route tables; check that the VPC exists in this region \
                 (--vpc, --region)"
            ),
            RouteError::UnknownRouteTables { ids, vpc } => {
                let ids: Vec<&str> = ids.iter().map(RouteTableId::as_str).collect();
                write!(
                    f,
                    "route table(s) {} not found in {vpc}; --route-table must name tables \
                     of this VPC",
                    ids.join(", ")
                )
            }
            RouteError::NoTaggedTables { key, value, vpc } => write!(
                f,
                "no route table of {vpc} (of those --route-table names, if given) has the tag \
                 {key}={value}; check --route-table-tag (keys and values are case-sensitive)"
            ),
        }
    }
}

impl std::error::Error for RouteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RouteError::Ec2(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Ec2Error> for RouteError {
    fn from(e: Ec2Error) -> Self {
        RouteError::Ec2(e)
    }
}

/// Looks up the interface that holds `ip` in `vpc`.
pub fn find_router(ec2: &dyn Ec2, vpc: &VpcId, ip: IpAddr) -> Result<Router, RouteError> {
    let enis = ec2.describe_network_interfaces(vpc, &[ip])?;
    let eni: &NetworkInterface =
        enis.iter()
            .find(|e| e.addresses.contains(&ip))
            .ok_or_else(|| RouteError::UnknownRouterIp {
                ip,
                vpc: vpc.clone(),
            })?;
    Ok(Router {
        ip,
        eni: eni.id.clone(),
        instance: eni.instance.clone(),
        source_dest_check: eni.source_dest_check,
        attached: eni.attached(),
    })
}

/// The tables the command applies to, sorted by ID for stable output.
pub fn observe_tables(
    ec2: &dyn Ec2,
    vpc: &VpcId,
    only: &[RouteTableId],
) -> Result<Vec<RouteTable>, RouteError> {
    let mut tables = ec2.describe_route_tables(vpc, only)?;
    // EC2 filters by VPC already; a table of another VPC (from an emulator
    // or a stale filter) is still not ours.
    tables.retain(|t| t.vpc_id.as_ref().is_none_or(|v| v == vpc));
    if !only.is_empty() {
        tables.retain(|t| only.contains(&t.id));
        let missing: Vec<RouteTableId> = only
            .iter()
            .filter(|id| !tables.iter().any(|t| &t.id == *id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(RouteError::UnknownRouteTables {
                ids: missing,
                vpc: vpc.clone(),
            });
        }
    }
    if tables.is_empty() {
        return Err(RouteError::NoRouteTables { vpc: vpc.clone() });
    }
    tables.sort_by(|a, b| a.id.cmp(&b.id));
    tables.dedup_by(|a, b| a.id == b.id);
    Ok(tables)
}

/// Runs `req`: observe, decide, apply, one call after another in the calling
/// thread (the daemon's workers: no thread per request). Per-table failures
/// are in the report; an error means nothing was changed.
pub fn execute(ec2: &dyn Ec2, req: &RouteRequest) -> Result<Report, RouteError> {
    execute_tagged(ec2, req, None)
}

/// [`execute`] on the tables that carry `tag` (`--route-table-tag
/// Key=Value`) only; none carrying it is an error, and nothing is changed.
pub fn execute_tagged(
    ec2: &dyn Ec2,
    req: &RouteRequest,
    tag: Option<&(String, String)>,
) -> Result<Report, RouteError> {
    let router = router_for(ec2, req)?;
    let tables = only_tagged(observe_tables(ec2, &req.vpc, &req.tables)?, tag, req)?;
    let eni = router.as_ref().map(|r| &r.eni);
    let reports = tables
        .iter()
        .map(|t| table_report(ec2, req, t, eni))
        .collect();
    Ok(report(req, router, reports))
}

/// At most this many calls at once from [`execute_parallel`]: a VPC's
/// tables in a few waves, well under EC2's request-rate buckets.
pub const PARALLEL: usize = 8;

/// [`execute`] with the independent calls side by side (the one-shot CLI):
/// the router's interface and the tables are described together, then the
/// tables' calls run on up to `width` scoped threads, so `add` in T tables
/// takes about 2 round trips plus one per `width` tables instead of 2 + T.
/// The report is the same as `execute`'s, in table order; an error in both
/// describes is the router's, as with `execute`.
pub fn execute_parallel(
    ec2: &(dyn Ec2 + Sync),
    req: &RouteRequest,
    tag: Option<&(String, String)>,
    width: usize,
) -> Result<Report, RouteError> {
    let (router, tables) = std::thread::scope(|s| {
        let router = matches!(req.op, Op::Add).then(|| s.spawn(|| router_for(ec2, req)));
        let tables = observe_tables(ec2, &req.vpc, &req.tables);
        let router = router.map_or(Ok(None), |h| h.join().expect("describing the router"));
        (router, tables)
    });
    let router = router?;
    let tables = only_tagged(tables?, tag, req)?;
    let eni = router.as_ref().map(|r| &r.eni);
    let calls = tables
        .iter()
        .filter(|t| plan::decide(req.op, t, &req.cidr, eni, req.force).mutates())
        .count();
    let reports = side_by_side(&tables, width.min(calls), |t| {
        table_report(ec2, req, t, eni)
    });
    Ok(report(req, router, reports))
}

/// `f` over `items` on up to `width` scoped threads (none below 2),
/// results in the order of `items`.
fn side_by_side<T: Sync, R: Send>(items: &[T], width: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if width < 2 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..width)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break out };
                        out.push((i, f(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a table's calls"))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The tables that carry `tag`, all of them without one; an error, before
/// any change, when none carries it.
fn only_tagged(
    mut tables: Vec<RouteTable>,
    tag: Option<&(String, String)>,
    req: &RouteRequest,
) -> Result<Vec<RouteTable>, RouteError> {
    if let Some((key, value)) = tag {
        tables.retain(|t| t.tags.iter().any(|(k, v)| k == key && v == value));
        if tables.is_empty() {
            return Err(RouteError::NoTaggedTables {
                key: key.clone(),
                value: value.clone(),
                vpc: req.vpc.clone(),
            });
        }
    }
    Ok(tables)
}

/// The router's interface, for `add`.
fn router_for(ec2: &dyn Ec2, req: &RouteRequest) -> Result<Option<Router>, RouteError> {
    match (req.op, req.router_ip) {
        (Op::Add, Some(ip)) => Ok(Some(find_router(ec2, &req.vpc, ip)?)),
        _ => Ok(None),
    }
}

/// Decides and carries out `req` in one table.
fn table_report(
    ec2: &dyn Ec2,
    req: &RouteRequest,
    t: &RouteTable,
    eni: Option<&EniId>,
) -> TableReport {
    let step = plan::decide(req.op, t, &req.cidr, eni, req.force);
    let outcome = apply(ec2, req, &t.id, &step, eni);
    TableReport {
        table: t.id.clone(),
        main: t.main,
        before: t.route_for(&req.cidr).cloned(),
        step,
        outcome,
    }
}

/// The report, with the warnings about the router.
fn report(req: &RouteRequest, router: Option<Router>, tables: Vec<TableReport>) -> Report {
    let mut warnings = Vec::new();
    if let Some(r) = &router {
        if !r.attached {
            warnings.push(format!(
                "{} ({}) is not attached to an instance; EC2 keeps routes to it in \
                 blackhole until it is attached",
                r.eni, r.ip
            ));
        }
        if r.source_dest_check == Some(true) {
            warnings.push(format!(
                "source/destination check is enabled on {} ({}), so the instance drops the \
                 packets it should forward; disable it: aws ec2 \
                 modify-network-interface-attribute --network-interface-id {} \
                 --no-source-dest-check",
                r.eni, r.ip, r.eni
            ));
        }
    }
    Report {
        request: req.clone(),
        router,
        tables,
        warnings,
    }
}

/// Sends the EC2 call for `step`, or `None` when the step needs no call.
fn call(
    ec2: &dyn Ec2,
    table: &RouteTableId,
    cidr: &Cidr,
    step: &Step,
    eni: Option<&EniId>,
    dry_run: bool,
) -> Option<Result<(), Ec2Error>> {
    Some(match (step, eni) {
        (Step::Create, Some(eni)) => ec2.create_route(table, cidr, eni, dry_run),
        (Step::Replace(_), Some(eni)) => ec2.replace_route(table, cidr, eni, dry_run),
        (Step::Delete, _) => ec2.delete_route(table, cidr, dry_run),
        _ => return None,
    })
}

/// Carries out one step in one table.
fn apply(
    ec2: &dyn Ec2,
    req: &RouteRequest,
    table: &RouteTableId,
    step: &Step,
    eni: Option<&EniId>,
) -> Outcome {
    match call(ec2, table, &req.cidr, step, eni, req.dry_run) {
        None => Outcome::NoCall,
        Some(Ok(())) if req.dry_run => Outcome::AppliedDespiteDryRun,
        Some(Ok(())) => Outcome::Done,
        Some(Err(e)) if e.code() == Some("DryRunOperation") => Outcome::DryRunOk,
        Some(Err(e)) if !req.dry_run && is_conflict(step, &e) => {
            recover(ec2, req, table, step, eni, e)
        }
        Some(Err(e)) => Outcome::Failed(e),
    }
}

/// Whether `e` says the table changed between our look and our call.
fn is_conflict(step: &Step, e: &Ec2Error) -> bool {
    match step {
        Step::Create => e.code() == Some("RouteAlreadyExists"),
        Step::Replace(_) | Step::Delete => e.code() == Some("InvalidRoute.NotFound"),
        _ => false,
    }
}

/// The table changed under us, or an earlier attempt of our own call took
/// effect before its answer was lost. Look again and decide once more, so
/// that a retried call is never blindly repeated into a wrong state. The new
/// step gets no further recovery: a table that keeps changing is reported as
/// failed.
fn recover(
    ec2: &dyn Ec2,
    req: &RouteRequest,
    table: &RouteTableId,
    step: &Step,
    eni: Option<&EniId>,
    err: Ec2Error,
) -> Outcome {
    let maybe_ours = matches!(
        err,
        Ec2Error::Api {
            maybe_applied: true,
            ..
        }
    );
    let observed = match ec2.describe_route_tables(&req.vpc, std::slice::from_ref(table)) {
        Ok(tables) => tables.into_iter().find(|t| &t.id == table),
        // The original error is the one the user needs to see.
        Err(_) => return Outcome::Failed(err),
    };
    let Some(observed) = observed else {
        return Outcome::Failed(err);
    };
    let again = plan::decide(req.op, &observed, &req.cidr, eni, req.force);
    match (step, &again) {
        // Our own lost CreateRoute or ReplaceRoute did land: the route is right.
        (Step::Create | Step::Replace(_), Step::Unchanged) if maybe_ours => Outcome::Done,
        // Our own lost DeleteRoute did land.
        (Step::Delete, Step::Missing) if maybe_ours => Outcome::Done,
        // Someone else got there first, with the same result.
        (_, Step::Unchanged | Step::Missing) => Outcome::Redone(again, Box::new(Outcome::NoCall)),
        // Someone else changed the route: take the step that fits now.
        (_, s) if s.mutates() && s != step => {
            let outcome = match call(ec2, table, &req.cidr, s, eni, false) {
                None => Outcome::NoCall,
                Some(Ok(())) => Outcome::Done,
                Some(Err(e)) => Outcome::Failed(e),
            };
            Outcome::Redone(again, Box::new(outcome))
        }
        _ => Outcome::Failed(err),
    }
}

/// A request in the test VPC `vpc-350d6a51`, for tests across modules.
#[cfg(test)]
pub(crate) fn test_request(op: Op, cidr: &str, ip: Option<&str>) -> RouteRequest {
    RouteRequest {
        op,
        vpc: "vpc-350d6a51".parse().unwrap(),
        cidr: cidr.parse().unwrap(),
        router_ip: ip.map(|i| i.parse().unwrap()),
        tables: vec![],
        force: false,
        dry_run: false,
    }
}

#[cfg(test)]
mod tests;
