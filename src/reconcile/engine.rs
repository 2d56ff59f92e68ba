//! The daemon's reconciler (`-d -m configfile|http`): holds the spec in
//! force and the CIDRs vpc-router owns, runs passes (on a spec change, on
//! a timer, or for one CIDR on request), paces its calls with the rate
//! budget, and keeps what `/status` and `/metrics` show. One pass runs at
//! a time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::budget::{self, Budget, CallKind};
use super::pass::{self, Applied, Fixed, Observed, TableScope};
use super::plan::{Action, Issue, Options, Plan};
use crate::ec2::Ec2;
use crate::route::RouteError;
use crate::spec::Spec;
use crate::types::{Cidr, RouteTableId, VpcId};
use crate::{error, info, timefmt, warn};

/// Where the spec (http mode) and the owned CIDRs are kept across restarts.
pub trait Persist: Send + Sync {
    fn load_owned(&self) -> Result<BTreeSet<Cidr>, String>;
    fn save_owned(&self, owned: &BTreeSet<Cidr>) -> Result<(), String>;
    fn load_spec(&self) -> Result<Option<Spec>, String>;
    fn save_spec(&self, spec: &Spec) -> Result<(), String>;
}

/// The change kind (in metrics) of a source/destination check fix.
const SDC_KIND: &str = "disable_source_dest_check";

/// EC2's error code, or what kind of failure it was, for the metrics.
fn failure_code(e: &crate::ec2::Ec2Error) -> String {
    let code = e.code().unwrap_or(if e.is_transport() {
        "transport"
    } else {
        "other"
    });
    code.to_string()
}

/// What `/status` shows of one route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RouteState {
    current: Option<String>,
    desired: Option<String>,
    last_action: Option<&'static str>,
    outcome: Option<String>,
    at: Option<SystemTime>,
}

#[derive(Debug, Clone)]
struct PassSummary {
    at: SystemTime,
    took: Duration,
    result: &'static str,
    changes: usize,
    failed: usize,
    error: Option<String>,
}

#[derive(Default)]
struct Counters {
    passes: BTreeMap<&'static str, u64>,
    pass_seconds_sum: f64,
    changes: BTreeMap<&'static str, u64>,
    failures: BTreeMap<String, u64>,
}

struct Shared {
    spec: Option<Spec>,
    owned: BTreeSet<Cidr>,
    /// A spec change waits for a pass.
    dirty: bool,
    stopping: bool,
    routes: BTreeMap<(Cidr, RouteTableId), RouteState>,
    last: Option<PassSummary>,
    /// The issues of the last pass, to log only what is new.
    issues: BTreeSet<String>,
    /// Router interfaces seen with source/destination check on in the
    /// last full pass (reported, or not yet fixed).
    sdc_on: usize,
    counters: Counters,
}

/// Time as the engine sees it: wall-clock for status, a monotonic clock
/// and a sleeper for the rate budget. Tests pass a fake whose sleep
/// advances its monotonic clock.
pub struct Time {
    pub wall: Box<dyn Fn() -> SystemTime + Send + Sync>,
    pub mono: Box<dyn Fn() -> Instant + Send + Sync>,
    pub sleep: Box<dyn Fn(Duration) + Send + Sync>,
}

impl Time {
    pub fn system() -> Time {
        Time {
            wall: Box::new(SystemTime::now),
            mono: Box::new(Instant::now),
            sleep: Box::new(std::thread::sleep),
        }
    }
}

pub struct Engine {
    ec2: Arc<dyn Ec2 + Send + Sync>,
    vpc: VpcId,
    scope: TableScope,
    options: Options,
    persist: Box<dyn Persist>,
    time: Time,
    shared: Mutex<Shared>,
    wake: Condvar,
    /// Held for the whole of a pass: passes never overlap.
    passing: Mutex<()>,
    budget: Mutex<Budget>,
}

/// The result of a pass for one CIDR (http mode's `/route`).
pub struct CidrResult {
    pub plan: Plan,
    pub applied: Vec<Applied>,
    /// The tables looked at.
    pub tables: Vec<RouteTableId>,
}

impl Engine {
    pub fn new(
        ec2: Arc<dyn Ec2 + Send + Sync>,
        vpc: VpcId,
        scope: TableScope,
        options: Options,
        persist: Box<dyn Persist>,
        time: Time,
    ) -> Result<Engine, String> {
        let owned = persist.load_owned()?;
        let spec = persist.load_spec()?;
        let budget = Budget::ec2_default((time.mono)());
        Ok(Engine {
            ec2,
            vpc,
            scope,
            options,
            persist,
            time,
            shared: Mutex::new(Shared {
                dirty: spec.is_some(),
                spec,
                owned,
                stopping: false,
                routes: BTreeMap::new(),
                last: None,
                issues: BTreeSet::new(),
                sdc_on: 0,
                counters: Counters::default(),
            }),
            wake: Condvar::new(),
            passing: Mutex::new(()),
            budget: Mutex::new(budget),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn spec(&self) -> Option<Spec> {
        self.lock().spec.clone()
    }

    /// Puts a new spec in force (persisted first when `persist_it`), and
    /// asks for a pass.
    pub fn set_spec(&self, spec: Spec, persist_it: bool) -> Result<(), String> {
        if persist_it {
            self.persist.save_spec(&spec)?;
        }
        let mut s = self.lock();
        s.spec = Some(spec);
        s.dirty = true;
        self.wake.notify_all();
        Ok(())
    }

    /// Puts an edited spec in force and reconciles only `cidr`, as one
    /// step: no other pass runs in between, so the answer tells what this
    /// edit did. No full pass is asked for: nothing else changed.
    pub fn edit(&self, spec: Spec, cidr: Cidr) -> Result<Result<CidrResult, RouteError>, String> {
        let _one = self.passing.lock().unwrap_or_else(|p| p.into_inner());
        self.persist.save_spec(&spec)?;
        self.lock().spec = Some(spec);
        Ok(self.pass_cidr_locked(cidr))
    }

    /// Whether vpc-router manages `cidr` now.
    pub fn owns(&self, cidr: &Cidr) -> bool {
        self.lock().owned.contains(cidr)
    }

    /// Puts a spec back after an edit of `cidr` that could not take effect
    /// (it changed no route), and the CIDR's ownership as it was.
    pub fn restore(&self, spec: Spec, cidr: Cidr, was_owned: bool) -> Result<(), String> {
        let _one = self.passing.lock().unwrap_or_else(|p| p.into_inner());
        self.persist.save_spec(&spec)?;
        let owned = {
            let mut s = self.lock();
            s.spec = Some(spec);
            if was_owned {
                s.owned.insert(cidr);
            } else {
                s.owned.remove(&cidr);
            }
            s.routes.retain(|(c, _), _| *c != cidr || was_owned);
            s.owned.clone()
        };
        self.persist.save_owned(&owned)
    }

    pub fn stop(&self) {
        self.lock().stopping = true;
        self.wake.notify_all();
    }

    /// The loop of the reconcile thread: a pass whenever the spec changes,
    /// and every `interval` (none: only on changes), until `stop`.
    pub fn run(&self, interval: Option<Duration>) {
        let mut next = interval.map(|i| Instant::now() + i);
        loop {
            {
                let mut s = self.lock();
                loop {
                    if s.stopping {
                        return;
                    }
                    if s.dirty || next.is_some_and(|n| Instant::now() >= n) {
                        s.dirty = false;
                        break;
                    }
                    s = match next {
                        Some(n) => {
                            let wait = n.saturating_duration_since(Instant::now());
                            self.wake
                                .wait_timeout(s, wait)
                                .unwrap_or_else(|p| p.into_inner())
                                .0
                        }
                        None => self.wake.wait(s).unwrap_or_else(|p| p.into_inner()),
                    };
                }
            }
            self.pass();
            next = interval.map(|i| Instant::now() + i);
        }
    }

    /// Waits until the budget has a token for the call.
    fn pace(&self, kind: CallKind) {
        budget::take_paced(&self.budget, kind, &*self.time.mono, &*self.time.sleep);
    }

    fn observe(&self, spec: &Spec) -> Result<Observed, RouteError> {
        self.pace(CallKind::Describe);
        self.pace(CallKind::Describe);
        pass::observe(&*self.ec2, &self.vpc, spec, &self.scope)
    }

    /// A full pass over the spec in force. Returns false when there is no
    /// spec yet or observing failed.
    pub fn pass(&self) -> bool {
        let _one = self.passing.lock().unwrap_or_else(|p| p.into_inner());
        let (spec, owned) = {
            let s = self.lock();
            match &s.spec {
                Some(spec) => (spec.clone(), s.owned.clone()),
                None => return false,
            }
        };
        let started = Instant::now();
        let at = (self.time.wall)();
        let seen = match self.observe(&spec) {
            Ok(seen) => seen,
            Err(e) => {
                error!("reconcile pass: {e}; the next pass tries again");
                let mut s = self.lock();
                *s.counters.passes.entry("error").or_default() += 1;
                if let RouteError::Ec2(x) = &e {
                    *s.counters.failures.entry(failure_code(x)).or_default() += 1;
                }
                s.last = Some(PassSummary {
                    at,
                    took: started.elapsed(),
                    result: "error",
                    changes: 0,
                    failed: 0,
                    error: Some(e.to_string()),
                });
                return false;
            }
        };
        let plan = pass::plan_for(
            &spec,
            &seen,
            &owned,
            &super::plan::ALL_HEALTHY,
            &self.options,
        );
        let fixed = pass::fix(&*self.ec2, &plan.fixes, &mut || self.pace(CallKind::Mutate));
        let applied = pass::apply(&*self.ec2, &plan.changes, &mut |_| {
            self.pace(CallKind::Mutate)
        });
        let new_owned = pass::owned_after(&spec, &applied);
        if new_owned != owned {
            if let Err(e) = self.persist.save_owned(&new_owned) {
                error!("{e}; vpc-router may forget which routes it manages");
            }
        }
        let failed = applied.iter().filter(|a| a.result.is_err()).count()
            + fixed.iter().filter(|f| f.result.is_err()).count();
        let result = if failed > 0 {
            "failed"
        } else if applied.is_empty() && fixed.is_empty() {
            "in_sync"
        } else {
            "changed"
        };
        let mut s = self.lock();
        s.owned = new_owned;
        self.record(&mut s, &seen, &plan, (&fixed, &applied), at, true);
        *s.counters.passes.entry(result).or_default() += 1;
        s.counters.pass_seconds_sum += started.elapsed().as_secs_f64();
        s.last = Some(PassSummary {
            at,
            took: started.elapsed(),
            result,
            changes: applied.len() + fixed.len(),
            failed,
            error: None,
        });
        true
    }

    /// A pass for one CIDR only (http mode's POST/DELETE /route): the spec
    /// entry has just been edited. Nothing else is looked at or changed.
    pub fn pass_cidr(&self, cidr: Cidr) -> Result<CidrResult, RouteError> {
        let _one = self.passing.lock().unwrap_or_else(|p| p.into_inner());
        self.pass_cidr_locked(cidr)
    }

    fn pass_cidr_locked(&self, cidr: Cidr) -> Result<CidrResult, RouteError> {
        let (spec, owned) = {
            let s = self.lock();
            let mut routes = BTreeMap::new();
            if let Some(hosts) = s.spec.as_ref().and_then(|sp| sp.hosts(&cidr)) {
                routes.insert(cidr, hosts.to_vec());
            }
            let owned: BTreeSet<Cidr> = s.owned.iter().filter(|c| **c == cidr).copied().collect();
            (Spec::from_routes(routes), owned)
        };
        let at = (self.time.wall)();
        let seen = self.observe(&spec)?;
        let options = Options {
            prune: false,
            ..self.options.clone()
        };
        let plan = pass::plan_for(&spec, &seen, &owned, &super::plan::ALL_HEALTHY, &options);
        let fixed = pass::fix(&*self.ec2, &plan.fixes, &mut || self.pace(CallKind::Mutate));
        let applied = pass::apply(&*self.ec2, &plan.changes, &mut |_| {
            self.pace(CallKind::Mutate)
        });
        let mut s = self.lock();
        let mut new_owned = s.owned.clone();
        new_owned.remove(&cidr);
        new_owned.extend(pass::owned_after(&spec, &applied));
        if new_owned != s.owned {
            if let Err(e) = self.persist.save_owned(&new_owned) {
                error!("{e}; vpc-router may forget which routes it manages");
            }
            s.owned = new_owned;
        }
        self.record(&mut s, &seen, &plan, (&fixed, &applied), at, false);
        Ok(CidrResult {
            tables: seen.tables.iter().map(|t| t.id.clone()).collect(),
            plan,
            applied,
        })
    }

    /// Logs the changes and new issues, counts them, and updates the
    /// per-route status.
    fn record(
        &self,
        s: &mut Shared,
        seen: &Observed,
        plan: &Plan,
        (fixed, applied): (&[Fixed], &[Applied]),
        at: SystemTime,
        full: bool,
    ) {
        for f in fixed {
            let (eni, ip) = (&f.fix.eni, f.fix.ip);
            match &f.result {
                Ok(()) => {
                    *s.counters.changes.entry(SDC_KIND).or_default() += 1;
                    info!("source/destination check turned off on {eni} ({ip})");
                }
                Err(e) => {
                    *s.counters.failures.entry(failure_code(e)).or_default() += 1;
                    error!(
                        "turning source/destination check off on {eni} ({ip}) failed: {e}; \
                         retried on the next pass"
                    );
                }
            }
        }
        for a in applied {
            let c = &a.change;
            let (from, to) = pass::from_to(c);
            match &a.result {
                Ok(()) => {
                    *s.counters.changes.entry(c.action.as_str()).or_default() += 1;
                    info!(
                        "route {} in {}: {from} -> {to} ({}: {})",
                        c.cidr,
                        c.table,
                        c.action.as_str(),
                        c.reason
                    );
                }
                Err(e) => {
                    *s.counters.failures.entry(failure_code(e)).or_default() += 1;
                    error!(
                        "route {} in {}: {} failed ({from} -> {to}): {e}; retried on the next pass",
                        c.cidr,
                        c.table,
                        c.action.as_str()
                    );
                }
            }
        }
        if full {
            let now: BTreeSet<String> = plan.issues.iter().map(ToString::to_string).collect();
            for i in now.difference(&s.issues) {
                warn!("{i}");
            }
            s.issues = now;
            s.sdc_on = plan
                .issues
                .iter()
                .filter(|i| matches!(i, Issue::SourceDestCheck { .. }))
                .count()
                + fixed.iter().filter(|f| f.result.is_err()).count();
            // Only the spec's CIDRs are shown; forget the others.
            let cidrs: BTreeSet<Cidr> = plan.targets.keys().copied().collect();
            s.routes.retain(|(c, _), _| cidrs.contains(c));
        }
        for (cidr, target) in &plan.targets {
            for t in &seen.tables {
                let e = s.routes.entry((*cidr, t.id.clone())).or_default();
                e.current = t.route_for(cidr).map(|r| r.target.to_string());
                e.desired = target.as_ref().map(|t| format!("{} ({})", t.eni, t.ip));
            }
        }
        for a in applied {
            let c = &a.change;
            let e = s.routes.entry((c.cidr, c.table.clone())).or_default();
            e.last_action = Some(c.action.as_str());
            e.at = Some(at);
            match &a.result {
                Ok(()) => {
                    e.outcome = Some("done".into());
                    e.current = match c.action {
                        Action::Delete => None,
                        _ => e.desired.clone(),
                    };
                }
                Err(err) => e.outcome = Some(format!("failed: {err}")),
            }
        }
        // A deleted CIDR's rows go once it is no longer owned.
        let owned = s.owned.clone();
        let spec_has = |c: &Cidr| s.spec.as_ref().is_some_and(|sp| sp.hosts(c).is_some());
        let keep: BTreeSet<Cidr> = s
            .routes
            .keys()
            .map(|(c, _)| *c)
            .filter(|c| spec_has(c) || owned.contains(c))
            .collect();
        s.routes.retain(|(c, _), _| keep.contains(c));
    }

    /// `GET /status`'s reconcile part.
    pub fn status(&self) -> Value {
        let s = self.lock();
        let mut routes: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for ((cidr, table), r) in &s.routes {
            routes.entry(cidr.to_string()).or_default().insert(
                table.to_string(),
                json!({
                    "current": r.current,
                    "desired": r.desired,
                    "last_action": r.last_action,
                    "outcome": r.outcome,
                    "at": r.at.map(timefmt::rfc3339),
                }),
            );
        }
        json!({
            "spec": s.spec.as_ref().map(Spec::to_json),
            "managed": s.owned.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "routes": routes,
            "issues": s.issues,
            "last_pass": s.last.as_ref().map(|p| json!({
                "at": timefmt::rfc3339(p.at),
                "duration_seconds": p.took.as_secs_f64(),
                "result": p.result,
                "changes": p.changes,
                "failed": p.failed,
                "error": p.error,
            })),
        })
    }

    /// The reconcile families of `/metrics`.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let s = self.lock();
        let c = &s.counters;
        let _ = writeln!(
            out,
            "# HELP vpc_router_reconcile_passes_total Reconcile passes, by result.\n\
             # TYPE vpc_router_reconcile_passes_total counter"
        );
        for r in ["in_sync", "changed", "failed", "error"] {
            let n = c.passes.get(r).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "vpc_router_reconcile_passes_total{{result=\"{r}\"}} {n}"
            );
        }
        let total: u64 = c.passes.values().sum();
        let _ = writeln!(
            out,
            "# HELP vpc_router_reconcile_pass_duration_seconds Time spent in reconcile passes.\n\
             # TYPE vpc_router_reconcile_pass_duration_seconds summary\n\
             vpc_router_reconcile_pass_duration_seconds_sum {}\n\
             vpc_router_reconcile_pass_duration_seconds_count {total}",
            c.pass_seconds_sum
        );
        let _ = writeln!(
            out,
            "# HELP vpc_router_reconcile_changes_total Route changes made by the reconciler, by kind.\n\
             # TYPE vpc_router_reconcile_changes_total counter"
        );
        for k in ["create", "replace", "delete", SDC_KIND] {
            let n = c.changes.get(k).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "vpc_router_reconcile_changes_total{{kind=\"{k}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP vpc_router_reconcile_failures_total Failed reconciler calls, by EC2 error code.\n\
             # TYPE vpc_router_reconcile_failures_total counter"
        );
        for (code, n) in &c.failures {
            let code: String = code
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            let _ = writeln!(
                out,
                "vpc_router_reconcile_failures_total{{code=\"{code}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP vpc_router_routes_managed CIDRs vpc-router manages.\n\
             # TYPE vpc_router_routes_managed gauge\n\
             vpc_router_routes_managed {}",
            s.owned.len()
        );
        let _ = writeln!(
            out,
            "# HELP vpc_router_source_dest_check_enabled Router interfaces with \
             source/destination check on (they drop forwarded packets).\n\
             # TYPE vpc_router_source_dest_check_enabled gauge\n\
             vpc_router_source_dest_check_enabled {}",
            s.sdc_on
        );
    }
}

#[cfg(test)]
mod tests;
