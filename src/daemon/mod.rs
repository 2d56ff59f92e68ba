//! `-d`: the daemon. Serves the API (`api`) with this thread layout, all
//! fixed at start-up:
//!
//! ```text
//! clients ─TCP─▶ accept ─queue─▶ gate-0..N (frame, refuse, relay)
//!                                   │ Unix socket (private 0700 dir)
//!                                   ▼
//!                       tiny_http ─▶ worker-0..W (Service::handle, EC2)
//! main: sigwait(SIGTERM|SIGINT) ─▶ stop accepting, drain, exit
//! ```
//!
//! One `HttpEc2` (connection pool, credential cache) is shared by all
//! workers; `CidrLocks` keeps commands on the same CIDR from interleaving.

pub mod auth;
pub mod frame;
pub mod gate;
pub mod metrics;
pub mod service;
pub mod status;

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::aws::{Clock, Env};
use crate::config::{Config, DaemonArgs};
use crate::{error, exit, info, warn, MainError};
use auth::Token;
use frame::Limits;
use gate::{Gate, GateConfig};
use metrics::Metrics;
use service::{CidrLocks, Service, SpecMode};

use crate::config::{SpecSettings, SpecSource};
use crate::reconcile::engine::Engine;
use crate::state::StateDir;

/// Set when the daemon stops: the spec file watcher's signal.
static WATCH_STOP: AtomicBool = AtomicBool::new(false);

/// How long a stop waits for requests in flight.
pub const GRACE: Duration = Duration::from_secs(10);

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
    let ec2 = resolved.ec2.with_observer(metrics.observer());

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

    let ec2: Arc<dyn crate::ec2::Ec2 + Send + Sync> = Arc::new(ec2);
    let spec_mode = match &args.spec {
        Some(settings) => Some(start_spec_mode(
            settings,
            ec2.clone(),
            &resolved.vpc,
            &clock,
        )?),
        None => None,
    };
    let svc = Arc::new(Service {
        ec2,
        region: resolved.region,
        vpc: resolved.vpc,
        endpoint,
        default_tables: args.route_tables.clone(),
        token,
        workers: args.workers,
        metrics: metrics.clone(),
        clock,
        locks: CidrLocks::default(),
        spec_mode: spec_mode.as_ref().map(|(m, _)| SpecMode {
            engine: m.engine.clone(),
            source: m.source.clone(),
        }),
    });
    let stopping = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::with_capacity(args.workers);
    for i in 0..args.workers {
        let (server, svc, stopping) = (server.clone(), svc.clone(), stopping.clone());
        let t = thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || service::work(&server, &svc, &stopping))
            .map_err(|e| MainError::Setup(format!("cannot start a worker thread: {e}")))?;
        workers.push(t);
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
            threads: args.max_connections,
            queue: args.max_connections,
            backend: socket,
        },
        metrics.clone(),
    )
    .map_err(|e| MainError::Setup(format!("cannot start the gate threads: {e}")))?;
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

    if let Some((m, _)) = &spec_mode {
        info!(
            "desired-state routing: spec from {}, {}",
            match &m.source {
                SpecSource::File(p) => p.display().to_string(),
                SpecSource::Http => "POST /route_spec".to_string(),
            },
            match args.spec.as_ref().and_then(|s| s.recheck) {
                Some(i) => format!("a full pass every {} s", i.as_secs_f64()),
                None => "passes on spec changes only".to_string(),
            }
        );
    }
    let sig = signals::wait(&signals);
    info!(
        "{sig}: stopping; finishing {} request(s) in flight",
        metrics.running()
    );
    gate.stop_accepting();
    let deadline = Instant::now() + GRACE;
    let drained = gate.join(deadline);
    stopping.store(true, Ordering::SeqCst);
    for _ in 0..workers.len() {
        server.unblock();
    }
    let mut stopped = wait_all(workers, deadline);
    if let Some((m, threads)) = spec_mode {
        m.engine.stop();
        WATCH_STOP.store(true, Ordering::SeqCst);
        // A pass in progress finishes its current call and the loop ends.
        stopped &= wait_all(threads, Instant::now() + GRACE);
    }
    if drained && stopped {
        info!("stopped");
        Ok(exit::OK)
    } else {
        error!(
            "stopped with {} request(s) still running after {} seconds; \
             their routes may or may not have been changed: check with GET /route or -c show",
            metrics.running(),
            GRACE.as_secs()
        );
        Ok(exit::DAEMON_UNFINISHED)
    }
}

/// The reconciler of `-m`, and the threads that run it.
fn start_spec_mode(
    settings: &SpecSettings,
    ec2: Arc<dyn crate::ec2::Ec2 + Send + Sync>,
    vpc: &crate::types::VpcId,
    clock: &Clock,
) -> Result<(SpecMode, Vec<thread::JoinHandle<()>>), MainError> {
    let store = StateDir::open(&settings.state_dir).map_err(|e| MainError::Setup(e.to_string()))?;
    // In configfile mode the file is the truth: read it (and refuse to
    // start on a broken one: there is no last good spec yet).
    let initial = match &settings.source {
        SpecSource::File(path) => Some(crate::spec::read_file(path).map_err(MainError::Setup)?),
        SpecSource::Http => None,
    };
    let engine = Engine::new(
        ec2,
        vpc.clone(),
        settings.scope.clone(),
        settings.options.clone(),
        Box::new(store),
        clock.clone(),
    )
    .map_err(MainError::Setup)?;
    // Health checks: started before the first pass, so that the first
    // choice of routers already knows which are up. An ICMP socket that
    // cannot be opened is a start-up error, with what to do about it.
    let h = &settings.health;
    let (transitions, rx) = std::sync::mpsc::channel();
    let checking = h.kind != crate::health::Kind::None;
    let engine = if checking {
        let monitor = crate::health::Monitor::for_kind(
            &h.kind,
            h.settings.clone(),
            transitions,
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
    let engine = Arc::new(engine);
    if let Some(spec) = initial {
        engine.set_spec(spec, false).map_err(MainError::Setup)?;
    }
    let mut threads = Vec::new();
    let (e, recheck) = (engine.clone(), settings.recheck);
    // Long enough for every host to pass or fail its first checks.
    let settle = checking.then(|| {
        let s = &h.settings;
        (s.interval + s.timeout) * s.fall.max(s.rise) + s.timeout
    });
    threads.push(
        thread::Builder::new()
            .name("reconcile".into())
            .spawn(move || {
                if let Some(max) = settle {
                    e.settle(max);
                }
                e.run(recheck)
            })
            .map_err(|e| MainError::Setup(format!("cannot start the reconcile thread: {e}")))?,
    );
    if checking {
        let e = engine.clone();
        threads.push(
            thread::Builder::new()
                .name("failover".into())
                .spawn(move || loop {
                    match rx.recv_timeout(WATCH_EVERY) {
                        Ok(t) => e.on_transition(t),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            if WATCH_STOP.load(Ordering::SeqCst) {
                                return;
                            }
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                })
                .map_err(|e| MainError::Setup(format!("cannot start the failover thread: {e}")))?,
        );
    }
    if let SpecSource::File(path) = &settings.source {
        let (e, path) = (engine.clone(), path.clone());
        threads.push(
            thread::Builder::new()
                .name("spec-watch".into())
                .spawn(move || watch(&path, &e))
                .map_err(|e| MainError::Setup(format!("cannot start the spec watcher: {e}")))?,
        );
    }
    Ok((
        SpecMode {
            engine,
            source: settings.source.clone(),
        },
        threads,
    ))
}

/// Threads that make one failover's route calls side by side: with EC2
/// taking about 100 ms a call, 40 routes (4 tables x 10 CIDRs) move in
/// two rounds. Idle, they cost a small stack each.
const FAILOVER_THREADS: usize = 32;

/// How often the spec file is looked at: a change is in force within
/// about a second.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Watches the spec file: each valid change goes in force; a broken one
/// is logged once and ignored (the last good spec stays).
fn watch(path: &Path, engine: &Engine) {
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let mut seen = stamp(path);
    let mut last_error: Option<String> = None;
    while !WATCH_STOP.load(Ordering::SeqCst) {
        thread::sleep(WATCH_EVERY);
        let now = stamp(path);
        if now == seen {
            continue;
        }
        seen = now;
        match crate::spec::read_file(path) {
            Ok(spec) if Some(&spec) == engine.spec().as_ref() => {}
            Ok(spec) => {
                info!(
                    "{}: spec changed, {} CIDR(s); reconciling",
                    path.display(),
                    spec.len()
                );
                last_error = None;
                let _ = engine.set_spec(spec, false);
            }
            Err(e) => {
                if last_error.as_ref() != Some(&e) {
                    error!("{e}; the spec in force stays until the file is fixed");
                    last_error = Some(e);
                }
            }
        }
    }
}

fn wait_all(threads: Vec<thread::JoinHandle<()>>, deadline: Instant) -> bool {
    loop {
        if threads.iter().all(thread::JoinHandle::is_finished) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
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
            Ok(()) => return Ok(dir),
            Err(e) => last = Some(e),
        }
    }
    Err(MainError::Setup(format!(
        "cannot create a private directory under {base}: {}",
        last.map_or_else(String::new, |e| e.to_string())
    )))
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// SIGTERM and SIGINT, taken synchronously: blocked in every thread and
/// waited for with sigwait(2) by the main thread, so there is no signal
/// handler and nothing async-signal-unsafe can run.
mod signals {
    use std::mem::MaybeUninit;

    pub struct Set(libc::sigset_t);

    pub fn block() -> Set {
        // SAFETY: sigset_t is initialised by sigemptyset before use, and
        // pthread_sigmask only reads it.
        unsafe {
            let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
            libc::sigemptyset(set.as_mut_ptr());
            libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM);
            libc::sigaddset(set.as_mut_ptr(), libc::SIGINT);
            let set = set.assume_init();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Set(set)
        }
    }

    /// Blocks until one of the signals arrives; returns its name.
    pub fn wait(set: &Set) -> &'static str {
        loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: both pointers are valid for the call.
            let rc = unsafe { libc::sigwait(&set.0, &mut sig) };
            if rc == 0 {
                return if sig == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
            }
        }
    }
}
