//! vpc-router: keeps a route (a destination CIDR and the network interface of
//! the router instance that should receive its packets) right in every route
//! table of an AWS VPC. See ARCHITECTURE.md for the map of modules.
//!
//! [`run`] takes a validated [`config::Config`], resolves what the command line
//! left open (region, VPC, credentials, endpoint) from an [`aws::Env`]
//! snapshot, runs the command and returns the exit code.

pub mod api;
pub mod aws;
pub mod bgp;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod ec2;
pub mod etcd;
pub mod health;
pub mod http;
pub mod log;
pub mod query;
pub mod reconcile;
pub mod retry;
pub mod route;
pub mod spec;
pub mod state;
pub mod timefmt;
pub mod types;

/// This build's version, as `--version` and the daemon's status show it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit the binary was built from: `VPC_ROUTER_COMMIT` at build time
/// (the Makefile's `build`, `static` and `dist` set it from `git rev-parse
/// --short HEAD`; no build script needed), else "unknown commit".
pub const COMMIT: &str = match option_env!("VPC_ROUTER_COMMIT") {
    Some(c) if !c.is_empty() => c,
    _ => "unknown commit",
};

use std::fmt;
use std::io::Write;
use std::sync::Arc;

use aws::credentials;
use aws::imds::{self, Imds};
use aws::{Clock, CredentialsError, CredentialsProvider, Env};
use config::{Command, Config, LogFormat, LogTarget, Output, RouteArgs, RouterIp};
use ec2::client::{ClientSettings, HttpEc2};
use retry::Retrier;
use route::{RouteError, RouteRequest, Verdict};

/// The exit codes, documented in `--help` and the README.
pub mod exit {
    pub const OK: u8 = 0;
    /// show/del: the route is missing from at least one table.
    pub const NOT_FOUND: u8 = 1;
    /// A usage error or invalid input.
    pub const USAGE: u8 = 2;
    /// AWS answered with an error.
    pub const AWS: u8 = 3;
    /// AWS could not be reached.
    pub const NETWORK: u8 = 4;
    /// A route vpc-router does not own is in the way.
    pub const REFUSED: u8 = 5;
    /// The daemon stopped with requests still running after the grace
    /// period (a one-shot command never returns this for that reason).
    pub const DAEMON_UNFINISHED: u8 = 1;
}

/// Why a run failed before or instead of producing a report.
#[derive(Debug)]
pub enum MainError {
    /// The command line or the environment is not usable (exit 2).
    Setup(String),
    Credentials(CredentialsError),
    Route(RouteError),
    /// `--ip self`: instance metadata did not give this instance's IP
    /// (exit 4 when it did not answer, else 2).
    SelfIp(imds::ImdsError),
}

impl MainError {
    pub fn exit_code(&self) -> u8 {
        match self {
            MainError::Setup(_) => exit::USAGE,
            MainError::Credentials(CredentialsError::Transport { .. }) => exit::NETWORK,
            MainError::Credentials(_) => exit::AWS,
            MainError::Route(RouteError::Ec2(e)) if e.is_transport() => exit::NETWORK,
            MainError::Route(RouteError::Ec2(_)) => exit::AWS,
            MainError::Route(_) => exit::USAGE,
            MainError::SelfIp(e) if e.unreachable => exit::NETWORK,
            MainError::SelfIp(_) => exit::USAGE,
        }
    }
}

impl fmt::Display for MainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MainError::Setup(m) => f.write_str(m),
            MainError::Credentials(e) => e.fmt(f),
            MainError::Route(e) => e.fmt(f),
            MainError::SelfIp(e) => write!(f, "--ip self: {e}"),
        }
    }
}

impl std::error::Error for MainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MainError::Setup(_) => None,
            MainError::Credentials(e) => Some(e),
            MainError::Route(e) => Some(e),
            MainError::SelfIp(e) => Some(e),
        }
    }
}

pub fn exit_code_for(v: Verdict) -> u8 {
    match v {
        Verdict::Ok => exit::OK,
        Verdict::NotFound => exit::NOT_FOUND,
        Verdict::Refused => exit::REFUSED,
        Verdict::Failed { transport: true } => exit::NETWORK,
        Verdict::Failed { transport: false } => exit::AWS,
    }
}

/// Sets up logging as the command line asks: JSON with `--log-format
/// json`; else, on stderr, journald's priority prefixes when stderr is the
/// journal's stream (`$JOURNAL_STREAM` names its device and inode), plain
/// lines otherwise; timestamps in a file.
pub fn init_logging(config: &Config, env: &Env) -> Result<(), MainError> {
    let level = if config.verbose {
        log::Level::Debug
    } else {
        log::Level::Info
    };
    let json = config.log_format == LogFormat::Json;
    let style = |file: bool| match (json, file) {
        (true, _) => log::Style::Json,
        (false, true) => log::Style::Timestamped,
        (false, false) if stderr_is_journal(env) => log::Style::Journal,
        (false, false) => log::Style::Plain,
    };
    match &config.log {
        LogTarget::Stderr => log::init(level, log::Sink::Stderr, style(false)),
        LogTarget::File(path) => {
            let file = log::open(path).map_err(|e| {
                MainError::Setup(format!(
                    "-l/--logfile: cannot open {} for appending: {e}",
                    path.display()
                ))
            })?;
            log::init(level, log::Sink::File(file, path.clone()), style(true));
        }
    }
    Ok(())
}

/// Whether stderr is the stream `$JOURNAL_STREAM` (`DEVICE:INODE`) names,
/// as systemd.exec(5) asks: a child whose stderr was redirected is not.
fn stderr_is_journal(env: &Env) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = env.get("JOURNAL_STREAM").and_then(|v| v.split_once(':')) else {
        return false;
    };
    let meta = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata());
    meta.is_ok_and(|m| dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()))
}

/// Everything a command needs from AWS, resolved once.
pub struct Resolved {
    pub region: types::Region,
    pub vpc: types::VpcId,
    pub ec2: HttpEc2,
    /// The metadata client (`None` when disabled), for `--ip self`.
    pub imds: Option<Arc<Imds>>,
}

/// Resolves region, VPC, credentials and endpoint, in the order the AWS
/// tools use, and builds the EC2 client.
pub fn resolve(config: &Config, env: &Env, clock: Clock) -> Result<Resolved, MainError> {
    let a = &config.aws;
    let profile = a.profile.as_deref();
    // The profile's settings (endpoint, retries, CA bundle, FIPS and
    // dual-stack); a shared file the credential chain did not need is not
    // an error here.
    let shared = aws::profile::load(env, profile).ok().flatten();
    if let Some(p) = &shared {
        for w in aws::unread_settings(p) {
            warn!("{w}");
        }
    }
    // What the environment gives is checked before anything is contacted,
    // as the flags are: a bad URL is a usage error, never a network one.
    let endpoint_given =
        aws::endpoint_override("ec2", a.endpoint_url.as_deref(), env, shared.as_ref())
            .map_err(MainError::Setup)?;
    let retry = aws::retry_policy(env, shared.as_ref()).map_err(MainError::Setup)?;
    let tls = aws::ca_bundle(env, shared.as_ref()).map_err(MainError::Setup)?;
    // One retrier for every AWS call of the process: they share its quota.
    let retrier = Retrier::new(retry, &clock);
    let imds = Imds::from_env(env).map(Arc::new);
    let (region, region_from) =
        imds::resolve_region(a.region.as_ref(), env, profile, imds.as_deref())
            .map_err(MainError::Setup)?;
    debug!("region {region} (from {region_from})");
    let (vpc, vpc_from) =
        imds::resolve_vpc(a.vpc.as_ref(), imds.as_deref()).map_err(MainError::Setup)?;
    debug!("VPC {vpc} (from {vpc_from})");
    let creds: Arc<dyn CredentialsProvider> =
        credentials::default_chain(env, profile, Some(&region), imds.clone(), &retrier).map_err(
            |e| match e {
                CredentialsError::Invalid { .. } => MainError::Setup(e.to_string()),
                e => MainError::Credentials(e),
            },
        )?;
    // FIPS and dual-stack may be set in the profile; a shared file the
    // credential chain did not need is not an error here either.
    let variant =
        aws::endpoint::Variant::configured(env, shared.as_ref()).map_err(MainError::Setup)?;
    let given = endpoint_given
        .as_ref()
        .map(|(from, url)| (from.as_str(), url.clone()));
    let endpoint = aws::endpoint::resolve("ec2", given, &region, &variant)
        .map_err(|e| MainError::Setup(e.to_string()))?;
    let shown = aws::redact_url(&endpoint);
    debug!("EC2 endpoint {shown}");
    let proxy = match aws::proxy_for(env, &endpoint) {
        Some(p) => Some(ureq::Proxy::new(&p).map_err(|e| {
            MainError::Setup(format!(
                "the proxy '{}' for {shown} (HTTPS_PROXY/HTTP_PROXY) is not usable: {e}",
                aws::redact_url(&p)
            ))
        })?),
        None => None,
    };
    if let Some(p) = &proxy {
        debug!("EC2 through proxy {}:{}", p.host(), p.port());
    }
    let settings = ClientSettings {
        proxy,
        endpoint,
        region: region.clone(),
        connect_timeout: a.connect_timeout,
        timeout: a.timeout,
        retry,
        tls,
    };
    Ok(Resolved {
        imds,
        region,
        vpc,
        ec2: HttpEc2::new(settings, creds, clock).with_retrier(retrier),
    })
}

/// Sets up logging, runs `f`, and logs its error: the exit code either way.
fn logged(config: &Config, env: &Env, f: impl FnOnce() -> Result<u8, MainError>) -> u8 {
    if let Err(e) = init_logging(config, env) {
        // Logging is not set up, so this goes to stderr.
        error!("{e}");
        return e.exit_code();
    }
    f().unwrap_or_else(|e| {
        error!("{e}");
        e.exit_code()
    })
}

/// Runs the command and returns the process exit code. Reports go to `out`;
/// logs and errors to the log.
pub fn run(config: &Config, env: &Env, clock: Clock, out: &mut dyn Write) -> u8 {
    match &config.command {
        Command::Help(topic) => {
            let _ = out.write_all(cli::help(*topic).as_bytes());
            exit::OK
        }
        Command::Version => {
            let commit = match COMMIT {
                "unknown commit" => COMMIT.to_string(),
                c => format!("commit {c}"),
            };
            let _ = writeln!(out, "vpc-router {} ({commit})", crate::VERSION);
            exit::OK
        }
        Command::Completions(shell) => {
            let _ = out.write_all(cli::generate::completions(*shell).as_bytes());
            exit::OK
        }
        Command::Man => {
            let _ = out.write_all(cli::generate::man().as_bytes());
            exit::OK
        }
        Command::Daemon(args) => logged(config, env, || daemon::run(config, args, env, clock)),
        Command::Reconcile(args) => logged(config, env, || {
            reconcile_command(config, args, env, clock, out)
        }),
        Command::Route(args) => {
            if let Err(e) = init_logging(config, env) {
                // Logging is not set up, so this goes to stderr.
                error!("{e}");
                return e.exit_code();
            }
            match route_command(config, args, env, clock, out) {
                Ok(code) => code,
                Err(e) => {
                    error!("{e}");
                    if config.output == Output::Json {
                        let doc = serde_json::json!({
                            "status": "error",
                            "exit_code": e.exit_code(),
                            "error": e.to_string(),
                        });
                        let _ = writeln!(out, "{doc:#}");
                    }
                    e.exit_code()
                }
            }
        }
    }
}

fn route_command(
    config: &Config,
    args: &RouteArgs,
    env: &Env,
    clock: Clock,
    out: &mut dyn Write,
) -> Result<u8, MainError> {
    let resolved = resolve(config, env, clock)?;
    let router_ip = match args.ip {
        None => None,
        Some(RouterIp::Address(ip)) => Some(ip),
        Some(RouterIp::ThisInstance) => {
            let imds = resolved.imds.as_deref().ok_or_else(|| {
                MainError::Setup(
                    "--ip self: instance metadata is disabled (AWS_EC2_METADATA_DISABLED), so \
                     this instance's IP cannot be read; give the router's IP instead"
                        .into(),
                )
            })?;
            let ip = imds.local_ipv4().map_err(MainError::SelfIp)?;
            debug!("--ip self is {ip} (instance metadata local-ipv4)");
            Some(ip)
        }
    };
    let req = RouteRequest {
        op: args.op,
        vpc: resolved.vpc.clone(),
        cidr: args.cidr,
        router_ip,
        tables: args.route_tables.clone(),
        force: args.force,
        dry_run: args.dry_run,
    };
    // The one-shot's calls go side by side (a few scoped threads that end
    // with the command); the daemon's workers call `route::execute`.
    let tag = args.route_table_tag.as_ref();
    let report = route::execute_parallel(&resolved.ec2, &req, tag, route::PARALLEL)
        .map_err(MainError::Route)?;
    for w in &report.warnings {
        warn!("{w}");
    }
    for t in &report.tables {
        if let route::Outcome::Failed(e) = t.outcome.settled() {
            error!("{}: {e}", t.table);
        }
    }
    let text = match config.output {
        Output::Text => route::report::text(&report),
        Output::Json => format!("{:#}\n", route::report::json(&report)),
    };
    let _ = out.write_all(text.as_bytes());
    Ok(exit_code_for(report.verdict()))
}

/// `plan` / `apply -f SPEC`: one reconcile pass.
fn reconcile_command(
    config: &Config,
    args: &config::ReconcileArgs,
    env: &Env,
    clock: Clock,
    out: &mut dyn Write,
) -> Result<u8, MainError> {
    use reconcile::{pass, report};
    let spec = spec::read_file(&args.spec_file).map_err(MainError::Setup)?;
    let store = match &args.state_dir {
        Some(dir) => Some(state::StateDir::open(dir).map_err(|e| MainError::Setup(e.to_string()))?),
        None => None,
    };
    let owned = match &store {
        Some(s) => s
            .load_owned()
            .map_err(|e| MainError::Setup(e.to_string()))?,
        None => std::collections::BTreeSet::new(),
    };
    let resolved = resolve(config, env, clock.clone())?;
    let seen = pass::observe(&resolved.ec2, &resolved.vpc, &spec, &args.scope)
        .map_err(MainError::Route)?;
    let plan = pass::plan_for(
        &spec,
        &seen,
        &owned,
        &reconcile::plan::ALL_HEALTHY,
        &args.options,
    );
    let scope = report::Scope {
        vpc: &resolved.vpc,
        tables: seen.tables.len(),
        cidrs: spec.len(),
    };
    // Fixes first: a router forwards before routes point at it. Every
    // call is paced by EC2's own budget, so that a large apply does not
    // draw a storm of RequestLimitExceeded.
    let budget = std::sync::Mutex::new(reconcile::budget::Budget::ec2_default(clock.mono()));
    let pace =
        || reconcile::budget::take_paced(&budget, reconcile::budget::CallKind::Mutate, &clock);
    // What owned.json says now.
    let mut recorded = owned.clone();
    if let (true, Some(store)) = (args.apply, &store) {
        // Write-ahead: what the changes will create is recorded before the
        // first call, so that no route exists that nothing records.
        let intent = pass::owned_before(&owned, &plan.changes);
        if intent != recorded {
            store.save_owned(&intent).map_err(|e| {
                MainError::Setup(format!(
                    "{e}; nothing was changed: vpc-router records which routes it manages \
                     before it creates them"
                ))
            })?;
            recorded = intent;
        }
    }
    let done = args.apply.then(|| {
        (
            pass::fix(&resolved.ec2, &plan.fixes, &mut || pace()),
            pass::apply(
                &resolved.ec2,
                &plan.changes,
                &mut |_| {
                    pace();
                    true
                },
                &mut |a| match pass::applied_line(a) {
                    Ok(line) => info!("{line}"),
                    Err(line) => error!("{line}"),
                },
            ),
        )
    });
    let done = done
        .as_ref()
        .map(|(fixed, applied)| report::Done { fixed, applied });
    if let (Some(store), Some(done)) = (&store, &done) {
        // Released only now that the deletes are confirmed.
        let now_owned = pass::owned_after(&spec, &recorded, &owned, &plan.changes, done.applied);
        if now_owned != recorded {
            store.save_owned(&now_owned).map_err(|e| {
                MainError::Setup(format!(
                    "{e}; the routes were changed, but which ones vpc-router manages was not saved"
                ))
            })?;
        }
    }
    // The issues are in the report (as warning lines, or in "issues").
    let text = match config.output {
        Output::Text => report::text(&scope, &plan, done.as_ref()),
        Output::Json => format!("{:#}\n", report::json(&scope, &plan, done.as_ref())),
    };
    let _ = out.write_all(text.as_bytes());
    Ok(match &done {
        None if plan.changes.is_empty() && plan.fixes.is_empty() => exit::OK,
        None => exit::NOT_FOUND,
        Some(done) => match done.errors().next() {
            None => exit::OK,
            Some(e) if e.is_transport() => exit::NETWORK,
            Some(_) => exit::AWS,
        },
    })
}
