//! The daemon's use of etcd: leader election (only the leader's fence is
//! open), the route spec from etcd (`-m etcd`, a feed), and the owned
//! CIDRs kept in etcd, written only by the leader.
//!
//! Keys under `--etcd-prefix` (default `/vpc-router/`): `spec` (the route
//! spec, as the spec file), `leader` (the leader's name, on its lease) and
//! `owned` (as `owned.json`).
//!
//! Leadership is a key on a lease, created only if absent (a transaction).
//! The leader renews its lease every third of its TTL and may change
//! routes until a local deadline: the time it *sent* its last successful
//! renewal, plus the TTL, less a margin. So a leader that cannot reach
//! etcd stops before its lease can have expired there, and before any
//! other daemon can lead. Followers watch the leader key and campaign the
//! moment it goes (a leader stopping revokes its lease: the key goes at
//! once).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::control::{Input, Leadership};
use super::feed::{Feed, Source, Stop};
use crate::clock::Clock;
use crate::ec2::fence::Fence;
use crate::etcd::{Client, Compare, EtcdError, Event, Op, WatchMessage};
use crate::state::{owned_from_json, owned_to_json, Persist, StateDir};
use crate::types::Cidr;
use crate::{error, info, spec, warn};

/// The keys vpc-router uses.
#[derive(Debug, Clone)]
pub struct Keys {
    pub spec: Vec<u8>,
    pub leader: Vec<u8>,
    pub owned: Vec<u8>,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        let key = |name: &str| format!("{prefix}{name}").into_bytes();
        Keys {
            spec: key("spec"),
            leader: key("leader"),
            owned: key("owned"),
        }
    }
}

/// What `/status` and `/metrics` show of etcd.
#[derive(Debug, Clone, Default)]
pub struct EtcdView {
    /// This daemon's name.
    pub name: String,
    /// Who leads, as etcd says (none known).
    pub leader: Option<String>,
    pub leading: bool,
    /// This daemon's lease and its TTL (seconds).
    pub lease: Option<(i64, i64)>,
    /// Until when this leader may change routes (wall time, for display).
    pub may_change_until: Option<SystemTime>,
    /// The endpoint calls go to.
    pub endpoint: String,
    /// Why etcd could not be used, and since when (none: it answers).
    pub unreachable: Option<(String, SystemTime)>,
    /// The spec key's revision last read (with `-m etcd`).
    pub spec_revision: Option<i64>,
}

/// Shared between the elector, the spec feed, the ownership store and the
/// status page.
pub struct Shared {
    pub client: Client,
    pub keys: Keys,
    pub view: Mutex<EtcdView>,
    /// The create revision of our leader key while we lead, else 0: what
    /// ownership writes compare against.
    leading: AtomicI64,
    clock: Clock,
}

impl Shared {
    pub fn new(client: Client, keys: Keys, name: String, clock: Clock) -> Shared {
        let endpoint = client.endpoint().to_string();
        Shared {
            client,
            keys,
            view: Mutex::new(EtcdView {
                name,
                endpoint,
                ..EtcdView::default()
            }),
            leading: AtomicI64::new(0),
            clock,
        }
    }

    fn view_mut(&self) -> std::sync::MutexGuard<'_, EtcdView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What `/status` and `/metrics` show, now.
    pub fn view(&self) -> EtcdView {
        self.view_mut().clone()
    }

    /// Writes `key` only while this daemon leads: in a transaction that
    /// checks the leader key is still the one it created. `what` names the
    /// value in errors.
    fn guarded_put(&self, key: &[u8], value: Vec<u8>, what: &str) -> Result<(), String> {
        let rev = self.leading.load(Ordering::SeqCst);
        if rev == 0 {
            return Err(format!(
                "this daemon is not the leader, so it does not write {what}"
            ));
        }
        let r = self
            .client
            .txn(
                &[Compare::CreateRevision {
                    key: self.keys.leader.clone(),
                    equals: rev,
                }],
                &[Op::Put {
                    key: key.to_vec(),
                    value,
                    lease: 0,
                }],
                &[],
            )
            .map_err(|e| format!("cannot write {what} to etcd: {e}"))?;
        if !r.succeeded {
            self.leading.store(0, Ordering::SeqCst);
            return Err(format!("this daemon lost the lead: {what} was not written"));
        }
        Ok(())
    }

    /// Records that etcd answered (or not), logging when that changes.
    fn reached(&self, result: Result<(), &EtcdError>) {
        let mut v = self.view_mut();
        v.endpoint = self.client.endpoint().to_string();
        match result {
            Ok(()) => {
                if let Some((why, since)) = v.unreachable.take() {
                    let secs = self
                        .clock
                        .now()
                        .duration_since(since)
                        .map_or(0, |d| d.as_secs());
                    info!(
                        "etcd reachable again at {} after {secs} s ({why})",
                        v.endpoint
                    );
                }
            }
            Err(e) => {
                if v.unreachable.is_none() {
                    warn!("{e}; routes stay as they are until etcd answers again");
                    v.unreachable = Some((e.to_string(), self.clock.now()));
                }
            }
        }
    }
}

/// A wait that grows after each failure: 100 ms, doubling, up to 2 s.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(2);

    fn new() -> Backoff {
        Backoff(Backoff::FIRST)
    }
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Backoff::MAX);
        d
    }
    fn reset(&mut self) {
        self.0 = Backoff::FIRST;
    }
}

/// When the elector's next round is.
enum Next {
    /// A leader renews every third of its TTL.
    Sleep(Duration),
    /// A follower waits for the leader key to go.
    WatchLeader,
    /// At once (a lease to grant again, a key that went meanwhile).
    Now,
}

/// Leader election: runs on its own thread, sends [`Input::Leadership`].
pub struct Elector {
    shared: Arc<Shared>,
    ttl: Duration,
    /// Closed here first when this daemon stops leading on its own accord,
    /// before the lease goes: never two leaders mutating.
    fence: Arc<Fence>,
}

/// How long before the lease could expire at etcd the leader stops: a
/// fifth of the TTL, at least half a second.
fn margin(ttl: Duration) -> Duration {
    (ttl / 5).max(Duration::from_millis(500))
}

impl Elector {
    pub fn new(shared: Arc<Shared>, ttl: Duration, fence: Arc<Fence>) -> Elector {
        Elector { shared, ttl, fence }
    }

    /// Campaigns and leads until `stop`; then, if leading, gives up the
    /// lead at once (revokes the lease) so that another daemon takes over.
    pub fn run(&self, control: &Sender<Input>, stop: &Stop) {
        let mut lease: Option<(i64, Instant)> = None;
        let mut backoff = Backoff::new();
        let mut said: Option<Leadership> = None;
        let tell = |l: Leadership, said: &mut Option<Leadership>| {
            let changed = match (&l, said.as_ref()) {
                (Leadership::Gained { .. }, Some(Leadership::Gained { .. })) => false,
                (a, Some(b)) => a != b,
                (_, None) => true,
            };
            // Every renewal extends the deadline: always sent while leading.
            if changed || matches!(l, Leadership::Gained { .. }) {
                let _ = control.send(Input::Leadership(l.clone()));
            }
            *said = Some(l);
        };
        loop {
            if stop.wait(Duration::ZERO) {
                break;
            }
            match self.round(&mut lease) {
                Ok((l, next)) => {
                    backoff.reset();
                    self.shared.reached(Ok(()));
                    if let Some(l) = l {
                        tell(l, &mut said);
                    }
                    let stopped = match next {
                        Next::Sleep(d) => stop.wait(d),
                        Next::WatchLeader => self.watch_leader(stop),
                        Next::Now => false,
                    };
                    if stopped {
                        break;
                    }
                }
                Err(e) => {
                    self.shared.reached(Err(&e));
                    if e.to_string().contains("lease not found") {
                        lease = None;
                    }
                    // The fence's own deadline closes it in time; this
                    // says why, once.
                    let until = self.shared.view_mut().may_change_until;
                    let expired = until.is_none_or(|u| self.shared.clock.now() >= u);
                    if expired {
                        self.shared.leading.store(0, Ordering::SeqCst);
                        self.shared.view_mut().leading = false;
                        tell(
                            Leadership::Lost {
                                reason: format!("etcd cannot be reached to renew the lease: {e}"),
                            },
                            &mut said,
                        );
                    }
                    if stop.wait(backoff.next()) {
                        break;
                    }
                }
            }
        }
        self.resign(lease.map(|(id, _)| id), control);
    }

    /// One round: a lease (granted or renewed), then leadership (taken if
    /// free, or checked still ours). The leadership to tell (none: no
    /// news), and when the next round is.
    fn round(
        &self,
        lease: &mut Option<(i64, Instant)>,
    ) -> Result<(Option<Leadership>, Next), EtcdError> {
        let s = &self.shared;
        let ttl = self.ttl.as_secs() as i64;
        let sent = s.clock.mono();
        let granted = match *lease {
            None => {
                let (id, got) = s.client.grant(ttl)?;
                *lease = Some((id, sent));
                Some((id, got))
            }
            Some((id, _)) => s.client.keepalive(id)?.map(|got| (id, got)),
        };
        let Some((id, got)) = granted else {
            // The lease is gone (it expired while etcd was away, or a
            // follower's between two watches): a new one at once.
            *lease = None;
            let was = s.leading.swap(0, Ordering::SeqCst) != 0;
            s.view_mut().leading = false;
            let lost = was.then(|| Leadership::Lost {
                reason: "this daemon's lease expired; it campaigns again".into(),
            });
            return Ok((lost, Next::Now));
        };
        let deadline = sent + Duration::from_secs(got.max(0) as u64) - margin(self.ttl);
        s.view_mut().lease = Some((id, got));
        let name = s.view_mut().name.clone();
        let r = s.client.txn(
            &[Compare::CreateRevision {
                key: s.keys.leader.clone(),
                equals: 0,
            }],
            &[Op::Put {
                key: s.keys.leader.clone(),
                value: name.clone().into_bytes(),
                lease: id,
            }],
            &[Op::Get {
                key: s.keys.leader.clone(),
            }],
        )?;
        let (ours, leader) = if r.succeeded {
            (Some(r.revision), name.clone())
        } else {
            let kv = r.found.first();
            let leader = kv.map_or_else(
                || "unknown (the key went meanwhile)".to_string(),
                |kv| String::from_utf8_lossy(&kv.value).into_owned(),
            );
            (
                kv.filter(|kv| kv.lease == id).map(|kv| kv.create_revision),
                leader,
            )
        };
        let mut v = s.view_mut();
        v.leader = Some(leader.clone());
        match ours {
            Some(rev) => {
                if s.leading.swap(rev, Ordering::SeqCst) != rev {
                    info!("etcd: this daemon ({name}) leads; it changes routes");
                }
                v.leading = true;
                v.may_change_until =
                    Some(s.clock.now() + deadline.saturating_duration_since(s.clock.mono()));
                Ok((
                    Some(Leadership::Gained {
                        until: Some(deadline),
                    }),
                    Next::Sleep(self.ttl / 3),
                ))
            }
            None => {
                if s.leading.swap(0, Ordering::SeqCst) != 0 {
                    warn!("etcd: this daemon no longer leads; {leader} does");
                }
                v.leading = false;
                v.may_change_until = None;
                Ok((
                    Some(Leadership::Lost {
                        reason: format!("the leader is {leader}"),
                    }),
                    Next::WatchLeader,
                ))
            }
        }
    }

    /// A follower waits for the leader key to go (or for a round's time
    /// to pass); true once stopped.
    fn watch_leader(&self, stop: &Stop) -> bool {
        let s = &self.shared;
        let until = s.clock.mono() + self.ttl / 3;
        let from = match s.client.get(&s.keys.leader) {
            Ok((_, rev)) => rev + 1,
            Err(_) => return stop.wait(self.ttl / 3),
        };
        let mut gone = false;
        let r = s.client.watch(&s.keys.leader, from, &mut |m| {
            if let WatchMessage::Events { events, .. } = &m {
                gone |= events.iter().any(|e| matches!(e, Event::Delete(_)));
            }
            !gone && s.clock.mono() < until
        });
        if r.is_err() {
            return stop.wait(self.ttl / 3);
        }
        stop.wait(Duration::ZERO)
    }

    /// Stops leading: the fence closes first, then the lease is revoked so
    /// that the leader key goes and another daemon takes over at once.
    fn resign(&self, lease: Option<i64>, control: &Sender<Input>) {
        let s = &self.shared;
        self.fence.refuse("this daemon is stopping");
        let was = s.leading.swap(0, Ordering::SeqCst) != 0;
        s.view_mut().leading = false;
        let _ = control.send(Input::Leadership(Leadership::Lost {
            reason: "this daemon is stopping".into(),
        }));
        if let Some(id) = lease {
            match s.client.revoke(id) {
                Ok(()) if was => info!("etcd: gave up the lead (lease revoked)"),
                Ok(()) => {}
                Err(e) => warn!("etcd: could not revoke the lease ({e}); it expires by itself"),
            }
        }
    }
}

/// `-m etcd`: the spec is the key `PREFIXspec`, read, then watched from
/// the next revision. A broken value is logged and the spec in force stays;
/// so does it while etcd cannot be reached, and when the key is deleted
/// (put `{}` to remove every route).
pub struct EtcdFeed {
    shared: Arc<Shared>,
    /// `etcd` for `-m etcd`; `http` when the http feed keeps its spec here.
    source: Source,
    /// Values this daemon's own http feed wrote (it sends them itself).
    skip: Option<Arc<super::feed::HttpFeed>>,
    reread: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// The spec source etcd is.
pub const ETCD: Source = Source {
    precedence: super::feed::Precedence::Configured,
    name: "etcd",
};

impl EtcdFeed {
    pub fn new(shared: Arc<Shared>, source: Source) -> EtcdFeed {
        EtcdFeed {
            shared,
            source,
            skip: None,
            reread: AtomicBool::new(false),
            last_error: Mutex::new(None),
        }
    }

    /// Skips the values `own` writes: it puts them in force itself, with
    /// the one-CIDR pass whose answer tells what an edit did.
    pub fn skipping(mut self, own: Arc<super::feed::HttpFeed>) -> EtcdFeed {
        self.skip = Some(own);
        self
    }

    /// A value of the spec key: sent when valid, else logged once.
    fn take(&self, value: &[u8], revision: i64, control: &Sender<Input>) {
        let key = String::from_utf8_lossy(&self.shared.keys.spec).into_owned();
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        match spec::parse(value) {
            Ok(spec) if self.skip.as_ref().is_some_and(|own| own.made(&spec)) => {
                *last = None;
            }
            Ok(spec) => {
                info!("etcd {key} (revision {revision}): {} CIDR(s)", spec.len());
                *last = None;
                let _ = control.send(Input::Spec {
                    source: self.source,
                    spec,
                });
            }
            Err(e) => {
                let e = format!("etcd {key} (revision {revision}): {e}");
                if last.as_ref() != Some(&e) {
                    error!("{e}; the spec in force stays until the key is fixed");
                    *last = Some(e);
                }
            }
        }
        self.shared.view_mut().spec_revision = Some(revision);
    }

    /// Reads the key; the revision to watch from.
    fn read(&self, control: &Sender<Input>) -> Result<i64, EtcdError> {
        let (kv, revision) = self.shared.client.get(&self.shared.keys.spec)?;
        match kv {
            Some(kv) => self.take(&kv.value, kv.mod_revision, control),
            None => warn!(
                "etcd {}: no spec yet; put one there",
                String::from_utf8_lossy(&self.shared.keys.spec)
            ),
        }
        Ok(revision + 1)
    }

    /// Watches from `from` for one window; the next revision to watch
    /// from, or `None` to read the key anew (compacted, canceled).
    fn follow(&self, from: i64, control: &Sender<Input>) -> Result<Option<i64>, EtcdError> {
        let mut next = Some(from);
        self.shared.client.watch(&self.shared.keys.spec, from, &mut |m| match m {
            WatchMessage::Created { .. } => true,
            WatchMessage::Events { revision, events } => {
                for e in events {
                    match e {
                        Event::Put(kv) => self.take(&kv.value, kv.mod_revision, control),
                        Event::Delete(_) => warn!(
                            "etcd {}: the spec was deleted; the spec in force stays \
                             (put {{}} to remove every route)",
                            String::from_utf8_lossy(&self.shared.keys.spec)
                        ),
                    }
                }
                next = Some(revision + 1);
                !self.reread.load(Ordering::SeqCst)
            }
            WatchMessage::Compacted { revision } => {
                info!("etcd: revision {from} was compacted (now {revision}); reading the spec anew");
                next = None;
                false
            }
            WatchMessage::Canceled(why) => {
                warn!("etcd: the watch was canceled ({why}); reading the spec anew");
                next = None;
                false
            }
        })?;
        if self.reread.swap(false, Ordering::SeqCst) {
            return Ok(None);
        }
        Ok(next)
    }
}

impl Feed for EtcdFeed {
    fn source(&self) -> Source {
        self.source
    }

    fn run(&self, control: &Sender<Input>, stop: &Stop) {
        let mut from: Option<i64> = None;
        let mut backoff = Backoff::new();
        while !stop.wait(Duration::ZERO) {
            let step = match from {
                None => self.read(control).map(Some),
                Some(rev) => self.follow(rev, control),
            };
            match step {
                Ok(next) => {
                    backoff.reset();
                    self.shared.reached(Ok(()));
                    from = next;
                }
                Err(e) if e.is_compacted() => from = None,
                Err(e) => {
                    self.shared.reached(Err(&e));
                    if stop.wait(backoff.next()) {
                        return;
                    }
                }
            }
        }
    }

    fn reload(&self, _control: &Sender<Input>) {
        // Read anew at the end of the watch window under way.
        self.reread.store(true, Ordering::SeqCst);
    }
}

/// With `-m http` and etcd, the spec edited over the API is the spec key,
/// so that every daemon has it (an `EtcdFeed` watches it); only the leader
/// writes it, in a transaction that checks it still leads.
pub struct EtcdSpec(pub Arc<Shared>);

impl crate::state::SpecStore for EtcdSpec {
    fn load_spec(&self) -> Result<Option<crate::spec::Spec>, String> {
        let key = String::from_utf8_lossy(&self.0.keys.spec).into_owned();
        let (kv, _) = self
            .0
            .client
            .get(&self.0.keys.spec)
            .map_err(|e| format!("cannot read the spec: {e}"))?;
        kv.map(|kv| spec::parse(&kv.value).map_err(|e| format!("etcd {key}: {e}")))
            .transpose()
    }

    fn save_spec(&self, spec: &crate::spec::Spec) -> Result<(), String> {
        let doc = format!("{:#}\n", spec.to_json());
        self.0
            .guarded_put(&self.0.keys.spec, doc.into_bytes(), "the spec")
    }

    fn shared(&self) -> bool {
        true
    }
}

/// The owned CIDRs in etcd (`PREFIXowned`), written only while this daemon
/// leads, in a transaction that checks it still does: a deposed leader
/// cannot record (and so, write-ahead, cannot create) anything.
pub struct EtcdOwned {
    shared: Arc<Shared>,
    /// `--state-dir` when given: its `owned.json` is taken over the first
    /// time etcd has no record yet (the one step of a migration).
    migrate: Option<Arc<StateDir>>,
}

impl EtcdOwned {
    pub fn new(shared: Arc<Shared>, migrate: Option<Arc<StateDir>>) -> EtcdOwned {
        EtcdOwned { shared, migrate }
    }
}

impl Persist for EtcdOwned {
    /// Nothing until this daemon leads: the control loop reads the record
    /// then (and a daemon that cannot read it does not lead).
    fn load_at_start(&self) -> Result<BTreeSet<Cidr>, String> {
        Ok(BTreeSet::new())
    }

    fn load_owned(&self) -> Result<BTreeSet<Cidr>, String> {
        let key = String::from_utf8_lossy(&self.shared.keys.owned).into_owned();
        let (kv, _) = self
            .shared
            .client
            .get(&self.shared.keys.owned)
            .map_err(|e| format!("cannot read which routes vpc-router manages: {e}"))?;
        match (kv, &self.migrate) {
            (Some(kv), _) => owned_from_json(&kv.value).map_err(|e| {
                format!(
                    "etcd {key} is damaged ({e}); fix or delete it (deleting it makes \
                     vpc-router forget which routes it manages)"
                )
            }),
            (None, Some(dir)) => {
                let owned = dir.load_owned().map_err(|e| e.to_string())?;
                if !owned.is_empty() {
                    info!(
                        "etcd {key} is empty: taking over the {} CIDR(s) of {}",
                        owned.len(),
                        dir.path().join("owned.json").display()
                    );
                }
                Ok(owned)
            }
            (None, None) => Ok(BTreeSet::new()),
        }
    }

    fn save_owned(&self, owned: &BTreeSet<Cidr>) -> Result<(), String> {
        self.shared.guarded_put(
            &self.shared.keys.owned,
            owned_to_json(owned).into_bytes(),
            "which routes vpc-router manages",
        )
    }
}

/// The default name: the host's name and the API address.
pub fn default_name(api: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "vpc-router".into());
    format!("{host} {api}")
}
