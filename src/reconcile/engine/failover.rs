//! Failover: when a router's health check fails, every CIDR routed to it
//! moves to the first healthy host in spec order, in every table, at once.
//!
//! It acts on the tables as last seen (no describe first), plans with the
//! same pure planner as a pass (so a failover and the next pass agree),
//! takes its tokens from the rate budget ahead of routine work (urgent
//! takes go into debt rather than wait), and makes its calls side by side
//! on a fixed pool of threads, so a few slow answers do not add up.

use std::collections::{BTreeSet, VecDeque};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use super::{Engine, FAILOVER_BUCKETS};
use crate::ec2::Destination;
use crate::ec2::Ec2;
use crate::health::{State, Transition};
use crate::reconcile::budget::CallKind;
use crate::reconcile::pass::{self, Applied, Observed};
use crate::reconcile::plan::{Change, Issue, Options, Plan};
use crate::spec::Spec;
use crate::types::Cidr;
use crate::{error, info, warn};

/// A change, its place in the plan, where to send its result.
type Job = (usize, Change, Sender<(usize, Applied)>);

/// The jobs not yet taken, and whether the pool takes more.
struct Queue {
    jobs: VecDeque<Job>,
    open: bool,
}

/// A fixed pool of threads that make route calls side by side.
///
/// The jobs wait in one queue under a lock that is held only to push or
/// pop, and each job wakes an idle thread: so the threads start their
/// calls together. (A shared channel receiver behind a lock, as before,
/// woke them one after the other, each only once the previous had its
/// job: on a loaded machine that chain of wake-ups added up.)
pub(super) struct Pool {
    queue: Arc<(Mutex<Queue>, Condvar)>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn lock(q: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    q.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pool {
    /// No threads: calls are made on the caller's thread.
    pub(super) fn none() -> Pool {
        Pool {
            queue: Arc::new((
                Mutex::new(Queue {
                    jobs: VecDeque::new(),
                    open: false,
                }),
                Condvar::new(),
            )),
            threads: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn start(ec2: Arc<dyn Ec2 + Send + Sync>, n: usize) -> Result<Pool, String> {
        let pool = Pool::none();
        lock(&pool.queue.0).open = true;
        for i in 0..n.max(1) {
            let (queue, ec2) = (pool.queue.clone(), ec2.clone());
            let spawned = thread::Builder::new()
                // The prefix makes its EC2 calls urgent (crate::retry).
                .name(format!("{}{i}", crate::retry::URGENT_THREAD_PREFIX))
                // A route call and its logging need little stack.
                .stack_size(256 * 1024)
                .spawn(move || {
                    while let Some((i, change, reply)) = take(&queue) {
                        for a in pass::apply(&*ec2, &[change], &mut |_| true, &mut |_| {}) {
                            let _ = reply.send((i, a));
                        }
                    }
                });
            match spawned {
                Ok(h) => pool
                    .threads
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(h),
                Err(e) => {
                    pool.stop();
                    return Err(format!("cannot start a failover thread: {e}"));
                }
            }
        }
        Ok(pool)
    }

    /// Makes every change, side by side; tells `done` of each as it is
    /// answered; the results in plan order.
    fn run(
        &self,
        ec2: &dyn Ec2,
        changes: &[Change],
        done: &mut dyn FnMut(&Applied),
    ) -> Vec<Applied> {
        let (tx, rx) = mpsc::channel();
        {
            let mut q = lock(&self.queue.0);
            if !q.open {
                // No threads, or stopping: the calls are made here.
                drop(q);
                return pass::apply(ec2, changes, &mut |_| true, done);
            }
            for (i, c) in changes.iter().enumerate() {
                q.jobs.push_back((i, c.clone(), tx.clone()));
            }
        }
        drop(tx);
        // One idle thread woken per job, all at once.
        let threads = self.threads.lock().unwrap_or_else(|p| p.into_inner()).len();
        for _ in 0..changes.len().min(threads) {
            self.queue.1.notify_one();
        }
        // Each result goes to its change's place: plan order in O(changes).
        let mut slots: Vec<Option<Applied>> = vec![None; changes.len()];
        for (i, a) in rx.iter() {
            done(&a);
            slots[i] = Some(a);
        }
        slots.into_iter().flatten().collect()
    }

    /// Ends the threads once the queued calls are answered.
    pub(super) fn stop(&self) {
        lock(&self.queue.0).open = false;
        self.queue.1.notify_all();
        let threads: Vec<JoinHandle<()>> = self
            .threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

/// The next job, waiting for one; `None` once the pool is stopped and its
/// queue empty.
fn take(queue: &(Mutex<Queue>, Condvar)) -> Option<Job> {
    let mut q = lock(&queue.0);
    loop {
        if let Some(job) = q.jobs.pop_front() {
            return Some(job);
        }
        if !q.open {
            return None;
        }
        q = queue.1.wait(q).unwrap_or_else(|p| p.into_inner());
    }
}

impl Engine {
    /// A host's health changed. A router that failed is failed over at
    /// once; a recovered one is eligible again (a pass is asked for), and
    /// with `--failback` a pass is due when its hold-down ends.
    pub fn on_transition(&self, t: Transition) {
        {
            let mut s = self.lock();
            if t.to == State::Healthy {
                s.healthy_since.insert(t.ip, t.detected);
                if let Some(hold) = self.failback {
                    let at = t.detected + hold;
                    s.pass_at = Some(s.pass_at.map_or(at, |p| p.min(at)));
                }
            } else {
                s.healthy_since.remove(&t.ip);
            }
            s.dirty = true;
        }
        match t.to {
            State::Failed => warn!("{t}"),
            _ => info!("{t}"),
        }
        if t.to == State::Failed {
            self.failover(&t);
        }
        self.wake.notify_all();
    }

    /// The changes `sub` needs, planned on the tables as last seen and made
    /// at once: recorded first (write-ahead), budget taken into debt, calls
    /// side by side on the pool. `None` if ownership could not be recorded
    /// (nothing was changed; a pass is asked for).
    fn act_now(&self, sub: &Spec, seen: &Observed, what: &str) -> Option<(Plan, Vec<Applied>)> {
        let options = Options {
            prune: false,
            fix_source_dest_check: false,
            ..self.options.clone()
        };
        let plan = self.health_view(|h| pass::plan_for(sub, seen, &BTreeSet::new(), h, &options));
        if let Err(e) = self.intend(&plan.changes) {
            error!(
                "{what}: {e}; no route is changed until vpc-router can record which routes it \
                 manages (the next pass retries)"
            );
            self.request_pass();
            return None;
        }
        {
            let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
            for _ in &plan.changes {
                b.take_urgent(CallKind::Mutate, self.clock.mono());
            }
        }
        let applied = self
            .pool
            .run(&*self.ec2, &plan.changes, &mut |a| self.made(a));
        let mut s = self.lock();
        s.failovers += 1;
        if let Some(known) = &mut s.seen {
            let known = Arc::make_mut(known);
            for a in applied.iter().filter(|a| a.result.is_ok()) {
                pass::record_change(known, &a.change);
            }
        }
        self.record(
            &mut s,
            seen,
            &plan,
            (&[], &applied),
            self.clock.now(),
            false,
        );
        Some((plan, applied))
    }

    /// Moves `cidrs` to where the spec in force now wants them, at once,
    /// as a failover does (routes learned over BGP whose best path changed):
    /// no waiting for a pass. A pass is asked for all the same, to confirm
    /// (and to delete what left the spec).
    pub fn move_now(&self, cidrs: &BTreeSet<Cidr>, why: &str) {
        self.request_pass();
        if cidrs.is_empty() || self.fence.as_ref().is_some_and(|f| f.check().is_err()) {
            return;
        }
        let (spec, seen) = {
            let s = self.lock();
            (s.spec.clone(), s.seen.clone())
        };
        let (Some(spec), Some(seen)) = (spec, seen) else {
            return;
        };
        let sub = spec.subset(cidrs);
        if sub.is_empty() {
            return;
        }
        // Each change has its own log line as it is made.
        if let Some((_, applied)) = self.act_now(&sub, &seen, why) {
            let ok = applied.iter().filter(|a| a.result.is_ok()).count();
            info!(
                "{why}: {ok} of {} route change(s) made at once",
                applied.len()
            );
        }
    }

    /// Moves every CIDR routed to the failed router `t.ip`.
    fn failover(&self, t: &Transition) {
        if let Some(Err(why)) = self.fence.as_ref().map(|f| f.check()) {
            info!(
                "router {} failed; its routes are moved by the leader ({why})",
                t.ip
            );
            return;
        }
        let (spec, seen) = {
            let s = self.lock();
            (s.spec.clone(), s.seen.clone())
        };
        let (Some(spec), Some(seen)) = (spec, seen) else {
            // Nothing seen yet: the pass that was asked for will do it.
            return;
        };
        let dead: Vec<_> = seen
            .enis
            .iter()
            .filter(|e| e.addresses.contains(&t.ip))
            .map(|e| e.id.clone())
            .collect();
        // The spec CIDRs some table routes to the failed router: one scan
        // of the routes as last seen, O(tables x routes), building nothing
        // but the (few) CIDRs found; then a lookup per spec CIDR.
        let mut to_dead: BTreeSet<&Cidr> = BTreeSet::new();
        for r in seen.tables.iter().flat_map(|t| &t.routes) {
            if let Destination::Cidr(c) = &r.destination {
                if r.target.eni().is_some_and(|e| dead.contains(e)) {
                    to_dead.insert(c);
                }
            }
        }
        let affected: Vec<&Cidr> = spec
            .routes()
            .keys()
            .filter(|cidr| to_dead.contains(cidr))
            .collect();
        if affected.is_empty() {
            return;
        }
        let sub = spec.subset(affected);
        let Some((plan, applied)) = self.act_now(&sub, &seen, &format!("router {}", t.ip)) else {
            return;
        };
        let took = self.clock.mono().saturating_duration_since(t.detected);
        let mut s = self.lock();
        for (cidr, target) in &plan.targets {
            let Some(to) = target else {
                if plan
                    .issues
                    .iter()
                    .any(|i| matches!(i, Issue::NoHealthyRouter { cidr: c } if c == cidr))
                {
                    s.no_healthy.insert(*cidr);
                }
                warn!(
                    "failover {cidr}: router {} failed ({}) and no healthy router is left; \
                     its routes stay as they are",
                    t.ip, t.reason
                );
                continue;
            };
            s.no_healthy.remove(cidr);
            let mine: Vec<&Applied> = applied.iter().filter(|a| a.change.cidr == *cidr).collect();
            let ok = mine.iter().filter(|a| a.result.is_ok()).count();
            let from = dead
                .first()
                .map_or_else(|| t.ip.to_string(), |e| format!("{e} ({})", t.ip));
            if mine.len() > ok {
                error!(
                    "failover {cidr}: {from} -> {} ({}): {ok} of {} table(s) changed, the rest \
                     failed and are retried by the next pass; {} ms from detection",
                    to.eni,
                    t.reason,
                    mine.len(),
                    took.as_millis()
                );
            } else {
                info!(
                    "failover {cidr}: {from} -> {} ({}) (router {} failed: {}); {ok} table(s) \
                     changed in {} ms from detection",
                    to.eni,
                    to.ip,
                    t.ip,
                    t.reason,
                    took.as_millis()
                );
            }
            if ok > 0 {
                *s.counters.failovers.entry(*cidr).or_default() += 1;
            }
        }
        if !applied.is_empty() {
            let secs = took.as_secs_f64();
            let i = FAILOVER_BUCKETS
                .iter()
                .position(|b| secs <= *b)
                .unwrap_or(FAILOVER_BUCKETS.len());
            s.counters.failover_buckets[i] += 1;
            s.counters.failover_seconds_sum += secs;
        }
        // A pass confirms what the failover did (and retries what failed).
        s.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::{Ec2Error, NetworkInterface, RouteTable};
    use crate::reconcile::plan::{Action, Reason};
    use crate::types::{EniId, RouteTableId, VpcId};
    use std::net::IpAddr;
    use std::time::Duration;

    /// Route calls that wait until `want` of them are in flight together
    /// (or, if that never happens, a while); counts the most seen at once,
    /// and the calls made urgent (`retry::on_urgent_thread`).
    #[derive(Default)]
    struct Gate {
        want: usize,
        state: Mutex<(usize, usize, usize)>,
        cv: Condvar,
        urgent: std::sync::atomic::AtomicUsize,
    }

    impl Gate {
        fn call(&self) -> Result<(), Ec2Error> {
            if crate::retry::on_urgent_thread() {
                self.urgent
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let mut s = self.state.lock().unwrap();
            // (in flight, most at once, answered)
            s.0 += 1;
            s.1 = s.1.max(s.0);
            self.cv.notify_all();
            let (mut s, _) = self
                .cv
                .wait_timeout_while(s, Duration::from_secs(5), |s| s.1 < self.want)
                .unwrap();
            s.0 -= 1;
            s.2 += 1;
            Ok(())
        }
    }

    impl Ec2 for Gate {
        fn describe_route_tables(
            &self,
            _: &VpcId,
            _: &[RouteTableId],
        ) -> Result<Vec<RouteTable>, Ec2Error> {
            Ok(Vec::new())
        }
        fn describe_network_interfaces(
            &self,
            _: &VpcId,
            _: &[IpAddr],
        ) -> Result<Vec<NetworkInterface>, Ec2Error> {
            Ok(Vec::new())
        }
        fn create_route(
            &self,
            _: &RouteTableId,
            _: &Cidr,
            _: &EniId,
            _: bool,
        ) -> Result<(), Ec2Error> {
            self.call()
        }
        fn replace_route(
            &self,
            _: &RouteTableId,
            _: &Cidr,
            _: &EniId,
            _: bool,
        ) -> Result<(), Ec2Error> {
            self.call()
        }
        fn delete_route(&self, _: &RouteTableId, _: &Cidr, _: bool) -> Result<(), Ec2Error> {
            self.call()
        }
        fn disable_source_dest_check(&self, _: &EniId, _: bool) -> Result<(), Ec2Error> {
            Ok(())
        }
    }

    fn changes(n: usize) -> Vec<Change> {
        (0..n)
            .map(|i| Change {
                table: format!("rtb-{i:08x}").parse().unwrap(),
                cidr: "10.55.0.0/16".parse().unwrap(),
                action: Action::Delete,
                from: None,
                to: None,
                reason: Reason::LeftSpec,
            })
            .collect()
    }

    #[test]
    fn every_call_of_a_failover_is_in_flight_at_once_and_answered_in_plan_order() {
        let gate = Arc::new(Gate {
            want: 40,
            ..Gate::default()
        });
        let pool = Pool::start(gate.clone(), 50).unwrap();
        let want = changes(40);
        let mut told = 0;
        let applied = pool.run(&*gate, &want, &mut |_| told += 1);
        pool.stop();
        let s = *gate.state.lock().unwrap();
        assert_eq!(
            (s.1, s.2, told),
            (40, 40, 40),
            "most at once, answered, told"
        );
        let order: Vec<_> = applied.iter().map(|a| a.change.table.clone()).collect();
        let planned: Vec<_> = want.iter().map(|c| c.table.clone()).collect();
        assert_eq!(order, planned);
        assert!(applied.iter().all(|a| a.result.is_ok()));
        // Every call retries as a failover's (briefly), not the caller's.
        let urgent = gate.urgent.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(urgent, 40);
        assert!(!crate::retry::on_urgent_thread());
    }

    #[test]
    fn more_calls_than_threads_go_in_waves_and_a_stopped_pool_calls_on_the_caller() {
        // 8 threads, 20 calls: never more than 8 at once, all made.
        let gate = Arc::new(Gate {
            want: 8,
            ..Gate::default()
        });
        let pool = Pool::start(gate.clone(), 8).unwrap();
        let applied = pool.run(&*gate, &changes(20), &mut |_| {});
        assert_eq!(applied.len(), 20);
        assert_eq!(gate.state.lock().unwrap().1, 8);
        assert_eq!(gate.state.lock().unwrap().2, 20);
        // Stopped: the calls are made on the caller's thread, one at a
        // time, and none is lost.
        pool.stop();
        let one = Arc::new(Gate {
            want: 1,
            ..Gate::default()
        });
        let applied = pool.run(&*one, &changes(3), &mut |_| {});
        assert_eq!(applied.len(), 3);
        assert_eq!(*one.state.lock().unwrap(), (0, 1, 3));
    }
}
