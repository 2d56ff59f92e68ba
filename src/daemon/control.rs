//! The daemon's control loop: the one thread that tells the engine what to
//! do. Everything that changes desired state, health or leadership arrives
//! here as one closed [`Input`] on one channel: feeds send specs, the
//! health monitor sends transitions, leader election (later: etcd) sends
//! leadership, the supervisor sends reload and stop.
//!
//! The loop never waits for a pass: a spec goes in force and wakes the
//! reconcile thread; a one-CIDR edit is queued for it; a failover runs at
//! once on the failover pool. So a failover never waits behind a pass.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::feed::{Feed, Precedence, Source};
use crate::ec2::fence::Fence;
use crate::health::Transition;
use crate::reconcile::engine::{Engine, Job};
use crate::spec::Spec;
use crate::types::Cidr;
use crate::{info, warn};

/// Everything the control loop acts on.
pub enum Input {
    /// A source's whole spec, new or changed.
    Spec {
        source: Source,
        spec: Spec,
    },
    /// A source's spec after an edit of one entry, and the job that
    /// reconciles that entry and answers whoever asked.
    Edit {
        source: Source,
        spec: Spec,
        job: Job,
    },
    /// A router's health changed.
    Health(Transition),
    /// Whether this daemon may change routes.
    Leadership(Leadership),
    /// SIGHUP: feeds look at their sources again.
    Reload,
    /// Answered once every input sent before it has been handled: the
    /// supervisor starts the first pass only after the feeds' first specs
    /// are in force (and their hosts under health checks).
    Sync(std::sync::mpsc::Sender<()>),
    Stop,
}

impl From<Transition> for Input {
    fn from(t: Transition) -> Input {
        Input::Health(t)
    }
}

/// What leader election decided for this daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// This daemon leads: it may change routes, until `until` (monotonic
    /// time; the lease's local deadline) when given.
    Gained { until: Option<Instant> },
    /// Another daemon leads, or leadership could not be confirmed: no
    /// mutating call may be sent.
    Lost { reason: String },
}

/// This daemon's part in changing routes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Role {
    /// No leader election: it changes routes.
    #[default]
    Standalone,
    Leader,
    Follower {
        reason: String,
    },
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Leader => "leader",
            Role::Follower { .. } => "follower",
        }
    }
}

/// Two sources name one CIDR with different routers; the stronger wins.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conflict {
    pub cidr: Cidr,
    pub winner: &'static str,
    pub loser: &'static str,
}

/// What `/status` and `/metrics` show of the control loop.
#[derive(Debug, Clone, Default)]
pub struct ControlStatus {
    pub role: Role,
    /// CIDRs per source.
    pub sources: BTreeMap<&'static str, usize>,
    /// Conflicts in the specs now in force.
    pub conflicts: BTreeSet<Conflict>,
    /// Conflicts seen since start (each counted when it appears).
    pub conflicts_total: u64,
}

/// The desired state: the sources' specs merged. Sources are taken in
/// order of precedence (configured before learned); a CIDR goes to the
/// first source that names it, and a later source that names it with
/// other routers is a conflict.
pub fn merge(specs: &BTreeMap<Source, Spec>) -> (Spec, BTreeSet<Conflict>) {
    let mut owner: BTreeMap<Cidr, &'static str> = BTreeMap::new();
    let mut conflicts = BTreeSet::new();
    let mut merged = Spec::default();
    for (source, spec) in specs {
        for (cidr, hosts) in spec.routes() {
            match merged.hosts(cidr) {
                None => {
                    merged.insert(*cidr, hosts.clone(), spec.is_strict(cidr));
                    owner.insert(*cidr, source.name);
                }
                Some(kept) if kept != hosts => {
                    conflicts.insert(Conflict {
                        cidr: *cidr,
                        winner: owner[cidr],
                        loser: source.name,
                    });
                }
                Some(_) => {}
            }
        }
    }
    (merged, conflicts)
}

/// The strict (learned) CIDRs of `after` whose routers differ from
/// `before`'s, new ones included.
fn moved(before: &Spec, after: &Spec) -> BTreeSet<Cidr> {
    after
        .routes()
        .iter()
        .filter(|(c, hosts)| after.is_strict(c) && before.hosts(c) != Some(hosts.as_slice()))
        .map(|(c, _)| *c)
        .collect()
}

/// The loop's state; see the module docs.
pub struct Control {
    engine: Option<Arc<Engine>>,
    fence: Arc<Fence>,
    feeds: Vec<Arc<dyn Feed>>,
    control: std::sync::mpsc::Sender<Input>,
    specs: BTreeMap<Source, Spec>,
    status: Arc<Mutex<ControlStatus>>,
    /// The owned CIDRs were read since this daemon last came to lead.
    owned_loaded: bool,
}

impl Control {
    /// `control` is the sending end of the loop's own channel, which
    /// feeds are given on reload.
    pub fn new(
        engine: Option<Arc<Engine>>,
        fence: Arc<Fence>,
        feeds: Vec<Arc<dyn Feed>>,
        control: std::sync::mpsc::Sender<Input>,
    ) -> Control {
        Control {
            engine,
            fence,
            feeds,
            control,
            specs: BTreeMap::new(),
            status: Arc::default(),
            owned_loaded: false,
        }
    }

    /// What `/status` reads.
    pub fn status(&self) -> Arc<Mutex<ControlStatus>> {
        self.status.clone()
    }

    /// Runs until [`Input::Stop`] or until every sender is gone.
    pub fn run(mut self, inputs: Receiver<Input>) {
        for input in inputs {
            if !self.handle(input) {
                return;
            }
        }
    }

    /// Acts on one input; false on stop.
    pub fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Spec { source, spec } => {
                if let Some(merged) = self.put(source, spec) {
                    if let Some(e) = &self.engine {
                        let before = e.spec().unwrap_or_default();
                        let moved = moved(&before, &merged);
                        e.set_spec(merged);
                        if source.precedence == Precedence::Learned && !moved.is_empty() {
                            // A best path changed: the route moves at once, as
                            // in a failover, not at the next pass.
                            e.move_now(&moved, &format!("{}: best path changed", source.name));
                        }
                    }
                }
            }
            Input::Edit { source, spec, job } => {
                let merged = self.put(source, spec);
                match &self.engine {
                    Some(e) => e.submit(merged, job),
                    // Without an engine the job is dropped, and whoever
                    // waits for it hears that nothing was done.
                    None => drop(job),
                }
            }
            Input::Health(t) => {
                if let Some(e) = &self.engine {
                    e.on_transition(t);
                }
            }
            Input::Leadership(l) => self.lead(l),
            Input::Reload => {
                for f in &self.feeds {
                    f.reload(&self.control);
                }
            }
            Input::Sync(done) => {
                let _ = done.send(());
            }
            Input::Stop => return false,
        }
        true
    }

    /// Records a source's spec; the merged spec when it changed.
    fn put(&mut self, source: Source, spec: Spec) -> Option<Spec> {
        if self.specs.get(&source) == Some(&spec) {
            return None;
        }
        self.specs.insert(source, spec);
        let (merged, conflicts) = merge(&self.specs);
        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let new: Vec<&Conflict> = conflicts.difference(&st.conflicts).collect();
        for c in &new {
            warn!(
                "{}: the {} spec and the {} spec name different routers; the {} spec wins",
                c.cidr, c.winner, c.loser, c.winner
            );
        }
        st.conflicts_total += new.len() as u64;
        st.conflicts = conflicts;
        st.sources = self
            .specs
            .iter()
            .map(|(s, sp)| (s.name, sp.len()))
            .collect();
        let changed = self
            .engine
            .as_ref()
            .is_none_or(|e| e.spec().as_ref() != Some(&merged));
        changed.then_some(merged)
    }

    fn lead(&mut self, l: Leadership) {
        let role = match l {
            Leadership::Gained { until } => match self.take_lead() {
                Err(why) => {
                    self.fence
                        .refuse(format!("this daemon may not lead yet: {why}"));
                    Role::Follower { reason: why }
                }
                Ok(()) => {
                    match until {
                        Some(at) => self.fence.allow_until(
                            at,
                            "this daemon's leadership lease may have expired; \
                             it changes no route until it is renewed",
                        ),
                        None => self.fence.allow(),
                    }
                    Role::Leader
                }
            },
            Leadership::Lost { reason } => {
                self.fence
                    .refuse(format!("this daemon is not the leader: {reason}"));
                self.owned_loaded = false;
                Role::Follower { reason }
            }
        };
        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if st.role.as_str() != role.as_str() {
            info!("role: {} -> {}", st.role.as_str(), role.as_str());
        }
        st.role = role;
    }

    /// Before it first changes a route as leader, a daemon reads what its
    /// predecessor recorded as owned (shared through etcd) and looks at
    /// every table. Until the record can be read, it does not lead: it
    /// would otherwise overwrite the record and forget those routes.
    fn take_lead(&mut self) -> Result<(), String> {
        let Some(e) = &self.engine else {
            return Ok(());
        };
        if self.owned_loaded {
            return Ok(());
        }
        e.reload_owned()?;
        self.owned_loaded = true;
        e.request_pass();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
