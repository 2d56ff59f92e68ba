//! The daemon's reconciler (`-d -m configfile|http`): holds the spec in
//! force and the CIDRs vpc-router owns, runs passes (on a spec change, on
//! a timer, or for one CIDR on request), paces its calls with the rate
//! budget, and keeps what `/status` and `/metrics` show. One pass runs at
//! a time. With health checks, a router that fails is failed over at once
//! (`failover`), beside any pass under way.

mod failover;
#[cfg(test)]
pub mod fake;
pub mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::budget::{self, Budget, CallKind};
use super::pass::{self, Applied, Fixed, Observed, TableScope};
use super::plan::{Action, Health, HealthView, Issue, Options, Plan, RouteIndex};
use crate::clock::Clock;
use crate::ec2::{Ec2, RouteTarget};
use crate::health::{self, HostStatus, Monitor};
use crate::route::RouteError;
use crate::spec::{Host, Spec};
pub use crate::state::Persist;
use crate::types::{Cidr, RouteTableId, VpcId};
use crate::{error, info, warn};
pub use view::{RouteSummary, RouteView, Routes, RoutesPage};

/// The change kind (in metrics) of a source/destination check fix.
pub const SDC_KIND: &str = "disable_source_dest_check";

/// EC2's error code, or what kind of failure it was, for the metrics.
fn failure_code(e: &crate::ec2::Ec2Error) -> String {
    let code = e.code().unwrap_or(if e.is_transport() {
        "transport"
    } else if matches!(e, crate::ec2::Ec2Error::Fenced { .. }) {
        "fenced"
    } else {
        "other"
    });
    code.to_string()
}

/// Where the engine learns about hosts' health: the health [`Monitor`],
/// or a fake in tests.
pub trait HealthSource: Send + Sync {
    fn state(&self, ip: IpAddr) -> health::State;
    /// The hosts to check: every host of the spec in force.
    fn set_hosts(&self, hosts: &[Host]);
    fn snapshot(&self) -> Vec<HostStatus>;
}

impl HealthSource for Monitor {
    fn state(&self, ip: IpAddr) -> health::State {
        Monitor::state(self, ip)
    }
    fn set_hosts(&self, hosts: &[Host]) {
        Monitor::set_hosts(self, hosts)
    }
    fn snapshot(&self) -> Vec<HostStatus> {
        Monitor::snapshot(self)
    }
}

/// How the last full pass went.
#[derive(Debug, Clone)]
pub struct PassSummary {
    pub at: SystemTime,
    pub took: Duration,
    /// in_sync, changed, failed or error.
    pub result: &'static str,
    pub changes: usize,
    pub failed: usize,
    pub error: Option<String>,
}

/// Everything the engine counts since start.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Passes by result (in_sync, changed, failed, error).
    pub passes: BTreeMap<&'static str, u64>,
    pub pass_seconds_sum: f64,
    /// Changes made, by kind (create, replace, delete, [`SDC_KIND`]).
    pub changes: BTreeMap<&'static str, u64>,
    /// Failed calls, by EC2 error code (or transport, other, fenced).
    pub failures: BTreeMap<String, u64>,
    /// Failovers per CIDR.
    pub failovers: BTreeMap<Cidr, u64>,
    /// Seconds from detection to the last answer of a failover: counts per
    /// bucket of [`FAILOVER_BUCKETS`] (and +Inf), sum.
    pub failover_buckets: [u64; FAILOVER_BUCKETS.len() + 1],
    pub failover_seconds_sum: f64,
}

/// What `/status` shows of the reconciler: plain data; the daemon's HTTP
/// layer turns it into JSON.
#[derive(Debug, Clone)]
pub struct Status {
    pub spec: Option<Spec>,
    pub hosts: Vec<HostStatus>,
    pub no_healthy_router: BTreeSet<Cidr>,
    pub managed: BTreeSet<Cidr>,
    /// Counts and the CIDRs needing a look, bounded: the per-table detail
    /// is [`Engine::routes_of`] and [`Engine::routes_page`].
    pub routes: RouteSummary,
    /// The first [`view::SUMMARY_CAP`] issues.
    pub issues: Vec<String>,
    /// How many issues more.
    pub issues_truncated: usize,
    pub last_pass: Option<PassSummary>,
}

/// What `/metrics` shows of the reconciler: counts only, cheap to take at
/// every scrape.
#[derive(Debug, Clone)]
pub struct Gauges {
    pub counters: Counters,
    pub managed: usize,
    pub hosts: Vec<HostStatus>,
    pub no_healthy_router: usize,
    pub source_dest_check_enabled: usize,
}

/// Upper bounds (seconds) of the failover duration histogram.
pub const FAILOVER_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0];

struct Shared {
    spec: Option<Spec>,
    owned: BTreeSet<Cidr>,
    /// A spec change waits for a pass.
    dirty: bool,
    stopping: bool,
    routes: Routes,
    last: Option<PassSummary>,
    /// The issues of the last pass, to log only what is new.
    issues: BTreeSet<String>,
    /// Router interfaces seen with source/destination check on in the
    /// last full pass (reported, or not yet fixed).
    sdc_on: usize,
    /// The tables and interfaces as last seen (by a pass, then brought up
    /// to date with every change made): what a failover acts on, without
    /// looking again.
    seen: Option<Arc<Observed>>,
    /// Counts failovers, so that a pass that overlapped one knows its
    /// observation is stale.
    failovers: u64,
    /// Since when each healthy host has been healthy (for `--failback`).
    healthy_since: HashMap<IpAddr, Instant>,
    /// A pass is due then (a failback hold-down ending).
    pass_at: Option<Instant>,
    /// CIDRs with hosts but none healthy, as of the last pass or failover.
    no_healthy: BTreeSet<Cidr>,
    counters: Counters,
    /// Jobs waiting for the reconcile thread, taken before a full pass.
    jobs: VecDeque<Job>,
    /// The pass under way (what, since when) and the calls it has had
    /// answered: what a stop that cannot finish reports.
    doing: Option<(String, Instant)>,
    answered: usize,
}

/// Marks a pass as under way for as long as it lives.
struct Doing<'a>(&'a Engine);

impl<'a> Doing<'a> {
    fn start(engine: &'a Engine, what: String) -> Doing<'a> {
        let mut s = engine.lock();
        s.doing = Some((what, engine.clock.mono()));
        s.answered = 0;
        Doing(engine)
    }
}

impl Drop for Doing<'_> {
    fn drop(&mut self) {
        self.0.lock().doing = None;
    }
}

pub struct Engine {
    ec2: Arc<dyn Ec2 + Send + Sync>,
    vpc: VpcId,
    scope: TableScope,
    options: Options,
    persist: Box<dyn Persist>,
    clock: Clock,
    shared: Mutex<Shared>,
    wake: Condvar,
    /// Held for the whole of a pass: passes never overlap.
    passing: Mutex<()>,
    budget: Mutex<Budget>,
    health: Arc<dyn HealthSource>,
    /// `--failback`: the hold-down a recovered host must stay healthy for
    /// before it takes its routes back.
    failback: Option<Duration>,
    /// Threads that make a failover's calls side by side (none without
    /// health checks).
    pool: failover::Pool,
    /// Whether this daemon may change routes (a follower plans, to keep
    /// its view warm, but makes no call). None: always.
    fence: Option<Arc<crate::ec2::fence::Fence>>,
}

/// Every host is healthy: no checks (`--health none`, one-shot runs).
struct NoChecks;

impl HealthSource for NoChecks {
    fn state(&self, _: IpAddr) -> health::State {
        health::State::Healthy
    }
    fn set_hosts(&self, _: &[Host]) {}
    fn snapshot(&self) -> Vec<HostStatus> {
        Vec::new()
    }
}

/// The result of a pass for one CIDR (http mode's `/route`).
pub struct CidrResult {
    pub plan: Plan,
    pub applied: Vec<Applied>,
    /// The tables looked at.
    pub tables: Vec<RouteTableId>,
    /// Whether vpc-router managed the CIDR before this pass.
    pub was_owned: bool,
}

/// Work for the reconcile thread that someone waits for, run before any
/// full pass and, like passes, one at a time.
pub enum Job {
    /// Reconcile only `cidr`: its spec entry was just edited, and the
    /// answer tells what the edit did.
    Cidr {
        cidr: Cidr,
        reply: Sender<Result<CidrResult, RouteError>>,
        /// Withdrawn by whoever waits for it if it has not started in time.
        ticket: Arc<Ticket>,
    },
    /// Put `cidr`'s ownership back as it was before an edit that was
    /// undone (it could not take effect, so it changed no route).
    Disown {
        cidr: Cidr,
        was_owned: bool,
        reply: Sender<Result<(), String>>,
    },
}

/// A queued job's claim: whoever queued it may withdraw it until the
/// reconcile thread starts it (a pass under way holds it up), so that a
/// request never waits behind a long pass for minutes.
#[derive(Debug, Default)]
pub struct Ticket(Mutex<TicketState>);

#[derive(Debug, Default, PartialEq, Eq)]
enum TicketState {
    #[default]
    Queued,
    Started,
    Withdrawn,
}

impl Ticket {
    /// True if the job had not started: it never will.
    pub fn withdraw(&self) -> bool {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if *s == TicketState::Queued {
            *s = TicketState::Withdrawn;
        }
        *s == TicketState::Withdrawn
    }

    /// True if the job may run (it was not withdrawn).
    fn start(&self) -> bool {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if *s == TicketState::Queued {
            *s = TicketState::Started;
        }
        *s == TicketState::Started
    }
}

/// Where a one-CIDR job's answer arrives, and its ticket.
pub struct Pending {
    pub answer: Receiver<Result<CidrResult, RouteError>>,
    pub ticket: Arc<Ticket>,
}

impl Job {
    /// A one-CIDR job, and how to wait for it.
    pub fn cidr(cidr: Cidr) -> (Job, Pending) {
        let (reply, answer) = std::sync::mpsc::channel();
        let ticket = Arc::new(Ticket::default());
        (
            Job::Cidr {
                cidr,
                reply,
                ticket: ticket.clone(),
            },
            Pending { answer, ticket },
        )
    }
}

impl Engine {
    pub fn new(
        ec2: Arc<dyn Ec2 + Send + Sync>,
        vpc: VpcId,
        scope: TableScope,
        options: Options,
        persist: Box<dyn Persist>,
        clock: Clock,
    ) -> Result<Engine, String> {
        let owned = persist.load_at_start()?;
        let spec = None;
        let budget = Budget::ec2_default(clock.mono());
        Ok(Engine {
            ec2,
            vpc,
            scope,
            options,
            persist,
            clock,
            shared: Mutex::new(Shared {
                dirty: spec.is_some(),
                spec,
                owned,
                stopping: false,
                routes: BTreeMap::new(),
                last: None,
                issues: BTreeSet::new(),
                sdc_on: 0,
                seen: None,
                failovers: 0,
                healthy_since: HashMap::new(),
                pass_at: None,
                no_healthy: BTreeSet::new(),
                counters: Counters::default(),
                jobs: VecDeque::new(),
                doing: None,
                answered: 0,
            }),
            wake: Condvar::new(),
            passing: Mutex::new(()),
            budget: Mutex::new(budget),
            health: Arc::new(NoChecks),
            failback: None,
            pool: failover::Pool::none(),
            fence: None,
        })
    }

    /// Makes no change while `fence` is closed (the same fence the EC2
    /// client passes, checked before planning calls, so that a follower's
    /// passes are quiet and honest: "held", not "failed").
    pub fn with_fence(mut self, fence: Arc<crate::ec2::fence::Fence>) -> Engine {
        self.fence = Some(fence);
        self
    }

    /// Checks hosts with `health`, fails over on its transitions (through
    /// [`Engine::on_transition`]) with `threads` side by side, and with
    /// `failback` lets a recovered host take its routes back after that
    /// long.
    pub fn with_health(
        mut self,
        health: Arc<dyn HealthSource>,
        failback: Option<Duration>,
        threads: usize,
    ) -> Result<Engine, String> {
        self.pool = failover::Pool::start(self.ec2.clone(), threads)?;
        self.health = health;
        self.failback = failback;
        if let Some(spec) = &self.lock().spec {
            self.health.set_hosts(&spec.all_hosts());
        }
        Ok(self)
    }

    /// The planner's view of health now.
    fn health_view<R>(&self, f: impl FnOnce(&HealthView<'_>) -> R) -> R {
        let now = self.clock.mono();
        let since = self.lock().healthy_since.clone();
        let state = |ip: IpAddr| match self.health.state(ip) {
            health::State::Healthy => Health::Healthy,
            health::State::Unknown => Health::Unknown,
            health::State::Failed => Health::Failed,
        };
        let failback = |ip: IpAddr| {
            self.failback.is_some_and(|hold| {
                since
                    .get(&ip)
                    .is_some_and(|t| now.saturating_duration_since(*t) >= hold)
            })
        };
        f(&HealthView {
            state: &state,
            failback: &failback,
        })
    }

    /// Puts `spec` in force (the lock held) and has its hosts checked.
    fn put_spec(&self, s: &mut Shared, spec: Spec) {
        self.health.set_hosts(&spec.all_hosts());
        s.spec = Some(spec);
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn spec(&self) -> Option<Spec> {
        self.lock().spec.clone()
    }

    /// Puts a new spec in force and asks for a pass.
    pub fn set_spec(&self, spec: Spec) {
        let mut s = self.lock();
        self.put_spec(&mut s, spec);
        s.dirty = true;
        self.wake.notify_all();
    }

    /// The pass under way, if any, for a stop that could not wait for it:
    /// e.g. "a full pass over 40 CIDR(s), 12 call(s) answered, running for
    /// 11 s".
    pub fn activity(&self) -> Option<String> {
        let s = self.lock();
        s.doing.as_ref().map(|(what, since)| {
            format!(
                "{what}, {} call(s) answered, running for {} s",
                s.answered,
                self.clock
                    .mono()
                    .saturating_duration_since(*since)
                    .as_secs()
            )
        })
    }

    /// Reads the owned CIDRs again from the store: a new leader takes what
    /// the previous one recorded (shared through etcd).
    pub fn reload_owned(&self) -> Result<(), String> {
        let owned = self.persist.load_owned()?;
        self.lock().owned = owned;
        Ok(())
    }

    /// The VPC's own CIDRs (the destinations of its local routes), once a
    /// pass has seen a table.
    pub fn local_cidrs(&self) -> Option<Vec<Cidr>> {
        let s = self.lock();
        let seen = s.seen.as_ref()?;
        let mut out: Vec<Cidr> = seen
            .tables
            .iter()
            .flat_map(|t| t.routes.iter())
            .filter(|r| r.target == crate::ec2::RouteTarget::Local)
            .filter_map(|r| match &r.destination {
                crate::ec2::Destination::Cidr(c) => Some(*c),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        Some(out)
    }

    /// Asks for a full pass (a new leader looks at every table).
    pub fn request_pass(&self) {
        self.lock().dirty = true;
        self.wake.notify_all();
    }

    /// Puts `spec` in force (when given) and queues `job` for the reconcile
    /// thread, as one step: the job sees this spec, and no full pass is
    /// asked for (an edited entry is all that changed).
    pub fn submit(&self, spec: Option<Spec>, job: Job) {
        let mut s = self.lock();
        if let Some(spec) = spec {
            self.put_spec(&mut s, spec);
        }
        s.jobs.push_back(job);
        self.wake.notify_all();
    }

    /// Runs one job (the pass lock held by the caller).
    fn run_job(&self, job: Job) {
        match job {
            Job::Cidr {
                cidr,
                reply,
                ticket,
            } => {
                if ticket.start() {
                    let _ = reply.send(self.pass_cidr_locked(cidr));
                }
            }
            Job::Disown {
                cidr,
                was_owned,
                reply,
            } => {
                let owned = {
                    let mut s = self.lock();
                    if was_owned {
                        s.owned.insert(cidr);
                    } else {
                        s.owned.remove(&cidr);
                    }
                    if !was_owned {
                        s.routes.remove(&cidr);
                    }
                    s.owned.clone()
                };
                let _ = reply.send(self.persist.save_owned(&owned));
            }
        }
    }

    pub fn stop(&self) {
        self.lock().stopping = true;
        self.wake.notify_all();
        self.pool.stop();
    }

    /// Waits (up to `max`) until every host has a known health state, so
    /// that the first pass places routes on routers known to be up.
    pub fn settle(&self, max: Duration) {
        let until = self.clock.mono() + max;
        while self.clock.mono() < until && !self.lock().stopping {
            let hosts = self.health.snapshot();
            if hosts.iter().all(|h| h.state != health::State::Unknown) {
                return;
            }
            self.clock.sleep(Duration::from_millis(50));
        }
    }

    /// The loop of the reconcile thread: a pass whenever the spec changes,
    /// and every `interval` (none: only on changes), until `stop`.
    pub fn run(&self, interval: Option<Duration>) {
        let mut next = interval.map(|i| self.clock.mono() + i);
        loop {
            // The spec as it was when the pass was decided on: an edit that
            // comes in meanwhile is its job's, whose answer tells what it did.
            let snapshot = {
                let mut s = self.lock();
                loop {
                    if s.stopping {
                        return;
                    }
                    if let Some(job) = s.jobs.pop_front() {
                        drop(s);
                        let _one = self.passing.lock().unwrap_or_else(|p| p.into_inner());
                        self.run_job(job);
                        s = self.lock();
                        continue;
                    }
                    let now = self.clock.mono();
                    let due = s.pass_at.is_some_and(|a| now >= a);
                    if s.dirty || due || next.is_some_and(|n| now >= n) {
                        s.dirty = false;
                        if due {
                            s.pass_at = None;
                        }
                        break s.spec.clone().map(|spec| (spec, s.owned.clone()));
                    }
                    // The earlier of the periodic pass and a hold-down's end.
                    let wake = match (next, s.pass_at) {
                        (Some(n), Some(a)) => Some(n.min(a)),
                        (n, a) => n.or(a),
                    };
                    s = self.clock.wait_until(&self.wake, s, wake);
                }
            };
            if let Some(snapshot) = snapshot {
                self.pass_of(snapshot);
            }
            next = interval.map(|i| self.clock.mono() + i);
        }
    }

    /// Waits until the budget has a token for the call.
    fn pace(&self, kind: CallKind) {
        budget::take_paced(&self.budget, kind, &self.clock);
    }

    fn observe(&self, spec: &Spec) -> Result<Observed, RouteError> {
        self.pace(CallKind::Describe);
        self.pace(CallKind::Describe);
        pass::observe(&*self.ec2, &self.vpc, spec, &self.scope)
    }

    /// A full pass over the spec in force. Returns false when there is no
    /// spec yet or observing failed.
    pub fn pass(&self) -> bool {
        let snapshot = {
            let s = self.lock();
            match &s.spec {
                Some(spec) => (spec.clone(), s.owned.clone()),
                None => return false,
            }
        };
        self.pass_of(snapshot)
    }

    /// A full pass over `spec`, with `owned` as the CIDRs owned when it
    /// was taken.
    fn pass_of(&self, (spec, owned): (Spec, BTreeSet<Cidr>)) -> bool {
        let _one = self.passing.lock().unwrap_or_else(|p| p.into_inner());
        let _doing = Doing::start(self, format!("a full pass over {} CIDR(s)", spec.len()));
        let started = self.clock.mono();
        let at = self.clock.now();
        let failovers = self.lock().failovers;
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
                    took: self.clock.mono().saturating_duration_since(started),
                    result: "error",
                    changes: 0,
                    failed: 0,
                    error: Some(e.to_string()),
                });
                return false;
            }
        };
        // The new observation replaces the last-seen one at once (failovers
        // during the pass act on it), so that two are never held through
        // the pass. Not if a failover has already changed routes since the
        // pass began: its view is kept, and the pass is done again.
        let seen = Arc::new(seen);
        {
            let mut s = self.lock();
            if s.failovers == failovers {
                s.seen = Some(Arc::clone(&seen));
            }
        }
        let (plan, fixed, applied) = self.plan_and_apply(&spec, &seen, &owned, &self.options);
        self.release(&spec, &owned, &plan, &applied);
        let failed = applied.iter().filter(|a| a.result.is_err()).count()
            + fixed.iter().filter(|f| f.result.is_err()).count();
        let held = applied.is_empty() && (!plan.changes.is_empty() || !plan.fixes.is_empty());
        let result = if failed > 0 {
            "failed"
        } else if held {
            // Changes to make that this daemon may not make (a follower),
            // or could not record.
            "held"
        } else if applied.is_empty() && fixed.is_empty() {
            "in_sync"
        } else {
            "changed"
        };
        let mut s = self.lock();
        self.record(&mut s, &seen, &plan, (&fixed, &applied), at, true);
        // This pass's reference goes first, so that the last-seen view is
        // brought up to date in place, not copied.
        drop(seen);
        if s.failovers == failovers {
            if let Some(known) = &mut s.seen {
                let known = Arc::make_mut(known);
                for a in applied.iter().filter(|a| a.result.is_ok()) {
                    pass::record_change(known, &a.change);
                }
            }
        } else {
            // A failover ran during this pass: what it saw is stale, and
            // the failover's own view is kept. Look again.
            s.dirty = true;
        }
        *s.counters.passes.entry(result).or_default() += 1;
        s.counters.pass_seconds_sum += self
            .clock
            .mono()
            .saturating_duration_since(started)
            .as_secs_f64();
        s.last = Some(PassSummary {
            at,
            took: self.clock.mono().saturating_duration_since(started),
            result,
            changes: applied.len() + fixed.len(),
            failed,
            error: None,
        });
        true
    }

    /// Write-ahead ownership: records every CIDR `changes` create or point
    /// at a router as owned before any of them is made, so that at every
    /// instant the routes that exist are a subset of what is recorded.
    fn intend(&self, changes: &[crate::reconcile::plan::Change]) -> Result<(), String> {
        let mut s = self.lock();
        let intent = pass::owned_before(&s.owned, changes);
        if intent != s.owned {
            self.persist.save_owned(&intent)?;
            s.owned = intent;
        }
        Ok(())
    }

    /// After the changes of `plan` (made with `planned_with` owned): the
    /// CIDRs whose deletes are all confirmed are no longer owned. If that
    /// cannot be saved they stay owned (recorded), which is safe: the next
    /// pass deletes nothing that is not there.
    fn release(
        &self,
        spec: &Spec,
        planned_with: &BTreeSet<Cidr>,
        plan: &Plan,
        applied: &[Applied],
    ) {
        if applied.is_empty() && self.fence.as_ref().is_some_and(|f| f.check().is_err()) {
            // A follower changed nothing, so it has nothing to release (and
            // may not write the record).
            return;
        }
        let mut s = self.lock();
        let after = pass::owned_after(spec, &s.owned, planned_with, &plan.changes, applied);
        if after != s.owned {
            match self.persist.save_owned(&after) {
                Ok(()) => s.owned = after,
                Err(e) => error!("{e}; what vpc-router manages stays as recorded"),
            }
        }
    }

    /// A change was just answered: its log line now, and its count.
    fn made(&self, a: &Applied) {
        let mut s = self.lock();
        s.answered += 1;
        match pass::applied_line(a) {
            Ok(line) => {
                *s.counters
                    .changes
                    .entry(a.change.action.as_str())
                    .or_default() += 1;
                info!("{line}");
            }
            Err(line) => {
                if let Err(e) = &a.result {
                    *s.counters.failures.entry(failure_code(e)).or_default() += 1;
                }
                error!("{line}; retried on the next pass");
            }
        }
    }

    /// Source/destination check fixes were just made: their log lines and
    /// counts.
    fn fixes_made(&self, fixed: &[Fixed]) {
        let mut s = self.lock();
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
    }

    /// Plans against `seen` with the health checks' view, then makes the
    /// source/dest check fixes and the changes, paced. A change to a
    /// router that has failed since the plan was made is dropped (a
    /// failover has moved, or will move, its CIDR).
    fn plan_and_apply(
        &self,
        spec: &Spec,
        seen: &Observed,
        owned: &BTreeSet<Cidr>,
        options: &Options,
    ) -> (Plan, Vec<Fixed>, Vec<Applied>) {
        let plan = self.health_view(|h| pass::plan_for(spec, seen, owned, h, options));
        if let Some(Err(why)) = self.fence.as_ref().map(|f| f.check()) {
            // A follower plans, to keep warm, and changes nothing.
            if !plan.changes.is_empty() || !plan.fixes.is_empty() {
                crate::debug!(
                    "{} change(s) held: {why}",
                    plan.changes.len() + plan.fixes.len()
                );
            }
            return (plan, Vec::new(), Vec::new());
        }
        if let Err(e) = self.intend(&plan.changes) {
            error!(
                "{e}; no route is changed until vpc-router can record which routes it \
                 manages (the next pass retries)"
            );
            *self
                .lock()
                .counters
                .failures
                .entry("state".into())
                .or_default() += 1;
            return (plan, Vec::new(), Vec::new());
        }
        let fixed = pass::fix(&*self.ec2, &plan.fixes, &mut || self.pace(CallKind::Mutate));
        self.fixes_made(&fixed);
        let applied = pass::apply(
            &*self.ec2,
            &plan.changes,
            &mut |c| {
                if c.to
                    .as_ref()
                    .is_some_and(|t| self.health.state(t.ip) == health::State::Failed)
                {
                    self.lock().dirty = true;
                    return false;
                }
                self.pace(CallKind::Mutate);
                true
            },
            &mut |a| self.made(a),
        );
        (plan, fixed, applied)
    }

    /// A pass for one CIDR only (http mode's POST/DELETE /route): the spec
    /// entry has just been edited. Nothing else is looked at or changed.
    pub fn pass_cidr(&self, cidr: Cidr) -> Result<CidrResult, RouteError> {
        let _one = self.passing.lock().unwrap_or_else(|p| p.into_inner());
        self.pass_cidr_locked(cidr)
    }

    fn pass_cidr_locked(&self, cidr: Cidr) -> Result<CidrResult, RouteError> {
        let _doing = Doing::start(self, format!("a pass for {cidr} alone"));
        let (spec, owned) = {
            let s = self.lock();
            let spec = s
                .spec
                .as_ref()
                .map(|sp| sp.subset([&cidr]))
                .unwrap_or_default();
            let owned: BTreeSet<Cidr> = s.owned.iter().filter(|c| **c == cidr).copied().collect();
            (spec, owned)
        };
        let at = self.clock.now();
        let seen = self.observe(&spec)?;
        let options = Options {
            prune: false,
            ..self.options.clone()
        };
        let (plan, fixed, applied) = self.plan_and_apply(&spec, &seen, &owned, &options);
        let mut s = self.lock();
        if let Some(known) = &mut s.seen {
            // Keep the failover's view current: this CIDR's changes, and
            // the interfaces of its routers.
            let known = Arc::make_mut(known);
            for e in &seen.enis {
                if !known.enis.iter().any(|k| k.id == e.id) {
                    known.enis.push(e.clone());
                }
            }
            for a in applied.iter().filter(|a| a.result.is_ok()) {
                pass::record_change(known, &a.change);
            }
        }
        drop(s);
        self.release(&spec, &owned, &plan, &applied);
        let mut s = self.lock();
        self.record(&mut s, &seen, &plan, (&fixed, &applied), at, false);
        Ok(CidrResult {
            was_owned: !owned.is_empty(),
            tables: seen.tables.iter().map(|t| t.id.clone()).collect(),
            plan,
            applied,
        })
    }

    /// Logs new issues and updates the per-route status (the changes were
    /// logged and counted as they were made).
    fn record(
        &self,
        s: &mut Shared,
        seen: &Observed,
        plan: &Plan,
        (fixed, applied): (&[Fixed], &[Applied]),
        at: SystemTime,
        full: bool,
    ) {
        if full {
            let now: BTreeSet<String> = plan.issues.iter().map(ToString::to_string).collect();
            for i in now.difference(&s.issues) {
                warn!("{i}");
            }
            s.issues = now;
            s.no_healthy = plan
                .issues
                .iter()
                .filter_map(|i| match i {
                    Issue::NoHealthyRouter { cidr } => Some(*cidr),
                    _ => None,
                })
                .collect();
            s.sdc_on = plan
                .issues
                .iter()
                .filter(|i| matches!(i, Issue::SourceDestCheck { .. }))
                .count()
                + fixed.iter().filter(|f| f.result.is_err()).count();
            // Only the spec's CIDRs are shown; forget the others.
            let cidrs: BTreeSet<Cidr> = plan.targets.keys().copied().collect();
            s.routes.retain(|c, _| cidrs.contains(c));
        }
        // Each table's routes indexed once: a lookup per (CIDR, table), not
        // a scan of the table's routes.
        let index = RouteIndex::new(&seen.tables, plan.targets.keys());
        for (cidr, target) in &plan.targets {
            let by_table = s.routes.entry(*cidr).or_default();
            if by_table.is_empty() {
                // A new CIDR: its tables inserted into a second map, then
                // appended, which rebuilds the B-tree with full nodes
                // (inserted one by one, in order, they are left about half
                // full). `append` needs both maps non-empty to rebuild.
                let mut rest = BTreeMap::new();
                for t in &seen.tables {
                    rest.insert(t.id.clone(), RouteView::default());
                }
                if let Some((id, v)) = rest.pop_first() {
                    by_table.insert(id, v);
                    by_table.append(&mut rest);
                }
            }
            // One string per CIDR and target, shared by its tables: the one
            // already kept if it says the same.
            let desired: Option<Arc<str>> = target.as_ref().map(|t| {
                let kept = by_table.values().next().and_then(|e| e.desired.as_ref());
                match kept {
                    Some(k) if shows_as(&format_args!("{} ({})", t.eni, t.ip), k) => k.clone(),
                    _ => format!("{} ({})", t.eni, t.ip).into(),
                }
            });
            // The last current target made for this CIDR, for the next
            // table that points at the same; the last comparison made.
            let mut made: Option<Arc<str>> = None;
            let mut compared: Option<(&RouteTarget, Arc<str>)> = None;
            for (i, t) in seen.tables.iter().enumerate() {
                let e = match by_table.get_mut(&t.id) {
                    Some(e) => e,
                    None => by_table.entry(t.id.clone()).or_default(),
                };
                // In sync, nothing changed: compare rather than allocate
                // a string per route and pass, and compare once for the
                // tables that route this CIDR alike (the same target, the
                // same shared string).
                let target = index.get(i, cidr).map(|r| &r.target);
                let same = match (target, &e.current) {
                    (Some(t), Some(c)) => match &compared {
                        Some((last, kept)) if *last == t && Arc::ptr_eq(kept, c) => true,
                        _ => {
                            let same = shows_as(t, c);
                            if same {
                                compared = Some((t, c.clone()));
                            }
                            same
                        }
                    },
                    (None, None) => true,
                    _ => false,
                };
                if !same {
                    e.current = target.map(|t| match &made {
                        Some(m) if shows_as(t, m) => m.clone(),
                        _ => made.insert(t.to_string().into()).clone(),
                    });
                }
                if e.desired != desired {
                    e.desired.clone_from(&desired);
                }
            }
        }
        for a in applied {
            let c = &a.change;
            let e = s
                .routes
                .entry(c.cidr)
                .or_default()
                .entry(c.table.clone())
                .or_default();
            let outcome = match &a.result {
                Ok(()) => {
                    e.current = match c.action {
                        Action::Delete => None,
                        _ => e.desired.clone(),
                    };
                    "done".into()
                }
                Err(err) => format!("failed: {err}"),
            };
            e.last = Some(Box::new(view::LastChange {
                action: c.action.as_str(),
                outcome,
                at,
            }));
        }
        // A deleted CIDR's rows go once it is no longer owned.
        let owned = s.owned.clone();
        let spec_has = |c: &Cidr| s.spec.as_ref().is_some_and(|sp| sp.hosts(c).is_some());
        let keep: BTreeSet<Cidr> = s
            .routes
            .keys()
            .copied()
            .filter(|c| spec_has(c) || owned.contains(c))
            .collect();
        s.routes.retain(|c, _| keep.contains(c));
    }

    /// Whether the daemon may say it is ready: a full pass has ended (well
    /// or not), or there is no spec to pass over yet (`-m http` before the
    /// first `POST /route_spec`).
    pub fn first_pass_done(&self) -> bool {
        let s = self.lock();
        s.last.is_some() || s.spec.is_none()
    }

    /// What `/status` shows of the reconciler: bounded whatever the number
    /// of tables and CIDRs (the routes summed up in one pass over them,
    /// under the lock, without copying them).
    pub fn status(&self) -> Status {
        let s = self.lock();
        Status {
            spec: s.spec.clone(),
            hosts: self.health.snapshot(),
            no_healthy_router: s.no_healthy.clone(),
            managed: s.owned.clone(),
            routes: view::summary(&s.routes),
            issues: s.issues.iter().take(view::SUMMARY_CAP).cloned().collect(),
            issues_truncated: s.issues.len().saturating_sub(view::SUMMARY_CAP),
            last_pass: s.last.clone(),
        }
    }

    /// Every table's route for one CIDR, if the engine shows it.
    pub fn routes_of(&self, cidr: &Cidr) -> Option<BTreeMap<RouteTableId, RouteView>> {
        self.lock().routes.get(cidr).cloned()
    }

    /// Page `page` (from 1) of the per-table routes, `per_page` CIDRs each.
    pub fn routes_page(&self, page: usize, per_page: usize) -> RoutesPage {
        view::page(&self.lock().routes, page, per_page)
    }

    /// The `n` latest route changes, newest first (the status page's).
    pub fn recent_changes(&self, n: usize) -> Vec<view::Change> {
        view::recent(&self.lock().routes, n)
    }

    /// What `/metrics` shows of the reconciler.
    pub fn gauges(&self) -> Gauges {
        let s = self.lock();
        Gauges {
            counters: s.counters.clone(),
            managed: s.owned.len(),
            hosts: self.health.snapshot(),
            no_healthy_router: s.no_healthy.len(),
            source_dest_check_enabled: s.sdc_on,
        }
    }
}

/// Whether `v` displays as `s`, without making the string.
fn shows_as(v: &impl std::fmt::Display, s: &str) -> bool {
    struct Rest<'a>(&'a str);
    impl std::fmt::Write for Rest<'_> {
        fn write_str(&mut self, piece: &str) -> std::fmt::Result {
            self.0 = self.0.strip_prefix(piece).ok_or(std::fmt::Error)?;
            Ok(())
        }
    }
    let mut rest = Rest(s);
    std::fmt::write(&mut rest, format_args!("{v}")).is_ok() && rest.0.is_empty()
}

#[cfg(test)]
mod shows_as_tests {
    #[test]
    fn compares_what_would_be_displayed() {
        let t = crate::ec2::RouteTarget::Interface {
            eni: Some("eni-0aaaaaaaaaaaaaaa1".parse().unwrap()),
            instance: Some("i-0aaaaaaaaaaaaaaa1".parse().unwrap()),
        };
        assert!(super::shows_as(
            &t,
            "eni-0aaaaaaaaaaaaaaa1 (i-0aaaaaaaaaaaaaaa1)"
        ));
        assert!(!super::shows_as(&t, "eni-0aaaaaaaaaaaaaaa1"));
        assert!(!super::shows_as(
            &t,
            "eni-0aaaaaaaaaaaaaaa1 (i-0aaaaaaaaaaaaaaa1)x"
        ));
        assert!(!super::shows_as(
            &t,
            "eni-0bbbbbbbbbbbbbbb2 (i-0aaaaaaaaaaaaaaa1)"
        ));
        assert!(super::shows_as(&crate::ec2::RouteTarget::Local, "local"));
    }
}

#[cfg(test)]
mod tests;
