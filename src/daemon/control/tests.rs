//! The control loop against the in-memory EC2: merging sources, counting
//! conflicts, leadership through the fence (passes, failovers and API
//! requests all refused, and reported as refused), reload.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::clock::Clock;
use crate::daemon::feed::{Precedence, Source};
use crate::ec2::fake::FakeEc2;
use crate::ec2::fence::Fenced;
use crate::ec2::Ec2;
use crate::health::State;
use crate::reconcile::engine::fake::FakeHealth;
use crate::reconcile::pass::TableScope;
use crate::reconcile::plan::Options;
use crate::spec;
use crate::state::Persist;

const A_IP: &str = "10.33.20.142";
const B_IP: &str = "10.33.30.22";
const A_ENI: &str = "eni-0aaaaaaaaaaaaaaa1";
const B_ENI: &str = "eni-0bbbbbbbbbbbbbbb2";

/// A source of learned routes, as BGP will be.
const LEARNED: Source = Source {
    precedence: Precedence::Learned,
    name: "learned",
};

fn spec(doc: &str) -> Spec {
    spec::parse(doc.as_bytes()).unwrap()
}

#[derive(Default)]
struct NoStore;

impl Persist for NoStore {
    fn load_owned(&self) -> Result<BTreeSet<Cidr>, String> {
        Ok(BTreeSet::new())
    }
    fn save_owned(&self, _: &BTreeSet<Cidr>) -> Result<(), String> {
        Ok(())
    }
}

struct Setup {
    control: Control,
    engine: Arc<Engine>,
    ec2: Arc<Mutex<FakeEc2>>,
    fenced: Arc<dyn Ec2 + Send + Sync>,
    health: Arc<FakeHealth>,
}

fn setup(tables: usize) -> Setup {
    let (clock, _) = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let ec2 = Arc::new(Mutex::new(FakeEc2::two_routers(tables)));
    let fence = Arc::new(Fence::open(clock.clone()));
    let fenced: Arc<dyn Ec2 + Send + Sync> = Arc::new(Fenced::new(ec2.clone(), fence.clone()));
    let health = Arc::new(FakeHealth::default());
    health.set(A_IP, State::Healthy);
    health.set(B_IP, State::Healthy);
    let engine = Engine::new(
        fenced.clone(),
        "vpc-350d6a51".parse().unwrap(),
        TableScope::default(),
        Options::default(),
        Box::new(NoStore),
        clock,
    )
    .unwrap()
    .with_health(health.clone(), None, 2)
    .unwrap();
    let engine = Arc::new(engine);
    let (tx, _) = mpsc::channel();
    Setup {
        control: Control::new(Some(engine.clone()), fence, Vec::new(), tx),
        engine,
        ec2,
        fenced,
        health,
    }
}

fn targets(ec2: &Mutex<FakeEc2>, cidr: &str, tables: usize) -> Vec<Option<String>> {
    let ec2 = ec2.lock().unwrap();
    (0..tables)
        .map(|t| {
            ec2.route(&format!("rtb-{t:08x}"), cidr)
                .map(|r| r.target.to_string())
        })
        .collect()
}

#[test]
fn merge_gives_each_cidr_to_the_strongest_source_and_names_the_conflicts() {
    let mut specs = BTreeMap::new();
    specs.insert(
        LEARNED,
        spec(r#"{"10.55.0.0/16": ["10.33.30.22"], "10.66.0.0/16": ["10.33.30.22"], "10.77.0.0/16": ["10.33.20.142"]}"#),
    );
    specs.insert(
        Source::FILE,
        spec(r#"{"10.55.0.0/16": ["10.33.20.142"], "10.77.0.0/16": ["10.33.20.142"]}"#),
    );
    let (merged, conflicts) = merge(&specs);
    assert_eq!(
        merged,
        spec(
            r#"{"10.55.0.0/16": ["10.33.20.142"], "10.66.0.0/16": ["10.33.30.22"], "10.77.0.0/16": ["10.33.20.142"]}"#
        )
    );
    // The same routers from both is agreement, not a conflict.
    assert_eq!(
        conflicts.into_iter().collect::<Vec<_>>(),
        [Conflict {
            cidr: "10.55.0.0/16".parse().unwrap(),
            winner: "file",
            loser: "learned",
        }]
    );
}

#[test]
fn specs_from_two_sources_are_merged_into_the_engine_and_conflicts_counted_once() {
    let mut s = setup(2);
    assert!(s.control.handle(Input::Spec {
        source: Source::FILE,
        spec: spec(r#"{"10.55.0.0/16": ["10.33.20.142"]}"#),
    }));
    let learned = spec(r#"{"10.55.0.0/16": ["10.33.30.22"], "10.66.0.0/16": ["10.33.30.22"]}"#);
    for _ in 0..2 {
        s.control.handle(Input::Spec {
            source: LEARNED,
            spec: learned.clone(),
        });
    }
    assert_eq!(
        s.engine.spec().unwrap(),
        spec(r#"{"10.55.0.0/16": ["10.33.20.142"], "10.66.0.0/16": ["10.33.30.22"]}"#)
    );
    let st = s.control.status().lock().unwrap().clone();
    assert_eq!(st.conflicts.len(), 1);
    assert_eq!(
        st.conflicts_total, 1,
        "a conflict is counted when it appears"
    );
    assert_eq!(st.sources.get("file"), Some(&1));
    assert_eq!(st.sources.get("learned"), Some(&2));
    assert!(s.engine.pass());
    assert_eq!(
        targets(&s.ec2, "10.55.0.0/16", 2),
        [Some(A_ENI.into()), Some(A_ENI.into())]
    );
    assert_eq!(
        targets(&s.ec2, "10.66.0.0/16", 2),
        [Some(B_ENI.into()), Some(B_ENI.into())]
    );

    // The file drops the CIDR: the learned route takes it, and the
    // conflict is gone.
    s.control.handle(Input::Spec {
        source: Source::FILE,
        spec: spec("{}"),
    });
    assert_eq!(s.engine.spec().unwrap(), learned);
    assert!(s.control.status().lock().unwrap().conflicts.is_empty());
}

#[test]
fn a_follower_sends_no_mutating_call_from_a_pass_a_failover_or_the_api() {
    let mut s = setup(2);
    s.control.handle(Input::Spec {
        source: Source::FILE,
        spec: spec(r#"{"10.55.0.0/16": ["10.33.20.142", "10.33.30.22"]}"#),
    });
    assert!(s.engine.pass());
    assert_eq!(
        targets(&s.ec2, "10.55.0.0/16", 2),
        [Some(A_ENI.into()), Some(A_ENI.into())]
    );
    let before = s.ec2.lock().unwrap().mutations().len();

    s.control.handle(Input::Leadership(Leadership::Lost {
        reason: "vpc-router-b leads".into(),
    }));
    assert_eq!(
        s.control.status().lock().unwrap().role,
        Role::Follower {
            reason: "vpc-router-b leads".into()
        }
    );

    // A failover: A fails, but its routes are not moved.
    s.health.set(A_IP, State::Failed);
    s.control.handle(Input::Health(crate::health::Transition {
        ip: A_IP.parse().unwrap(),
        from: State::Healthy,
        to: State::Failed,
        detected: std::time::Instant::now(),
        reason: "test".into(),
    }));
    // A pass: it wants to move them too, and may not.
    assert!(s.engine.pass());
    assert_eq!(s.ec2.lock().unwrap().mutations().len(), before);
    assert_eq!(
        targets(&s.ec2, "10.55.0.0/16", 2),
        [Some(A_ENI.into()), Some(A_ENI.into())]
    );
    // Refused calls are failures, never successes.
    let g = s.engine.gauges();
    assert!(
        g.counters.failures.get("fenced").is_some_and(|n| *n >= 4),
        "{g:?}"
    );
    assert_eq!(g.counters.changes.get("replace"), None, "{g:?}");
    assert_eq!(s.engine.status().last_pass.unwrap().result, "failed");

    // The API: the same client, the same refusal, as a 503 that says why.
    let req = crate::route::RouteRequest {
        op: crate::route::Op::Add,
        vpc: "vpc-350d6a51".parse().unwrap(),
        cidr: "10.99.0.0/16".parse().unwrap(),
        router_ip: Some(B_IP.parse().unwrap()),
        tables: Vec::new(),
        force: false,
        dry_run: false,
    };
    let report = crate::route::execute(&*s.fenced, &req).unwrap();
    assert_eq!(crate::api::route_status(&report), 503);
    let text = crate::route::report::json(&report).to_string();
    assert!(
        text.contains("was not sent: this daemon is not the leader: vpc-router-b leads"),
        "{text}"
    );
    assert_eq!(s.ec2.lock().unwrap().mutations().len(), before);

    // Leading again: the next pass moves the routes.
    s.control
        .handle(Input::Leadership(Leadership::Gained { until: None }));
    assert_eq!(s.control.status().lock().unwrap().role, Role::Leader);
    assert!(s.engine.pass());
    assert_eq!(
        targets(&s.ec2, "10.55.0.0/16", 2),
        [Some(B_ENI.into()), Some(B_ENI.into())]
    );
}

#[test]
fn stop_ends_the_loop_and_reload_asks_every_feed() {
    struct Counting(Mutex<u32>);
    impl Feed for Counting {
        fn source(&self) -> Source {
            Source::FILE
        }
        fn reload(&self, control: &std::sync::mpsc::Sender<Input>) {
            *self.0.lock().unwrap() += 1;
            let _ = control.send(Input::Spec {
                source: Source::FILE,
                spec: spec(r#"{"10.55.0.0/16": ["10.33.20.142"]}"#),
            });
        }
    }
    let s = setup(1);
    let feed = Arc::new(Counting(Mutex::new(0)));
    let (tx, rx) = mpsc::channel();
    let fence = Arc::new(Fence::open(Clock::system()));
    let control = Control::new(
        Some(s.engine.clone()),
        fence,
        vec![feed.clone()],
        tx.clone(),
    );
    tx.send(Input::Reload).unwrap();
    tx.send(Input::Stop).unwrap();
    // Sent after the stop: never handled.
    tx.send(Input::Reload).unwrap();
    control.run(rx);
    assert_eq!(*feed.0.lock().unwrap(), 1);
    // The reload's spec was sent, but arrived after the stop.
    assert_eq!(s.engine.spec(), None);
}
