//! Feeds: the sources of desired state. Each feed owns one source (the
//! spec file of `-m configfile`, the `POST /route_spec` of `-m http`; etcd
//! and BGP will each add one) and tells the control loop what that source
//! wants, as an [`Input::Spec`]. A feed never calls the engine: the control
//! loop merges the feeds' specs ([`super::control::merge`]) and puts the
//! result in force.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::control::Input;
use crate::reconcile::engine::{CidrResult, Job};
use crate::route::RouteError;
use crate::spec::{self, Host, Spec};
use crate::state::SpecStore;
use crate::types::Cidr;
use crate::{error, info};

/// Which wins when two sources name one CIDR: a configured spec (file,
/// http, etcd) over routes learned from routers (BGP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precedence {
    Configured,
    Learned,
}

/// A source of desired state, by name (the label in logs, `/status` and
/// metrics) and precedence. Ordered by precedence first, so that merging
/// in order lets the stronger source win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    pub precedence: Precedence,
    pub name: &'static str,
}

impl Source {
    pub const FILE: Source = Source {
        precedence: Precedence::Configured,
        name: "file",
    };
    pub const HTTP: Source = Source {
        precedence: Precedence::Configured,
        name: "http",
    };
    pub const FIXED: Source = Source {
        precedence: Precedence::Configured,
        name: "fixed",
    };
}

/// A stop signal a feed's thread can sleep on.
#[derive(Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Sleeps up to `d`; true once stopped.
    pub fn wait(&self, d: Duration) -> bool {
        let g = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        let (g, _) = self
            .cv
            .wait_timeout_while(g, d, |stopped| !*stopped)
            .unwrap_or_else(|p| p.into_inner());
        *g
    }
}

/// One source of desired state.
pub trait Feed: Send + Sync {
    fn source(&self) -> Source;

    /// Runs on a thread of its own until `stop`, sending each new spec of
    /// its source to the control loop. A feed driven from elsewhere (the
    /// API's workers) has nothing to run.
    fn run(&self, _control: &Sender<Input>, _stop: &Stop) {}

    /// SIGHUP: look at the source again now.
    fn reload(&self, _control: &Sender<Input>) {}
}

/// How long an HTTP edit waits for a pass under way before it is
/// withdrawn and answered 503 with `Retry-After`.
pub const BUSY_WAIT: Duration = Duration::from_secs(5);

/// How often the spec file is looked at: a change is in force within
/// about a second.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);

/// `-m configfile`: the spec file, watched. Each valid change goes in
/// force; a broken one is logged once and ignored (the last good spec
/// stays).
pub struct FileFeed {
    path: PathBuf,
    last_error: Mutex<Option<String>>,
    /// The file as it was when the feed was made: an edit between the
    /// start-up read and the watcher's start is seen too.
    seen: Mutex<Stamp>,
}

/// What identifies a version of the file without reading it.
type Stamp = Option<(Option<std::time::SystemTime>, u64)>;

fn stamp(p: &Path) -> Stamp {
    std::fs::metadata(p)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

impl FileFeed {
    pub fn new(path: PathBuf) -> FileFeed {
        FileFeed {
            seen: Mutex::new(stamp(&path)),
            path,
            last_error: Mutex::new(None),
        }
    }

    /// Reads the spec now (at start, where a broken file is an error).
    pub fn read(&self) -> Result<Spec, String> {
        spec::read_file(&self.path)
    }

    /// Reads the file and sends its spec; a broken file is logged (once
    /// for the same error) and sends nothing.
    fn look(&self, control: &Sender<Input>, why: &str) {
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        match self.read() {
            Ok(spec) => {
                info!("{}: {why}, {} CIDR(s)", self.path.display(), spec.len());
                *last = None;
                let _ = control.send(Input::Spec {
                    source: Source::FILE,
                    spec,
                });
            }
            Err(e) => {
                if last.as_ref() != Some(&e) {
                    error!("{e}; the spec in force stays until the file is fixed");
                    *last = Some(e);
                }
            }
        }
    }
}

impl Feed for FileFeed {
    fn source(&self) -> Source {
        Source::FILE
    }

    fn run(&self, control: &Sender<Input>, stop: &Stop) {
        while !stop.wait(WATCH_EVERY) {
            let now = stamp(&self.path);
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if now != *seen {
                *seen = now;
                drop(seen);
                self.look(control, "spec changed");
            }
        }
    }

    fn reload(&self, control: &Sender<Input>) {
        // A reload is asked for: say what happened even if it is the same
        // error as before.
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.look(control, "re-read on SIGHUP");
    }
}

/// `-m fixedconf` (vpc-router 1.x): the spec given on the command line,
/// sent once at start (and again on SIGHUP); it never changes.
pub struct FixedFeed {
    spec: Spec,
}

impl FixedFeed {
    /// Where the editing endpoints say the spec comes from.
    pub const ELSEWHERE: &'static str = "the command line (-m fixedconf); restart with other \
        --fixed_cidr or --fixed_hosts, or use -m http to edit it over this API";

    pub fn start(spec: Spec, control: &Sender<Input>) -> FixedFeed {
        let f = FixedFeed { spec };
        f.reload(control);
        f
    }
}

impl Feed for FixedFeed {
    fn source(&self) -> Source {
        Source::FIXED
    }

    fn reload(&self, control: &Sender<Input>) {
        let _ = control.send(Input::Spec {
            source: Source::FIXED,
            spec: self.spec.clone(),
        });
    }
}

/// `-m http`: the spec comes from `POST /route_spec` and is edited entry
/// by entry with `POST`/`DELETE /route`; it is kept in the state dir (so
/// that it survives a restart), or with etcd in the spec key (so that every
/// daemon has it; a watch of that key feeds it to each).
pub struct HttpFeed {
    store: Arc<dyn SpecStore>,
    control: Sender<Input>,
    /// How long an edit waits for a pass under way before it gives up.
    wait: Duration,
    /// The spec of this source; held while an edit is under way, so that
    /// edits apply one after another.
    spec: Mutex<Option<Spec>>,
}

/// Why an edit over HTTP did not happen.
pub enum EditError {
    /// The spec could not be saved; nothing was changed.
    Save(String),
    /// `DELETE` of a CIDR the spec does not have.
    NotInSpec,
    /// The daemon is stopping: the edit was not reconciled.
    Stopping,
    /// A pass under way held the edit up for longer than the feed waits:
    /// it was withdrawn and the spec left as it was.
    Busy,
    /// The router IP is held by no interface of the VPC: the spec was put
    /// back as it was.
    UnknownRouter,
    /// The edit is in force, but reconciling it failed (the next pass
    /// retries).
    Reconcile(RouteError),
}

impl HttpFeed {
    /// The feed, with the spec kept in `store` (if any) sent to the control
    /// loop as the first spec of this source.
    pub fn start(store: Arc<dyn SpecStore>, control: Sender<Input>) -> Result<HttpFeed, String> {
        // A shared store's spec arrives through its watch, etcd or not.
        let spec = if store.shared() {
            None
        } else {
            store.load_spec()?
        };
        if let Some(s) = &spec {
            let _ = control.send(Input::Spec {
                source: Source::HTTP,
                spec: s.clone(),
            });
        }
        Ok(HttpFeed {
            store,
            control,
            wait: BUSY_WAIT,
            spec: Mutex::new(spec),
        })
    }

    /// The spec of this source (for a shared store, as it is there now).
    pub fn spec(&self) -> Result<Option<Spec>, String> {
        if self.store.shared() {
            return self.store.load_spec();
        }
        Ok(self.spec.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Whether `spec` is this feed's own doing: an edit of it is under way
    /// (it brings the spec itself), or it is the spec it holds. A watch of
    /// a shared store skips those, so that the edit's own answer tells
    /// what it did.
    pub fn made(&self, spec: &Spec) -> bool {
        match self.spec.try_lock() {
            Ok(held) => held.as_ref() == Some(spec),
            Err(std::sync::TryLockError::WouldBlock) => true,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().as_ref() == Some(spec),
        }
    }

    /// Waits `wait` for a pass under way instead of the default.
    pub fn waiting(mut self, wait: Duration) -> HttpFeed {
        self.wait = wait;
        self
    }

    /// `POST /route_spec`: saved first, then put in force.
    pub fn replace(&self, spec: Spec) -> Result<(), String> {
        let mut held = self.spec.lock().unwrap_or_else(|p| p.into_inner());
        self.store.save_spec(&spec)?;
        *held = Some(spec.clone());
        let _ = self.control.send(Input::Spec {
            source: Source::HTTP,
            spec,
        });
        Ok(())
    }

    /// `POST /route` (a router) or `DELETE /route` (none): edits the
    /// CIDR's entry, saves it, and reconciles that CIDR alone. An edit
    /// whose router no interface holds is undone: nothing half-done.
    pub fn edit(&self, cidr: Cidr, router: Option<IpAddr>) -> Result<CidrResult, EditError> {
        let mut held = self.spec.lock().unwrap_or_else(|p| p.into_inner());
        if self.store.shared() {
            // Another daemon (an earlier leader) may have edited it.
            *held = self.store.load_spec().map_err(EditError::Save)?;
        }
        let before = held.clone().unwrap_or_default();
        let mut routes: BTreeMap<Cidr, Vec<Host>> = before.routes().clone();
        match router {
            Some(ip) => {
                routes.insert(cidr, vec![Host { ip, check: None }]);
            }
            None => {
                if routes.remove(&cidr).is_none() {
                    return Err(EditError::NotInSpec);
                }
            }
        }
        let after = Spec::from_routes(routes);
        self.store.save_spec(&after).map_err(EditError::Save)?;
        *held = Some(after.clone());
        let (job, pending) = Job::cidr(cidr);
        self.send(after, job);
        let r = match pending.answer.recv_timeout(self.wait) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) if pending.ticket.withdraw() => {
                // Held up by a pass: nothing half-done, the spec goes back.
                self.put_back(&mut held, before)?;
                return Err(EditError::Busy);
            }
            // It started: a one-CIDR pass is short, wait for it.
            Err(mpsc::RecvTimeoutError::Timeout) => {
                pending.answer.recv().map_err(|_| EditError::Stopping)?
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(EditError::Stopping),
        }
        .map_err(EditError::Reconcile)?;
        if router.is_some() && matches!(r.plan.targets.get(&cidr), Some(None)) {
            self.store.save_spec(&before).map_err(EditError::Save)?;
            *held = Some(before.clone());
            let (reply, answer) = mpsc::channel();
            let job = Job::Disown {
                cidr,
                was_owned: r.was_owned,
                reply,
            };
            self.send(before, job);
            match answer.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error!("{e}"),
                Err(_) => return Err(EditError::Stopping),
            }
            return Err(EditError::UnknownRouter);
        }
        Ok(r)
    }

    fn send(&self, spec: Spec, job: Job) {
        let _ = self.control.send(Input::Edit {
            source: Source::HTTP,
            spec,
            job,
        });
    }

    /// Puts this source's spec back to `before` (saved, then sent).
    fn put_back(&self, held: &mut Option<Spec>, before: Spec) -> Result<(), EditError> {
        self.store.save_spec(&before).map_err(EditError::Save)?;
        *held = Some(before.clone());
        let _ = self.control.send(Input::Spec {
            source: Source::HTTP,
            spec: before,
        });
        Ok(())
    }
}

impl Feed for HttpFeed {
    fn source(&self) -> Source {
        Source::HTTP
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::Receiver;

    use super::*;
    use crate::state::StateDir;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vpc-router-feed-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn specs(rx: &Receiver<Input>) -> Vec<(&'static str, usize)> {
        rx.try_iter()
            .map(|i| match i {
                Input::Spec { source, spec } => (source.name, spec.len()),
                _ => panic!("only specs are sent"),
            })
            .collect()
    }

    #[test]
    fn the_http_feed_keeps_its_spec_across_a_restart() {
        let d = dir("http");
        let (tx, rx) = mpsc::channel();
        let store = Arc::new(StateDir::open(&d.join("state")).unwrap());
        let feed = HttpFeed::start(store.clone(), tx.clone()).unwrap();
        assert_eq!(specs(&rx), [], "nothing kept yet, nothing sent");
        let spec = spec::parse(br#"{"10.55.0.0/16": ["10.33.20.142"]}"#).unwrap();
        feed.replace(spec.clone()).unwrap();
        assert_eq!(specs(&rx), [("http", 1)]);
        drop(feed);
        // A new daemon: the feed's first spec is the one kept.
        let feed = HttpFeed::start(store, tx).unwrap();
        assert_eq!(feed.spec().unwrap(), Some(spec));
        assert_eq!(specs(&rx), [("http", 1)]);
    }

    // See: issue 14, item 2 (an edit waited ~110 s behind a pass).
    #[test]
    fn issue14_an_edit_held_up_by_a_pass_is_withdrawn_and_the_spec_left_as_it_was() {
        let d = dir("busy");
        let (tx, rx) = mpsc::channel();
        let store = Arc::new(StateDir::open(&d.join("state")).unwrap());
        let before = spec::parse(br#"{"10.55.0.0/16": ["10.33.20.142"]}"#).unwrap();
        let feed = HttpFeed::start(store.clone(), tx)
            .unwrap()
            .waiting(Duration::from_millis(20));
        feed.replace(before.clone()).unwrap();
        // Nobody runs the job: the reconcile thread is busy with a pass.
        let r = feed.edit(
            "10.66.0.0/16".parse().unwrap(),
            Some("10.33.30.22".parse().unwrap()),
        );
        assert!(matches!(r, Err(EditError::Busy)));
        assert_eq!(feed.spec().unwrap(), Some(before.clone()));
        assert_eq!(store.load_spec().unwrap(), Some(before.clone()));
        let inputs: Vec<Input> = rx.try_iter().collect();
        let [Input::Spec { .. }, Input::Edit { job, .. }, Input::Spec { spec, .. }] = &inputs[..]
        else {
            panic!("replace, edit, put back: {} inputs", inputs.len());
        };
        assert_eq!(spec, &before, "the spec in force goes back too");
        // The withdrawn job never runs, even if the pass ends now.
        let Job::Cidr { ticket, .. } = job else {
            panic!("a one-CIDR job")
        };
        assert!(ticket.withdraw(), "still withdrawn");
    }

    #[test]
    fn the_file_feed_sends_good_specs_and_logs_broken_ones() {
        let d = dir("file");
        let path = d.join("spec.json");
        std::fs::write(&path, r#"{"10.55.0.0/16": ["10.33.20.142"]}"#).unwrap();
        let feed = FileFeed::new(path.clone());
        let (tx, rx) = mpsc::channel();
        feed.reload(&tx);
        assert_eq!(specs(&rx), [("file", 1)]);
        std::fs::write(&path, r#"{"10.55.0.0/16": ["10.33.20"]}"#).unwrap();
        feed.reload(&tx);
        assert_eq!(specs(&rx), [], "a broken file sends nothing");
        assert!(feed.last_error.lock().unwrap().is_some());
        // The watcher sees an edit and stops when told.
        let stop = Arc::new(Stop::default());
        let runner = {
            let (stop, tx) = (stop.clone(), tx.clone());
            let feed = FileFeed::new(path.clone());
            std::thread::spawn(move || feed.run(&tx, &stop))
        };
        std::fs::write(
            &path,
            r#"{"10.55.0.0/16": ["10.33.20.142"], "10.66.0.0/16": ["10.33.20.142"]}"#,
        )
        .unwrap();
        let got = rx.recv_timeout(Duration::from_secs(10)).expect("the edit");
        assert!(matches!(got, Input::Spec { spec, .. } if spec.len() == 2));
        stop.stop();
        runner.join().unwrap();
    }
}
