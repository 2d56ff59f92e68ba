//! Failover: when a router's health check fails, every CIDR routed to it
//! moves to the first healthy host in spec order, in every table, at once.
//!
//! It acts on the tables as last seen (no describe first), plans with the
//! same pure planner as a pass (so a failover and the next pass agree),
//! takes its tokens from the rate budget ahead of routine work (urgent
//! takes go into debt rather than wait), and makes its calls side by side
//! on a fixed pool of threads, so a few slow answers do not add up.

use std::collections::BTreeSet;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use super::{Engine, FAILOVER_BUCKETS};
use crate::ec2::Ec2;
use crate::health::{State, Transition};
use crate::reconcile::budget::CallKind;
use crate::reconcile::pass::{self, Applied, Observed};
use crate::reconcile::plan::{Change, Issue, Options, Plan, RouteIndex};
use crate::spec::Spec;
use crate::types::Cidr;
use crate::{error, info, warn};

/// A change, its place in the plan, where to send its result.
type Job = (usize, Change, Sender<(usize, Applied)>);

/// A fixed pool of threads that make route calls side by side.
pub(super) struct Pool {
    jobs: Mutex<Option<Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Pool {
    /// No threads: calls are made on the caller's thread.
    pub(super) fn none() -> Pool {
        Pool {
            jobs: Mutex::new(None),
            threads: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn start(ec2: Arc<dyn Ec2 + Send + Sync>, n: usize) -> Result<Pool, String> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(rx));
        let pool = Pool {
            jobs: Mutex::new(Some(tx)),
            threads: Mutex::new(Vec::new()),
        };
        for i in 0..n.max(1) {
            let (rx, ec2) = (rx.clone(), ec2.clone());
            let spawned = thread::Builder::new()
                // The prefix makes its EC2 calls urgent (crate::retry).
                .name(format!("{}{i}", crate::retry::URGENT_THREAD_PREFIX))
                // A route call and its logging need little stack.
                .stack_size(256 * 1024)
                .spawn(move || loop {
                    // One thread waits on the channel, the others on the
                    // lock; the lock is let go as soon as a job arrives.
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((i, change, reply)) = job else { return };
                    for a in pass::apply(&*ec2, &[change], &mut |_| true, &mut |_| {}) {
                        let _ = reply.send((i, a));
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
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(jobs) = jobs else {
            return pass::apply(ec2, changes, &mut |_| true, done);
        };
        let (tx, rx) = mpsc::channel();
        for (i, c) in changes.iter().enumerate() {
            if jobs.send((i, c.clone(), tx.clone())).is_err() {
                // Stopping: make the call here rather than lose it.
                let a = pass::apply(ec2, std::slice::from_ref(c), &mut |_| true, &mut |_| {});
                let _ = tx.send((i, a.into_iter().next().expect("one change, one result")));
            }
        }
        drop(tx);
        // Each result goes to its change's place: plan order in O(changes).
        let mut slots: Vec<Option<Applied>> = vec![None; changes.len()];
        for (i, a) in rx.iter() {
            done(&a);
            slots[i] = Some(a);
        }
        slots.into_iter().flatten().collect()
    }

    /// Ends the threads once their calls are answered.
    pub(super) fn stop(&self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
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
        // The spec CIDRs some table routes to the failed router: each
        // table's routes indexed once, then a lookup per (CIDR, table).
        let index = RouteIndex::new(&seen.tables);
        let affected: Vec<&Cidr> = spec
            .routes()
            .keys()
            .filter(|cidr| {
                index
                    .routes_for(cidr)
                    .any(|r| r.target.eni().is_some_and(|e| dead.contains(e)))
            })
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
