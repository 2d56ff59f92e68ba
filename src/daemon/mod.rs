//! `-d`: the daemon, and its supervisor: [`run`] starts every thread once,
//! in a fixed order, and stops them in a fixed order on SIGTERM/SIGINT.
//! SIGHUP reopens the log file and has the feeds re-read their sources.
//!
//! ```text
//! clients ─TCP─▶ gate (one I/O thread: frame, refuse, make room) ─▶ relay-0..W
//!                                   │ Unix socket (private 0700 dir)
//!                                   ▼
//!                       tiny_http ─▶ worker-0..W (Service::handle)
//!              (/healthz, /status, /, /metrics: the gate's own status lane)
//! feeds, health, leadership ─Input─▶ control ─▶ engine (reconcile, failover-0..49)
//! main: sigwait(SIGTERM|SIGINT|SIGHUP) ─▶ reload, or stop everything in order
//! ```
//!
//! Every mutating EC2 call (workers, passes, failovers) goes through one
//! [`Fenced`] client, so that one fence can stop them all.

pub mod auth;
pub mod bgp;
pub mod control;
pub mod etcd;
pub mod feed;
pub mod frame;
pub mod gate;
pub mod metrics;
pub mod notify;
pub mod page;
pub mod service;
pub mod status;

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::aws::{Clock, Env};
use crate::config::{Config, DaemonArgs, SpecSettings, SpecSource};
use crate::ec2::fence::{Fence, Fenced};
use crate::ec2::Ec2;
use crate::reconcile::engine::Engine;
use crate::state::StateDir;
use crate::types::VpcId;
use crate::{error, exit, info, warn, MainError};
use auth::Token;
use control::{Control, Input};
use feed::{Feed, FileFeed, HttpFeed, Stop};
use frame::Limits;
use gate::{Gate, GateConfig};
use metrics::Metrics;
use service::{CidrLocks, Service, SpecMode};

/// How long a stop waits for requests in flight.
pub const GRACE: Duration = Duration::from_secs(10);

/// Threads that make one failover's route calls side by side: as many as
/// EC2's burst of mutating calls (the rate budget's bucket), since more at
/// once would be throttled. With EC2 taking about 100 ms a call, up to 50
/// routes (e.g. 4 tables x 10 CIDRs) move in one round, not two (32
/// threads took 200 ms for 40). Idle, they cost a small stack each (about
/// 16 KiB of RSS: 0.3 MB for the 18 added to the 32 there were before).
const FAILOVER_THREADS: usize = crate::reconcile::budget::EC2_MUTATE.capacity as usize;

/// Starts threads and remembers them, to join them in order.
#[derive(Default)]
struct Threads(Vec<JoinHandle<()>>);

impl Threads {
    fn spawn(&mut self, name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), MainError> {
        let t = thread::Builder::new()
            .name(name.to_string())
            .spawn(f)
            .map_err(|e| MainError::Setup(format!("cannot start the {name} thread: {e}")))?;
        self.0.push(t);
        Ok(())
    }

    /// Waits for every thread until `deadline`; the names of those that
    /// still run then.
    fn join(self, deadline: Instant) -> Vec<String> {
        loop {
            if self.0.iter().all(JoinHandle::is_finished) {
                for t in self.0 {
                    let _ = t.join();
                }
                return Vec::new();
            }
            if Instant::now() >= deadline {
                return self
                    .0
                    .iter()
                    .filter(|t| !t.is_finished())
                    .map(|t| t.thread().name().unwrap_or("a thread").to_string())
                    .collect();
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Desired-state routing (`-m`): the engine and the feeds of its spec.
struct Reconciling {
    engine: Arc<Engine>,
    feeds: Vec<Arc<dyn Feed>>,
    http: Option<Arc<HttpFeed>>,
    /// Where the spec comes from when not from the API (configfile, etcd).
    elsewhere: Option<String>,
    /// How long the first pass waits for every host's first checks.
    settle: Option<Duration>,
    /// The BGP listener (`--bgp-listen`).
    bgp: Option<Arc<bgp::Bgp>>,
}

/// Runs the daemon until SIGTERM or SIGINT; returns the exit code.
pub fn run(config: &Config, args: &DaemonArgs, env: &Env, clock: Clock) -> Result<u8, MainError> {
    // Before any thread exists, so that every thread inherits the mask and
    // the signals wait for sigwait below instead of killing the process.
    let signals = signals::block();
    let token = match &args.auth_token_file {
        Some(path) => {
            let (token, warning) = Token::from_file(path).map_err(MainError::Setup)?;
            if let Some(w) = warning {
                warn!("{w}");
            }
            Some(token)
        }
        None => None,
    };
    let resolved = crate::resolve(config, env, clock.clone())?;
    let metrics = Arc::new(Metrics::new(clock.now()));
    let endpoint = resolved.ec2.endpoint().to_string();
    // A daemon alone may always change routes; with etcd, only once leader
    // election says it leads.
    let fence = Arc::new(Fence::open(clock.clone()));
    let (listener, local) = bind(args)?;
    let etcd = match &args.etcd {
        Some(e) => {
            fence.refuse("leader election with etcd has not decided yet");
            Some(connect_etcd(e, local, &clock)?)
        }
        None => None,
    };
    let ec2: Arc<dyn Ec2 + Send + Sync> = Arc::new(Fenced::new(
        resolved.ec2.with_observer(metrics.observer()),
        fence.clone(),
    ));
    let socket_dir = private_dir(env, &clock)?;
    let _cleanup = RemoveOnDrop(socket_dir.clone());
    let socket = socket_dir.join("api.sock");
    let unix = UnixListener::bind(&socket).map_err(|e| {
        MainError::Setup(format!(
            "cannot create the socket {}: {e}",
            socket.display()
        ))
    })?;
    let server = Arc::new(
        tiny_http::Server::from_listener(unix, None)
            .map_err(|e| MainError::Setup(format!("cannot start the API server: {e}")))?,
    );

    let (inputs, control_rx) = mpsc::channel::<Input>();
    let reconciling = match &args.spec {
        Some(settings) => Some(reconciling(
            settings,
            args.bgp.as_ref(),
            ec2.clone(),
            &resolved.vpc,
            Wiring {
                clock: &clock,
                inputs: &inputs,
                etcd: etcd.as_ref(),
                fence: &fence,
            },
        )?),
        None => None,
    };
    let control = Control::new(
        reconciling.as_ref().map(|r| r.engine.clone()),
        fence.clone(),
        reconciling
            .as_ref()
            .map_or_else(Vec::new, |r| r.feeds.clone()),
        inputs.clone(),
    );
    if etcd.is_some() {
        control
            .status()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .role = control::Role::Follower {
            reason: "leader election with etcd has not decided yet".into(),
        };
    }
    let svc = Arc::new(Service {
        ec2,
        region: resolved.region,
        vpc: resolved.vpc,
        endpoint,
        default_tables: args.route_tables.clone(),
        token,
        allow_api_force: args.allow_api_force,
        fence: fence.clone(),
        etcd: etcd.clone(),
        bgp: reconciling.as_ref().and_then(|r| r.bgp.clone()),
        workers: args.workers,
        metrics: metrics.clone(),
        clock,
        locks: CidrLocks::default(),
        control: control.status(),
        spec_mode: reconciling.as_ref().map(|r| SpecMode {
            engine: r.engine.clone(),
            http: r.http.clone(),
            elsewhere: r.elsewhere.clone(),
        }),
    });

    let elector = match (&etcd, &args.etcd) {
        (Some(shared), Some(e)) => Some(Arc::new(etcd::Elector::new(
            shared.clone(),
            e.lease_ttl,
            fence.clone(),
        ))),
        _ => None,
    };
    let mut running = start(
        args,
        elector,
        (control, control_rx),
        reconciling.as_ref(),
        &inputs,
        (&server, &svc),
        (listener, socket),
    )?;
    announce(&svc, args, local);
    let notifier = Arc::new(notify::Notifier::from_env(env));
    watch(&mut running, &notifier, &inputs)?;
    let sig = loop {
        match signals::wait(&signals) {
            signals::Signal::Hangup => {
                notifier.send("RELOADING=1");
                reload(&inputs, reconciling.is_some());
                notifier.send("READY=1");
            }
            other => break other,
        }
    };
    notifier.send("STOPPING=1");
    info!(
        "{}: stopping; finishing {} request(s) in flight",
        sig.name(),
        metrics.running()
    );
    let unfinished = running.stop(&metrics);
    if unfinished.is_empty() {
        info!("stopped");
        Ok(exit::OK)
    } else {
        error!(
            "stopped with work still running after {} seconds: {}; \
             their routes may or may not have been changed: check with GET /route or -c show",
            GRACE.as_secs(),
            unfinished.join("; ")
        );
        Ok(exit::DAEMON_UNFINISHED)
    }
}

/// Every thread of a running daemon, to stop them in order.
struct Running {
    core: Threads,
    feeds: Threads,
    stop_feeds: Arc<Stop>,
    workers: Threads,
    /// Tells the workers to stop taking requests.
    stopping: Arc<AtomicBool>,
    server: Arc<tiny_http::Server>,
    gate: Gate,
    inputs: Sender<Input>,
    engine: Option<Arc<Engine>>,
}

/// Starts the threads in order: the control loop and the engine first, so
/// that the feeds' first specs are taken at once; the API last.
fn start(
    args: &DaemonArgs,
    elector: Option<Arc<etcd::Elector>>,
    (control, control_rx): (Control, mpsc::Receiver<Input>),
    reconciling: Option<&Reconciling>,
    inputs: &Sender<Input>,
    (server, svc): (&Arc<tiny_http::Server>, &Arc<Service>),
    (listener, socket): (TcpListener, PathBuf),
) -> Result<Running, MainError> {
    let mut core = Threads::default();
    core.spawn("control", move || control.run(control_rx))?;
    let (synced, sync) = mpsc::channel();
    let _ = inputs.send(Input::Sync(synced));
    let _ = sync.recv();
    if let Some(r) = reconciling {
        let (e, recheck, settle) = (
            r.engine.clone(),
            args.spec.as_ref().and_then(|s| s.recheck),
            r.settle,
        );
        core.spawn("reconcile", move || {
            if let Some(max) = settle {
                e.settle(max);
            }
            e.run(recheck)
        })?;
    }
    let stop_feeds = Arc::new(Stop::default());
    let mut feeds = Threads::default();
    if let Some(e) = elector {
        let (tx, stop) = (inputs.clone(), stop_feeds.clone());
        feeds.spawn("etcd-lease", move || e.run(&tx, &stop))?;
    }
    for f in reconciling.iter().flat_map(|r| r.feeds.iter()) {
        let (f, tx, stop) = (f.clone(), inputs.clone(), stop_feeds.clone());
        feeds.spawn(&format!("feed-{}", f.source().name), move || {
            f.run(&tx, &stop)
        })?;
    }
    let stopping = Arc::new(AtomicBool::new(false));
    let mut workers = Threads::default();
    for i in 0..args.workers {
        let (server, svc, stopping) = (server.clone(), svc.clone(), stopping.clone());
        workers.spawn(&format!("worker-{i}"), move || {
            service::work(&server, &svc, &stopping)
        })?;
    }
    let limits = Limits {
        request_timeout: args.request_timeout,
        idle_timeout: args.request_timeout.min(Duration::from_secs(5)),
        ..Limits::default()
    };
    let gate = Gate::start(
        listener,
        GateConfig {
            limits,
            max_connections: args.max_connections,
            per_client: args.max_connections_per_client,
            relays: args.workers,
            backend: socket,
        },
        svc.clone(),
    )
    .map_err(|e| MainError::Setup(format!("cannot start the gate threads: {e}")))?;
    Ok(Running {
        core,
        feeds,
        stop_feeds,
        workers,
        stopping,
        server: server.clone(),
        gate,
        inputs: inputs.clone(),
        engine: reconciling.map(|r| r.engine.clone()),
    })
}

impl Running {
    /// Stops in order: no new clients, then the requests in flight, then
    /// what feeds the engine, then the engine, all within one grace
    /// period. What was still running then, in words.
    fn stop(self, metrics: &Metrics) -> Vec<String> {
        self.gate.stop_accepting();
        let deadline = Instant::now() + GRACE;
        let mut unfinished = Vec::new();
        if !self.gate.join(deadline) {
            unfinished.push("client connections still being answered".to_string());
        }
        self.stopping.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.0.len() {
            self.server.unblock();
        }
        let requests = metrics.running();
        let workers = self.workers.join(deadline);
        if !workers.is_empty() {
            unfinished.push(format!("{requests} request(s) on {}", workers.join(", ")));
        }
        self.stop_feeds.stop();
        unfinished.extend(self.feeds.join(deadline));
        let _ = self.inputs.send(Input::Stop);
        if let Some(e) = &self.engine {
            // A pass in progress finishes its current call and the loop ends.
            e.stop();
        }
        let stuck = self.core.join(deadline);
        let doing = self.engine.as_ref().and_then(|e| e.activity());
        for name in stuck {
            unfinished.push(match (&*name, &doing) {
                ("reconcile", Some(d)) => format!("the reconcile thread ({d})"),
                ("control", _) => "the control loop (a failover under way)".to_string(),
                _ => name,
            });
        }
        unfinished
    }
}

/// Starts the notify thread when systemd listens (`$NOTIFY_SOCKET`):
/// `READY=1` once the API serves (it does now) and, with `-m`, the first
/// pass is done; then `WATCHDOG=1` while the control loop answers.
fn watch(
    running: &mut Running,
    notifier: &Arc<notify::Notifier>,
    inputs: &Sender<Input>,
) -> Result<(), MainError> {
    if !notifier.enabled() {
        return Ok(());
    }
    let (n, engine, stop) = (
        notifier.clone(),
        running.engine.clone(),
        running.stop_feeds.clone(),
    );
    let inputs = inputs.clone();
    running.feeds.spawn("notify", move || {
        let ready = || engine.as_ref().is_none_or(|e| e.first_pass_done());
        let alive = |within: Duration| {
            let (tx, rx) = mpsc::channel();
            inputs.send(Input::Sync(tx)).is_ok() && rx.recv_timeout(within).is_ok()
        };
        n.run(ready, alive, &stop);
    })
}

/// The etcd client and what is shared about it, from `--etcd-...`: the
/// files (CA, client certificate and key, password) are read here, once.
fn connect_etcd(
    args: &crate::config::EtcdArgs,
    api: SocketAddr,
    clock: &Clock,
) -> Result<Arc<etcd::Shared>, MainError> {
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| MainError::Setup(format!("--{flag}: cannot read {}: {e}", path.display())))
    };
    let ca = args
        .cacert
        .as_ref()
        .map(|p| read("etcd-cacert", p))
        .transpose()?;
    let client = match (&args.cert, &args.key) {
        (Some(c), Some(k)) => Some((read("etcd-cert", c)?, read("etcd-key", k)?)),
        _ => None,
    };
    let tls = match (&ca, &client) {
        (None, None) => None,
        _ => Some(
            crate::http::Tls::from_pem(
                ca.as_deref(),
                client.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
            )
            .map_err(|e| MainError::Setup(format!("--etcd-cacert/--etcd-cert/--etcd-key: {e}")))?,
        ),
    };
    let auth = match (&args.user, &args.password_file) {
        (Some(user), Some(file)) => {
            let raw = read("etcd-password-file", file)?;
            let password = String::from_utf8(raw)
                .map_err(|_| {
                    MainError::Setup(format!(
                        "--etcd-password-file: {} is not UTF-8 text",
                        file.display()
                    ))
                })?
                .trim_end_matches(['\r', '\n'])
                .to_string();
            if password.is_empty() {
                return Err(MainError::Setup(format!(
                    "--etcd-password-file: {} is empty",
                    file.display()
                )));
            }
            Some((user.clone(), crate::aws::Secret::new(password)))
        }
        _ => None,
    };
    // A call must end well within a lease, so that a renewal that cannot
    // get through is noticed in time.
    let timeout = (args.lease_ttl / 3).max(Duration::from_secs(1));
    let client = crate::etcd::Client::new(&crate::etcd::Settings {
        endpoints: args.endpoints.clone(),
        tls,
        auth,
        connect_timeout: timeout,
        timeout,
    });
    let name = args.name.clone().unwrap_or_else(|| etcd::default_name(api));
    info!(
        "etcd: {} as {name}; keys under {}; lease {} s",
        args.endpoints.join(", "),
        args.prefix,
        args.lease_ttl.as_secs()
    );
    Ok(Arc::new(etcd::Shared::new(
        client,
        etcd::Keys::new(&args.prefix),
        name,
        clock.clone(),
    )))
}

/// SIGHUP: reopen the log file (logrotate has moved it), then have the
/// feeds re-read their sources. The daemon keeps serving throughout.
fn reload(inputs: &Sender<Input>, has_spec: bool) {
    let then = if has_spec {
        "; re-reading the spec"
    } else {
        ""
    };
    match crate::log::reopen() {
        Ok(true) => info!("SIGHUP: log file reopened{then}"),
        Ok(false) => info!("SIGHUP: logging to stderr, nothing to reopen{then}"),
        Err(e) => {
            error!("SIGHUP: cannot reopen the log file ({e}); logging on to the old one{then}")
        }
    }
    let _ = inputs.send(Input::Reload);
}

fn bind(args: &DaemonArgs) -> Result<(TcpListener, SocketAddr), MainError> {
    let addr = SocketAddr::new(args.address, args.port);
    let listener = TcpListener::bind(addr).map_err(|e| {
        MainError::Setup(format!(
            "cannot listen on {addr}: {e}{}",
            if e.kind() == std::io::ErrorKind::AddrInUse {
                " (another vpc-router or program has the port; choose another with -p)"
            } else {
                ""
            }
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| MainError::Setup(format!("cannot listen on {addr}: {e}")))?;
    Ok((listener, local))
}

/// The start-up log lines.
fn announce(svc: &Service, args: &DaemonArgs, local: SocketAddr) {
    info!(
        "vpc-router {} listening on http://{local} (region {}, {}, {} workers, {})",
        crate::VERSION,
        svc.region,
        svc.vpc,
        args.workers,
        if svc.token.is_some() {
            "bearer token required"
        } else {
            "no authentication"
        }
    );
    if let Some(settings) = &args.spec {
        info!(
            "desired-state routing: spec from {}, {}",
            match &settings.source {
                SpecSource::File(p) => p.display().to_string(),
                SpecSource::Http => "POST /route_spec".to_string(),
                SpecSource::Bgp => "BGP peers".to_string(),
                SpecSource::Fixed(_) => "the command line (-m fixedconf)".to_string(),
                SpecSource::Etcd => args
                    .etcd
                    .as_ref()
                    .map_or_else(String::new, |e| { format!("etcd {}spec", e.prefix) }),
            },
            match settings.recheck {
                Some(i) => format!("a full pass every {} s", i.as_secs_f64()),
                None => "passes on spec changes only".to_string(),
            }
        );
    }
}

/// The engine of `-m`, its health checks and the feed of its spec. The
/// feeds' first specs are sent to `inputs` (in configfile mode a broken
/// file refuses the start: there is no last good spec yet).
/// What the parts of the daemon are wired to.
struct Wiring<'a> {
    clock: &'a Clock,
    inputs: &'a Sender<Input>,
    etcd: Option<&'a Arc<etcd::Shared>>,
    fence: &'a Arc<Fence>,
}

fn reconciling(
    settings: &SpecSettings,
    bgp_args: Option<&crate::config::BgpArgs>,
    ec2: Arc<dyn Ec2 + Send + Sync>,
    vpc: &VpcId,
    w: Wiring<'_>,
) -> Result<Reconciling, MainError> {
    let Wiring {
        clock,
        inputs,
        etcd,
        fence,
    } = w;
    // The BGP listener needs the VPC's CIDRs, which the engine learns.
    let engine_cell: Arc<std::sync::OnceLock<Arc<Engine>>> = Arc::default();
    let bgp = match bgp_args {
        Some(b) => Some(start_bgp(b, engine_cell.clone(), clock)?),
        None => None,
    };
    let store = match &settings.state_dir {
        Some(dir) => Some(Arc::new(
            StateDir::open(dir).map_err(|e| MainError::Setup(e.to_string()))?,
        )),
        None => None,
    };
    // With etcd, ownership is kept there (a state dir's is taken over once).
    let persist: Box<dyn crate::state::Persist> = match (etcd, &store) {
        (Some(shared), _) => Box::new(etcd::EtcdOwned::new(shared.clone(), store.clone())),
        (None, Some(dir)) => Box::new(dir.clone()),
        (None, None) => {
            return Err(MainError::Setup(
                "--state-dir: missing; give it, or --etcd-endpoints to keep ownership in etcd"
                    .into(),
            ))
        }
    };
    let (feed, http, elsewhere): (Arc<dyn Feed>, _, _) = match &settings.source {
        SpecSource::Bgp => {
            let (_, feed) = bgp
                .clone()
                .ok_or_else(|| MainError::Setup("-m bgp: --bgp-listen is missing".into()))?;
            (
                feed,
                None,
                Some("BGP peers (-m bgp); announce or withdraw the prefix there".to_string()),
            )
        }
        SpecSource::Etcd => {
            let shared = etcd
                .ok_or_else(|| MainError::Setup("-m etcd: --etcd-endpoints is missing".into()))?;
            let key = String::from_utf8_lossy(&shared.keys.spec).into_owned();
            (
                Arc::new(etcd::EtcdFeed::new(shared.clone(), etcd::ETCD)),
                None,
                Some(format!(
                    "the etcd key {key} (-m etcd); put it there instead"
                )),
            )
        }
        SpecSource::File(path) => {
            let f = FileFeed::new(path.clone());
            let spec = f.read().map_err(MainError::Setup)?;
            let _ = inputs.send(Input::Spec {
                source: feed::Source::FILE,
                spec,
            });
            (
                Arc::new(f),
                None,
                Some(format!(
                    "{} (-m configfile); edit that file instead",
                    path.display()
                )),
            )
        }
        SpecSource::Fixed(spec) => {
            let f = feed::FixedFeed::start(spec.clone(), inputs);
            (Arc::new(f), None, Some(feed::FixedFeed::ELSEWHERE.into()))
        }
        SpecSource::Http => {
            let spec_store: Arc<dyn crate::state::SpecStore> = match (etcd, &store) {
                (Some(shared), _) => Arc::new(etcd::EtcdSpec(shared.clone())),
                (None, Some(dir)) => dir.clone(),
                (None, None) => {
                    return Err(MainError::Setup(
                        "--state-dir: missing; -m http keeps its spec there".into(),
                    ))
                }
            };
            let h =
                Arc::new(HttpFeed::start(spec_store, inputs.clone()).map_err(MainError::Setup)?);
            (h.clone(), Some(h), None)
        }
    };
    let mut feeds = vec![feed];
    if let (Some((_, f)), false) = (&bgp, settings.source == SpecSource::Bgp) {
        // Learned routes beside the configured spec (which wins).
        feeds.push(f.clone());
    }
    if let (Some(own), Some(shared)) = (&http, etcd) {
        // Every daemon follows the spec the leader's API edits.
        feeds.push(Arc::new(
            etcd::EtcdFeed::new(shared.clone(), feed::Source::HTTP).skipping(own.clone()),
        ));
    }
    let engine = Engine::new(
        ec2,
        vpc.clone(),
        settings.scope.clone(),
        settings.options.clone(),
        persist,
        clock.clone(),
    )
    .map_err(MainError::Setup)?;
    let engine = engine.with_fence(fence.clone());
    // Health checks: started before the first pass, so that the first
    // choice of routers already knows which are up. An ICMP socket that
    // cannot be opened is a start-up error, with what to do about it.
    let h = &settings.health;
    let checking = h.kind != crate::health::Kind::None;
    let engine = if checking {
        let monitor = crate::health::Monitor::for_kind(
            &h.kind,
            h.settings.clone(),
            inputs.clone(),
            clock.clone(),
        )
        .map_err(|e| MainError::Setup(format!("--health {}: {e}", h.kind)))?;
        info!(
            "health checks: {} every {} s (timeout {} s; failed after {} failed checks in a row, \
             healthy again after {} good ones); failback: {}",
            h.kind,
            h.settings.interval.as_secs_f64(),
            h.settings.timeout.as_secs_f64(),
            h.settings.fall,
            h.settings.rise,
            h.failback.map_or("off".to_string(), |d| format!(
                "after {} s healthy",
                d.as_secs_f64()
            ))
        );
        engine
            .with_health(Arc::new(monitor), h.failback, FAILOVER_THREADS)
            .map_err(MainError::Setup)?
    } else {
        engine
    };
    // Long enough for every host to pass or fail its first checks.
    let settle = checking.then(|| {
        let s = &h.settings;
        (s.interval + s.timeout) * s.fall.max(s.rise) + s.timeout
    });
    let engine = Arc::new(engine);
    let _ = engine_cell.set(engine.clone());
    Ok(Reconciling {
        engine,
        feeds,
        http,
        elsewhere,
        settle,
        bgp: bgp.map(|(b, _)| b),
    })
}

/// The BGP listener: bound (with each peer's TCP MD5 key set) before the
/// daemon serves, so that a port in use or a bad password file refuses the
/// start.
fn start_bgp(
    args: &crate::config::BgpArgs,
    engine: Arc<std::sync::OnceLock<Arc<Engine>>>,
    clock: &Clock,
) -> Result<(Arc<bgp::Bgp>, Arc<dyn Feed>), MainError> {
    let mut passwords = std::collections::BTreeMap::new();
    for p in &args.peers {
        if let Some(file) = &p.password_file {
            let raw = std::fs::read(file).map_err(|e| {
                MainError::Setup(format!(
                    "--bgp-peer {}: cannot read password-file {}: {e}",
                    p.ip,
                    file.display()
                ))
            })?;
            let key: Vec<u8> = raw.strip_suffix(b"\n").unwrap_or(&raw).to_vec();
            passwords.insert(p.ip, key);
        }
    }
    let vpc = Box::new(move || engine.get().and_then(|e| e.local_cidrs()));
    let shared = Arc::new(bgp::Bgp::new(args.clone(), vpc, clock.clone()));
    let feed = bgp::BgpFeed::bind(shared.clone(), &passwords).map_err(MainError::Setup)?;
    if let Ok(at) = feed.local_addr() {
        info!(
            "bgp: listening on {at} as AS {} (id {}) for {} peer(s)",
            args.asn,
            args.router_id,
            args.peers.len()
        );
    }
    Ok((shared, Arc::new(feed)))
}

/// A new directory only we can enter, for the workers' socket: nobody
/// else on the host can reach tiny_http around the gate.
fn private_dir(env: &Env, clock: &Clock) -> Result<PathBuf, MainError> {
    let base = [env.get("XDG_RUNTIME_DIR"), env.get("TMPDIR"), Some("/tmp")]
        .into_iter()
        .flatten()
        // A Unix socket path must fit in 108 bytes.
        .find(|b| !b.is_empty() && b.len() < 60 && Path::new(b).is_dir())
        .unwrap_or("/tmp");
    let nanos = clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut last = None;
    for attempt in 0..16u32 {
        let dir = Path::new(base).join(format!(
            "vpc-router-{}-{:08x}",
            std::process::id(),
            nanos.wrapping_add(attempt.wrapping_mul(0x9e37_79b9))
        ));
        // mkdir fails if the path exists in any form (a symlink planted by
        // someone else included), so what we get is ours.
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                remove_stale(Path::new(base), &dir);
                return Ok(dir);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(MainError::Setup(format!(
        "cannot create a private directory under {base}: {}",
        last.map_or_else(String::new, |e| e.to_string())
    )))
}

/// Removes the private directories that daemons stopped without a chance
/// to clean up (SIGKILL, a crash) left under `base`: only those named as
/// ours (`vpc-router-PID-XXXXXXXX`), owned by the user that owns `ours`
/// (the new one), whose process is gone and whose socket nobody answers
/// (a daemon in another PID namespace sharing the directory still does).
fn remove_stale(base: &Path, ours: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(me) = std::fs::symlink_metadata(ours).map(|m| m.uid()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(private_dir_pid) else {
            continue;
        };
        let path = e.path();
        let mine = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == me);
        if !mine || path == ours || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if std::os::unix::net::UnixStream::connect(path.join("api.sock")).is_ok() {
            continue;
        }
        if std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        info!(
            "removed {removed} socket director{} under {} left by daemons that did not stop",
            if removed == 1 { "y" } else { "ies" },
            base.display()
        );
    }
}

/// The process ID in a private directory's name, `vpc-router-PID-XXXXXXXX`.
fn private_dir_pid(name: &str) -> Option<u32> {
    let (pid, tag) = name.strip_prefix("vpc-router-")?.split_once('-')?;
    let hex = tag.len() == 8 && tag.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
    if hex && digits {
        pid.parse().ok()
    } else {
        None
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// SIGTERM, SIGINT and SIGHUP, taken synchronously: blocked in every thread and
/// waited for with sigwait(2) by the main thread, so there is no signal
/// handler and nothing async-signal-unsafe can run.
mod signals {
    use std::mem::MaybeUninit;

    pub struct Set(libc::sigset_t);

    /// The signals the daemon takes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Signal {
        Terminate,
        Interrupt,
        Hangup,
    }

    impl Signal {
        pub fn name(self) -> &'static str {
            match self {
                Signal::Terminate => "SIGTERM",
                Signal::Interrupt => "SIGINT",
                Signal::Hangup => "SIGHUP",
            }
        }
    }

    pub fn block() -> Set {
        // SAFETY: sigset_t is initialised by sigemptyset before use, and
        // pthread_sigmask only reads it.
        unsafe {
            let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
            libc::sigemptyset(set.as_mut_ptr());
            libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM);
            libc::sigaddset(set.as_mut_ptr(), libc::SIGINT);
            libc::sigaddset(set.as_mut_ptr(), libc::SIGHUP);
            let set = set.assume_init();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Set(set)
        }
    }

    /// Blocks until one of the signals arrives.
    pub fn wait(set: &Set) -> Signal {
        loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: both pointers are valid for the call.
            let rc = unsafe { libc::sigwait(&set.0, &mut sig) };
            if rc == 0 {
                return match sig {
                    libc::SIGINT => Signal::Interrupt,
                    libc::SIGHUP => Signal::Hangup,
                    _ => Signal::Terminate,
                };
            }
        }
    }
}
