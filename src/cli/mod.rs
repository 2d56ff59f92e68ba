//! The command line: parses arguments with lexopt into a validated
//! [`Config`], or a [`ConfigError`] that names the argument and says what
//! would be right. Compatible with the original vpc-router's flags.

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

pub use crate::config::*;
use crate::route::Op;
use crate::types::{parse_ip, Cidr, RouteTableId};

/// The health flags as given, checked once the mode is known.
#[derive(Default)]
struct HealthFlags {
    health: Option<String>,
    plugins: Option<String>,
    tcp_port: Option<String>,
    interval: Option<String>,
    timeout: Option<String>,
    fall: Option<String>,
    rise: Option<String>,
    failback: bool,
    hold: Option<String>,
}

impl HealthFlags {
    /// The first flag that was given, for "does not go with" errors.
    fn given(&self) -> Option<&'static str> {
        if self.health.is_some() {
            return Some("--health");
        }
        if self.plugins.is_some() {
            return Some("--multi-plugins");
        }
        self.given_settings()
    }

    /// The first flag given that tunes the checks or failback.
    fn given_settings(&self) -> Option<&'static str> {
        [
            ("--tcp-check-port", self.tcp_port.is_some()),
            ("--check-interval", self.interval.is_some()),
            ("--check-timeout", self.timeout.is_some()),
            ("--fall", self.fall.is_some()),
            ("--rise", self.rise.is_some()),
            ("--failback", self.failback),
            ("--failback-hold", self.hold.is_some()),
        ]
        .into_iter()
        .find(|(_, g)| *g)
        .map(|(a, _)| a)
    }

    fn check(self) -> Result<HealthArgs, ConfigError> {
        use crate::health::{parse_kind, Kind, Settings};
        let name = self.health.as_deref().unwrap_or("none");
        let kind = parse_kind(name, self.plugins.as_deref()).map_err(|e| {
            let arg = if e.starts_with("--multi-plugins") {
                "--multi-plugins"
            } else {
                "--health"
            };
            err(arg, e.trim_start_matches(arg).trim_start())
        })?;
        if kind == Kind::None {
            if let Some(arg) = self.given_settings() {
                return Err(err(
                    arg,
                    "needs health checks; give --health tcp, icmp or multi as well",
                ));
            }
        }
        let count = |v: Option<String>, arg: &str, default: u32| -> Result<u32, ConfigError> {
            match v {
                None => Ok(default),
                Some(s) => match s.parse::<u32>() {
                    Ok(n) if (1..=100).contains(&n) => Ok(n),
                    _ => Err(err(
                        arg,
                        format!("'{s}' is not a count of checks from 1 to 100"),
                    )),
                },
            }
        };
        let d = Settings::default();
        let settings = Settings {
            interval: match &self.interval {
                None => d.interval,
                Some(s) => seconds("--check-interval", s)?,
            },
            timeout: match &self.timeout {
                None => d.timeout,
                Some(s) => seconds("--check-timeout", s)?,
            },
            fall: count(self.fall, "--fall", d.fall)?,
            rise: count(self.rise, "--rise", d.rise)?,
            tcp_port: match &self.tcp_port {
                None => d.tcp_port,
                Some(s) => match s.parse::<u16>() {
                    Ok(p) if p > 0 => p,
                    _ => {
                        return Err(err(
                            "--tcp-check-port",
                            format!("'{s}' is not a port from 1 to 65535"),
                        ))
                    }
                },
            },
            threads: d.threads,
        };
        let failback =
            match (self.failback, &self.hold) {
                (false, Some(_)) => return Err(err(
                    "--failback-hold",
                    "only goes with --failback (without it, routes never go back by themselves)",
                )),
                (false, None) => None,
                (true, None) => Some(DEFAULT_FAILBACK_HOLD),
                (true, Some(s)) => Some(seconds("--failback-hold", s)?),
            };
        Ok(HealthArgs {
            kind,
            settings,
            failback,
        })
    }
}

/// A bad command line. `arg` names the argument at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub arg: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.arg.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.arg, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn err(arg: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        arg: arg.to_string(),
        message: message.into(),
    }
}

/// Sets a single-valued option, refusing a second, different value: with
/// two regions on one command line, neither guess would be safe.
fn set_once<T: PartialEq>(slot: &mut Option<T>, value: T, arg: &str) -> Result<(), ConfigError> {
    match slot {
        Some(old) if *old != value => {
            Err(err(arg, "given twice with different values; give it once"))
        }
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn seconds(arg: &str, s: &str) -> Result<Duration, ConfigError> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(err(
            arg,
            format!("'{s}' is not a number of seconds between 0 and 3600 (e.g. 2.5)"),
        )),
    }
}

/// Parses the command line (without the program name).
pub fn parse<I>(args: I) -> Result<Config, ConfigError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut cmd: Option<String> = None;
    let mut cidr: Option<String> = None;
    let mut ip: Option<String> = None;
    let mut region: Option<String> = None;
    let mut vpc: Option<String> = None;
    let mut endpoint: Option<String> = None;
    let mut profile: Option<String> = None;
    let mut output: Option<String> = None;
    let mut logfile: Option<String> = None;
    let mut connect_timeout: Option<String> = None;
    let mut timeout: Option<String> = None;
    let mut address: Option<String> = None;
    let mut port: Option<String> = None;
    let mut workers: Option<String> = None;
    let mut token_file: Option<String> = None;
    let mut max_connections: Option<String> = None;
    let mut subcommand: Option<String> = None;
    let mut spec_file: Option<String> = None;
    let mut state_dir: Option<String> = None;
    let mut route_limit: Option<String> = None;
    let mut ignore: Vec<Cidr> = Vec::new();
    let mut prune = false;
    let mut fix_sdc = false;
    let mut hf = HealthFlags::default();
    let mut mode: Option<String> = None;
    let mut recheck: Option<String> = None;
    let mut tag: Option<String> = None;
    let mut request_timeout: Option<String> = None;
    let mut tables: Vec<RouteTableId> = Vec::new();
    let (mut force, mut dry_run, mut verbose, mut help, mut version) =
        (false, false, false, false, false);
    let (mut daemon, mut insecure_no_auth) = (false, false);

    let value = |parser: &mut lexopt::Parser, arg: &str| -> Result<String, ConfigError> {
        let v = parser.value().map_err(|_| err(arg, "needs a value"))?;
        v.into_string()
            .map_err(|v| err(arg, format!("{v:?} is not valid UTF-8")))
    };

    loop {
        let next = parser
            .next()
            .map_err(|e| err("", format!("{e}; run 'vpc-router --help' for usage")))?;
        let Some(arg) = next else { break };
        match arg {
            Short('c') | Long("cmd") => {
                set_once(&mut cmd, value(&mut parser, "-c/--cmd")?, "-c/--cmd")?
            }
            Short('C') | Long("CIDR") | Long("cidr") => {
                set_once(&mut cidr, value(&mut parser, "-C/--CIDR")?, "-C/--CIDR")?
            }
            Short('i') | Long("ip") => {
                set_once(&mut ip, value(&mut parser, "-i/--ip")?, "-i/--ip")?
            }
            Short('r') | Long("region") => set_once(
                &mut region,
                value(&mut parser, "-r/--region")?,
                "-r/--region",
            )?,
            Short('v') | Long("vpc") => {
                set_once(&mut vpc, value(&mut parser, "-v/--vpc")?, "-v/--vpc")?
            }
            Long("endpoint-url") => set_once(
                &mut endpoint,
                value(&mut parser, "--endpoint-url")?,
                "--endpoint-url",
            )?,
            Long("profile") => {
                set_once(&mut profile, value(&mut parser, "--profile")?, "--profile")?
            }
            Long("output") => set_once(&mut output, value(&mut parser, "--output")?, "--output")?,
            Short('l') | Long("logfile") => set_once(
                &mut logfile,
                value(&mut parser, "-l/--logfile")?,
                "-l/--logfile",
            )?,
            Long("connect-timeout") => set_once(
                &mut connect_timeout,
                value(&mut parser, "--connect-timeout")?,
                "--connect-timeout",
            )?,
            Long("timeout") => {
                set_once(&mut timeout, value(&mut parser, "--timeout")?, "--timeout")?
            }
            Long("route-table") => {
                let v = value(&mut parser, "--route-table")?;
                let id: RouteTableId = v
                    .parse()
                    .map_err(|e: crate::types::ParseError| err("--route-table", e.0))?;
                if !tables.contains(&id) {
                    tables.push(id);
                }
            }
            Short('d') | Long("daemon") => daemon = true,
            Short('a') | Long("address") => set_once(
                &mut address,
                value(&mut parser, "-a/--address")?,
                "-a/--address",
            )?,
            Short('p') | Long("port") => {
                set_once(&mut port, value(&mut parser, "-p/--port")?, "-p/--port")?
            }
            Long("workers") => {
                set_once(&mut workers, value(&mut parser, "--workers")?, "--workers")?
            }
            Long("auth-token-file") => set_once(
                &mut token_file,
                value(&mut parser, "--auth-token-file")?,
                "--auth-token-file",
            )?,
            Long("insecure-no-auth") => insecure_no_auth = true,
            Long("max-connections") => set_once(
                &mut max_connections,
                value(&mut parser, "--max-connections")?,
                "--max-connections",
            )?,
            Long("request-timeout") => set_once(
                &mut request_timeout,
                value(&mut parser, "--request-timeout")?,
                "--request-timeout",
            )?,
            Long("force") => force = true,
            Long("dry-run") => dry_run = true,
            Long("verbose") => verbose = true,
            Short('h') | Long("help") => help = true,
            Short('V') | Long("version") => version = true,
            Value(v) if subcommand.is_none() && (v == "plan" || v == "apply") => {
                subcommand = Some(v.to_string_lossy().into_owned());
            }
            Value(v) => {
                let v = v.to_string_lossy();
                let why = "commands are given with -c/--cmd (add, show, del), -d (daemon), \
                           or as plan/apply -f SPEC";
                return Err(err("", format!("unexpected argument {v:?}; {why}")));
            }
            Short('f') | Long("file") => set_once(
                &mut spec_file,
                value(&mut parser, "-f/--file")?,
                "-f/--file",
            )?,
            Long("state-dir") => set_once(
                &mut state_dir,
                value(&mut parser, "--state-dir")?,
                "--state-dir",
            )?,
            Long("route-limit") => set_once(
                &mut route_limit,
                value(&mut parser, "--route-limit")?,
                "--route-limit",
            )?,
            Long("prune") => prune = true,
            Long("fix-source-dest-check") => fix_sdc = true,
            Long("health") => {
                set_once(&mut hf.health, value(&mut parser, "--health")?, "--health")?
            }
            Long("multi-plugins") => set_once(
                &mut hf.plugins,
                value(&mut parser, "--multi-plugins")?,
                "--multi-plugins",
            )?,
            Long("tcp-check-port") => set_once(
                &mut hf.tcp_port,
                value(&mut parser, "--tcp-check-port")?,
                "--tcp-check-port",
            )?,
            Long("check-interval") => set_once(
                &mut hf.interval,
                value(&mut parser, "--check-interval")?,
                "--check-interval",
            )?,
            Long("check-timeout") => set_once(
                &mut hf.timeout,
                value(&mut parser, "--check-timeout")?,
                "--check-timeout",
            )?,
            Long("fall") => set_once(&mut hf.fall, value(&mut parser, "--fall")?, "--fall")?,
            Long("rise") => set_once(&mut hf.rise, value(&mut parser, "--rise")?, "--rise")?,
            Long("failback") => hf.failback = true,
            Long("failback-hold") => set_once(
                &mut hf.hold,
                value(&mut parser, "--failback-hold")?,
                "--failback-hold",
            )?,
            Short('m') | Long("mode") => {
                set_once(&mut mode, value(&mut parser, "-m/--mode")?, "-m/--mode")?
            }
            Long("route-recheck-interval") => set_once(
                &mut recheck,
                value(&mut parser, "--route-recheck-interval")?,
                "--route-recheck-interval",
            )?,
            Long("route-table-tag") => set_once(
                &mut tag,
                value(&mut parser, "--route-table-tag")?,
                "--route-table-tag",
            )?,
            Long("ignore-routes") => {
                let v = value(&mut parser, "--ignore-routes")?;
                for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let c: Cidr = part
                        .parse()
                        .map_err(|e: crate::types::ParseError| err("--ignore-routes", e.0))?;
                    if !ignore.contains(&c) {
                        ignore.push(c);
                    }
                }
            }
            other => {
                return Err(err(
                    "",
                    format!("{}; run 'vpc-router --help' for usage", other.unexpected()),
                ))
            }
        }
    }

    let output = match output.as_deref() {
        None | Some("text") => Output::Text,
        Some("json") => Output::Json,
        Some(o) => {
            return Err(err(
                "--output",
                format!("'{o}' is not an output format; expected text or json"),
            ))
        }
    };
    let log = match logfile.as_deref() {
        None | Some("-") => LogTarget::Stderr,
        Some(p) => LogTarget::File(PathBuf::from(p)),
    };
    let mut aws = AwsArgs::default();
    if let Some(r) = region {
        aws.region = Some(
            r.parse()
                .map_err(|e: crate::types::ParseError| err("-r/--region", e.0))?,
        );
    }
    if let Some(v) = vpc {
        aws.vpc = Some(
            v.parse()
                .map_err(|e: crate::types::ParseError| err("-v/--vpc", e.0))?,
        );
    }
    if let Some(url) = endpoint {
        let ok = (url.starts_with("http://") || url.starts_with("https://"))
            && url
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
        if !ok {
            return Err(err(
                "--endpoint-url",
                format!("'{url}' is not an http:// or https:// URL (e.g. http://127.0.0.1:5000)"),
            ));
        }
        aws.endpoint_url = Some(url);
    }
    if let Some(p) = profile {
        if p.trim().is_empty() {
            return Err(err("--profile", "needs a profile name"));
        }
        aws.profile = Some(p);
    }
    if let Some(s) = connect_timeout {
        aws.connect_timeout = seconds("--connect-timeout", &s)?;
    }
    if let Some(s) = timeout {
        aws.timeout = seconds("--timeout", &s)?;
    }

    let daemon_only = [
        ("-a/--address", address.is_some()),
        ("-p/--port", port.is_some()),
        ("--workers", workers.is_some()),
        ("--auth-token-file", token_file.is_some()),
        ("--insecure-no-auth", insecure_no_auth),
        ("--max-connections", max_connections.is_some()),
        ("--request-timeout", request_timeout.is_some()),
    ];
    let reconcile_only = [
        ("-f/--file", spec_file.is_some()),
        ("--state-dir", state_dir.is_some()),
        ("--route-limit", route_limit.is_some()),
        ("--prune", prune),
        ("--fix-source-dest-check", fix_sdc),
        ("--ignore-routes", !ignore.is_empty()),
        ("--route-table-tag", tag.is_some()),
    ];
    let options = |route_limit: Option<String>,
                   prune: bool,
                   ignore: Vec<Cidr>|
     -> Result<crate::reconcile::plan::Options, ConfigError> {
        let route_limit = match route_limit {
            None => DEFAULT_ROUTE_LIMIT,
            Some(l) => l.parse().map_err(|_| {
                err(
                    "--route-limit",
                    format!("'{l}' is not a number of routes (0 turns the check off)"),
                )
            })?,
        };
        if !ignore.is_empty() && !prune {
            return Err(err(
                "--ignore-routes",
                "only protects ranges from --prune; give --prune too, or leave it out",
            ));
        }
        Ok(crate::reconcile::plan::Options {
            prune,
            ignore,
            route_limit,
            fix_source_dest_check: fix_sdc,
        })
    };
    let scope =
        |tables: Vec<RouteTableId>, tag: Option<String>| -> Result<TableScope, ConfigError> {
            let tag = match tag {
                None => None,
                Some(t) => match t.split_once('=') {
                    Some((k, v)) if !k.is_empty() => Some((k.to_string(), v.to_string())),
                    _ => {
                        return Err(err(
                            "--route-table-tag",
                            format!(
                                "'{t}' is not Key=Value; e.g. --route-table-tag vpc-router=managed"
                            ),
                        ))
                    }
                },
            };
            Ok(TableScope { tables, tag })
        };
    // -d -m: the daemon reconciling a spec, where the spec flags belong.
    let spec_mode = daemon && mode.is_some();
    let command = if help {
        Command::Help
    } else if version {
        Command::Version
    } else if let Some(sub) = subcommand {
        let other = [
            ("-c/--cmd", cmd.is_some()),
            ("-C/--CIDR", cidr.is_some()),
            ("-i/--ip", ip.is_some()),
            ("-d/--daemon", daemon),
            ("-m/--mode", mode.is_some()),
            ("--route-recheck-interval", recheck.is_some()),
            ("--force", force),
            ("--dry-run", dry_run),
        ];
        if let Some((arg, _)) = other.iter().chain(&daemon_only).find(|(_, given)| *given) {
            return Err(err(
                arg,
                format!("does not go with {sub}, which takes the routes from the spec (-f)"),
            ));
        }
        if let Some(arg) = hf.given() {
            return Err(err(
                arg,
                format!(
                    "does not go with {sub}, which runs once; health checks and failover run \
                     in the daemon (-d -m)"
                ),
            ));
        }
        let spec_file = spec_file.ok_or_else(|| {
            err(
                "-f/--file",
                format!("missing; {sub} needs the route spec, e.g. {sub} -f spec.json"),
            )
        })?;
        Command::Reconcile(ReconcileArgs {
            apply: sub == "apply",
            spec_file: PathBuf::from(spec_file),
            scope: scope(tables, tag)?,
            options: options(route_limit, prune, ignore)?,
            state_dir: state_dir.map(PathBuf::from),
        })
    } else if let Some((arg, _)) = reconcile_only
        .iter()
        .find(|(_, given)| *given && !spec_mode)
    {
        return Err(err(
            arg,
            "only goes with plan, apply, or -d -m (desired-state routing)",
        ));
    } else if recheck.is_some() && !spec_mode {
        return Err(err(
            "--route-recheck-interval",
            "only goes with -d -m (desired-state routing)",
        ));
    } else if let Some(arg) = hf.given().filter(|_| !spec_mode) {
        return Err(err(
            arg,
            "only goes with -d -m (failover keeps the routes of a route spec)",
        ));
    } else if daemon {
        let spec = match mode {
            Some(m) => {
                let source = match m.as_str() {
                    "configfile" => SpecSource::File(PathBuf::from(spec_file.ok_or_else(|| {
                        err(
                            "-f/--file",
                            "missing; -m configfile needs the spec file to watch, e.g. -f /etc/vpc-router/spec.json",
                        )
                    })?)),
                    "http" => {
                        if spec_file.is_some() {
                            return Err(err(
                                "-f/--file",
                                "does not go with -m http, where the spec comes from POST /route_spec; \
                                 use -m configfile to read it from a file",
                            ));
                        }
                        SpecSource::Http
                    }
                    other => {
                        return Err(err(
                            "-m/--mode",
                            format!("unknown mode '{other}'; expected configfile or http"),
                        ))
                    }
                };
                let state_dir = state_dir.ok_or_else(|| {
                    err(
                        "--state-dir",
                        format!(
                            "missing; -m {m} needs a directory to remember which routes vpc-router \
                             manages (and, with http, the spec), e.g. --state-dir /var/lib/vpc-router"
                        ),
                    )
                })?;
                let recheck = match recheck {
                    None => Some(DEFAULT_RECHECK),
                    Some(r) => match r.parse::<f64>() {
                        Ok(0.0) => None,
                        Ok(v) if v > 0.0 && v <= 86400.0 => Some(Duration::from_secs_f64(v)),
                        _ => {
                            return Err(err(
                                "--route-recheck-interval",
                                format!("'{r}' is not a number of seconds from 0 (off) to 86400"),
                            ))
                        }
                    },
                };
                Some(SpecSettings {
                    source,
                    state_dir: PathBuf::from(state_dir),
                    scope: scope(tables.clone(), tag)?,
                    options: options(route_limit, prune, ignore)?,
                    recheck,
                    health: hf.check()?,
                })
            }
            None => None,
        };
        let mut d = daemon_flags(
            (address, port, workers, token_file, insecure_no_auth),
            tables,
            (max_connections, request_timeout),
            (
                cmd.is_some(),
                cidr.is_some(),
                ip.is_some(),
                force,
                dry_run,
                output,
            ),
        )?;
        d.spec = spec;
        Command::Daemon(Box::new(d))
    } else if mode.is_some() {
        return Err(err(
            "-m/--mode",
            "only goes with -d (daemon mode): -d -m configfile|http",
        ));
    } else {
        if let Some((arg, _)) = daemon_only.iter().find(|(_, given)| *given) {
            return Err(err(arg, "only goes with -d (daemon mode)"));
        }
        let op = match cmd.as_deref() {
            Some("add") => Op::Add,
            Some("show") => Op::Show,
            Some("del") => Op::Del,
            Some(c) => {
                return Err(err(
                    "-c/--cmd",
                    format!("unknown command '{c}'; expected add, show or del"),
                ))
            }
            None => {
                return Err(err(
                    "-c/--cmd",
                    "missing; give a command: -c add, -c show or -c del (or --help)",
                ))
            }
        };
        let cidr = cidr.ok_or_else(|| {
            err(
                "-C/--CIDR",
                "missing; give the destination, e.g. --CIDR 10.55.0.0/16",
            )
        })?;
        let cidr: Cidr = cidr
            .parse()
            .map_err(|e: crate::types::ParseError| err("-C/--CIDR", e.0))?;
        let ip = match (op, ip) {
            (Op::Add, None) => {
                return Err(err(
                    "-i/--ip",
                    "missing; add needs the router's IP, e.g. --ip 10.33.20.142",
                ))
            }
            (Op::Add, Some(s)) => Some(parse_ip(&s).map_err(|e| err("-i/--ip", e.0))?),
            (_, Some(_)) => {
                return Err(err(
                    "-i/--ip",
                    format!(
                        "only add takes a router IP; leave it out for {}",
                        op.as_str()
                    ),
                ))
            }
            (_, None) => None,
        };
        if force && op == Op::Show {
            return Err(err(
                "--force",
                "show changes nothing; --force goes with add or del",
            ));
        }
        if dry_run && op == Op::Show {
            return Err(err(
                "--dry-run",
                "show changes nothing; --dry-run goes with add or del",
            ));
        }
        Command::Route(RouteArgs {
            op,
            cidr,
            ip,
            route_tables: tables,
            force,
            dry_run,
        })
    };
    Ok(Config {
        command,
        aws,
        output,
        verbose,
        log,
    })
}

type Listen = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);
type OneShot = (bool, bool, bool, bool, bool, Output);

/// The daemon's own flags, checked; one-shot flags are refused.
fn daemon_flags(
    (address, port, workers, token_file, insecure_no_auth): Listen,
    tables: Vec<RouteTableId>,
    (max_connections, request_timeout): (Option<String>, Option<String>),
    (cmd, cidr, ip, force, dry_run, output): OneShot,
) -> Result<DaemonArgs, ConfigError> {
    let one_shot = [
        ("-c/--cmd", cmd),
        ("-C/--CIDR", cidr),
        ("-i/--ip", ip),
        ("--force", force),
        ("--dry-run", dry_run),
        ("--output", output != Output::Text),
    ];
    if let Some((arg, _)) = one_shot.iter().find(|(_, given)| *given) {
        return Err(err(
            arg,
            "belongs to a one-shot command, not to -d; the daemon takes \
             the route, CIDR and options in each API request",
        ));
    }
    let mut d = daemon_args(address, port, workers, token_file, insecure_no_auth, tables)?;
    if let Some(m) = max_connections {
        d.max_connections = match m.parse::<usize>() {
            Ok(n) if (1..=1024).contains(&n) => n,
            _ => {
                return Err(err(
                    "--max-connections",
                    format!("'{m}' is not a number of connections from 1 to 1024"),
                ))
            }
        };
    }
    if let Some(t) = request_timeout {
        d.request_timeout = seconds("--request-timeout", &t)?;
    }
    Ok(d)
}

fn daemon_args(
    address: Option<String>,
    port: Option<String>,
    workers: Option<String>,
    token_file: Option<String>,
    insecure_no_auth: bool,
    route_tables: Vec<RouteTableId>,
) -> Result<DaemonArgs, ConfigError> {
    let address = match address.as_deref() {
        None | Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(a) => parse_ip(a).map_err(|_| {
            err(
                "-a/--address",
                format!("'{a}' is not an IP address to listen on; e.g. 127.0.0.1 or 0.0.0.0"),
            )
        })?,
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p.parse().map_err(|_| {
            err(
                "-p/--port",
                format!("'{p}' is not a port; expected 1 to 65535 (0: any free port)"),
            )
        })?,
    };
    let workers = match workers {
        None => DEFAULT_WORKERS,
        Some(w) => match w.parse::<usize>() {
            Ok(n) if (1..=MAX_WORKERS).contains(&n) => n,
            _ => {
                return Err(err(
                    "--workers",
                    format!("'{w}' is not a number of worker threads from 1 to {MAX_WORKERS}"),
                ))
            }
        },
    };
    if token_file.is_some() && insecure_no_auth {
        return Err(err(
            "--insecure-no-auth",
            "contradicts --auth-token-file; give one of them",
        ));
    }
    if token_file.is_none() && !insecure_no_auth && !address.is_loopback() {
        return Err(err(
            "-a/--address",
            format!(
                "{address} is reachable from other hosts, and anyone who reaches the API \
                 can change routes; give --auth-token-file FILE (clients then send \
                 'Authorization: Bearer <token>'), or --insecure-no-auth to serve \
                 without authentication anyway"
            ),
        ));
    }
    Ok(DaemonArgs {
        address,
        port,
        workers,
        auth_token_file: token_file.map(PathBuf::from),
        route_tables,
        max_connections: DEFAULT_MAX_CONNECTIONS,
        request_timeout: DEFAULT_REQUEST_TIMEOUT,
        spec: None,
    })
}

/// `--help`.
pub const HELP: &str = "\
vpc-router: set, show and delete a route (a destination CIDR and the EC2
instance that should receive its packets) in every route table of a VPC.

USAGE
  vpc-router [-r REGION] [-v VPC] -c add  --CIDR CIDR --ip IP [options]
  vpc-router [-r REGION] [-v VPC] -c show --CIDR CIDR [options]
  vpc-router [-r REGION] [-v VPC] -c del  --CIDR CIDR [options]
  vpc-router [-r REGION] [-v VPC] -d [-a ADDRESS] [-p PORT] [options]
  vpc-router [-r REGION] [-v VPC] plan|apply -f SPEC [options]

EXAMPLES
  vpc-router -r us-east-1 -v vpc-350d6a51 -c add  --CIDR 10.55.0.0/16 --ip 10.33.20.142
  vpc-router -r us-east-1 -v vpc-350d6a51 -c show --CIDR 10.55.0.0/16
  vpc-router -r us-east-1 -v vpc-350d6a51 -c del  --CIDR 10.55.0.0/16 --dry-run
  vpc-router -r us-east-1 -v vpc-350d6a51 -d
  curl -X POST http://127.0.0.1:33289/route -d '{\"dst_cidr\": \"10.55.0.0/16\", \"router_ip\": \"10.33.20.142\"}'

COMMAND
  -c, --cmd add|show|del   add: point the CIDR at the router's network
                           interface in every table (creates or replaces;
                           idempotent). show: report the route per table.
                           del: delete the route from every table.
  -C, --CIDR CIDR          destination, IPv4 or IPv6 (10.55.0.0/16, 2001:db8::/56)
  -i, --ip IP              the router instance's private IP (add only)

ROUTE SPEC (desired state)
  plan -f SPEC             print what would change in which table to match
                           the spec (a diff); change nothing. Exit 0 in
                           sync, 1 when there are changes to make
  apply -f SPEC            make every table match the spec, once. Exit 0 when
                           done, 3 (4: network) if some change failed
  -f, --file SPEC          the route spec: {\"CIDR\": [\"router IP\", ...], ...}
      --state-dir DIR      remember the CIDRs vpc-router manages, so that one
                           removed from the spec has its routes deleted
      --prune              also delete every instance/interface route that is
                           not in the spec
      --ignore-routes LIST CIDRs (comma-separated) --prune never touches
      --route-limit N      warn when a table would exceed N routes (default
                           500; 0: off)
      --fix-source-dest-check
                           turn source/destination check off on router
                           interfaces that have it on (else: a warning)
      --route-table-tag K=V  only tables with this tag (with --route-table:
                           both must hold)
  Global flags may come before or after plan/apply.

  The daemon keeps the tables matching a spec with -m, --mode:
  -d -m configfile -f SPEC --state-dir DIR
                           watch SPEC; apply each valid change within about
                           a second (a broken edit is logged and ignored)
  -d -m http --state-dir DIR
                           the spec comes from POST /route_spec and is kept
                           in DIR; POST/DELETE /route edit one entry
      --route-recheck-interval S
                           a full pass every S seconds (default 30; 0: off)
  --state-dir is required with -m; --prune, --ignore-routes, --route-limit,
  --fix-source-dest-check, --route-table and --route-table-tag apply as for
  apply.

HEALTH CHECKS AND FAILOVER (with -d -m)
      --health KIND        tcp, icmp, multi or none (default none: every
                           router is healthy)
      --multi-plugins LIST with --health multi: e.g. icmp:tcp; a router is
                           failed if any of them fails it
      --tcp-check-port N   port of the tcp check (default 22); a spec host
                           {\"ip\": ..., \"check\": \"HOST:PORT\"} overrides it
      --check-interval S   seconds between checks of a router (default 1;
                           fractions allowed, e.g. 0.2)
      --check-timeout S    seconds a check may take (default 0.5)
      --fall N             failed checks in a row that mark a router failed
                           (default 3)
      --rise N             good checks in a row that mark it healthy again
                           (default 2)
      --failback           let a recovered router take its routes back once
                           it has stayed healthy for --failback-hold S
                           (default 30); without it, routes stay where
                           they are until their router fails

DAEMON (the HTTP API: POST, GET, DELETE /route; GET /, /healthz, /metrics)
  -d, --daemon             serve the API instead of running one command
  -a, --address IP         address to listen on (default 127.0.0.1)
  -p, --port PORT          port to listen on (default 33289; 0: any free port)
      --workers N          threads that run route commands (default 4, max 64)
      --auth-token-file F  require 'Authorization: Bearer <token>' with the
                           token in F (needed for a non-loopback -a)
      --insecure-no-auth   serve a non-loopback -a without authentication
      --max-connections N  client connections served at once (default 32;
                           as many again may wait, beyond that: 503)
      --request-timeout S  seconds a client may take to send a request
                           (default 10; then 408 and the connection closes)
  SIGTERM or SIGINT stops the daemon: it finishes the requests in flight and
  exits 0 (1 if some were still running after 10 seconds).

AWS
  -r, --region REGION      default: AWS_REGION, AWS_DEFAULT_REGION, the
                           profile's region, then the instance's (IMDSv2)
  -v, --vpc VPC_ID         default: the VPC of the instance it runs on (IMDSv2)
      --profile NAME       shared config/credentials profile (default: AWS_PROFILE)
      --endpoint-url URL   EC2 endpoint (default: AWS_ENDPOINT_URL_EC2,
                           AWS_ENDPOINT_URL, https://ec2.REGION.amazonaws.com)
      --route-table RTB    only this table (repeatable; default: every table)
      --connect-timeout S  seconds to connect to EC2 (default 5)
      --timeout S          seconds for one EC2 request (default 30)
                           (AWS_MAX_ATTEMPTS sets the attempts per call, default 5)

BEHAVIOUR
      --dry-run            show what would change and ask EC2 (DryRun) whether
                           the calls would be allowed; change nothing
      --force              also replace/delete a route that targets a gateway
                           or is propagated (never the local route)
      --output text|json   report format on stdout (default text)
  -l, --logfile PATH|-     log to PATH instead of stderr (- is stderr)
      --verbose            debug logging: every EC2 call, its status and time
  -h, --help               this help
  -V, --version            the version

EXIT CODES
  0  success (for show: the route is in every table)
  1  the route is missing from at least one table (show, del)
  2  usage error or invalid input (bad argument, IP not in the VPC,
     unknown route table, no region or VPC)
  3  AWS API error (credentials, permissions, not found, throttled
     beyond retries), in at least one table
  4  network error: EC2 or a credentials endpoint could not be reached
  5  refused: a route vpc-router does not own (gateway, propagated, local)
     is at the CIDR in some table; see --force
";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Config, String> {
        parse(s.split_whitespace()).map_err(|e| e.to_string())
    }

    fn route(s: &str) -> RouteArgs {
        match parse_str(s).unwrap().command {
            Command::Route(r) => r,
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn the_original_command_lines_work() {
        let c =
            parse_str("-r us-east-1 -v vpc-350d6a51 -c add --CIDR 10.55.0.0/16 --ip 10.33.20.142")
                .unwrap();
        assert_eq!(c.aws.region.unwrap().as_str(), "us-east-1");
        assert_eq!(c.aws.vpc.unwrap().as_str(), "vpc-350d6a51");
        let r = route("-r us-east-1 -v vpc-350d6a51 -c add --CIDR 10.55.0.0/16 --ip 10.33.20.142");
        assert_eq!(
            (r.op, r.cidr.to_string(), r.ip.unwrap().to_string()),
            (Op::Add, "10.55.0.0/16".into(), "10.33.20.142".into())
        );
        assert_eq!(route("-c show --CIDR 10.55.0.0/16").op, Op::Show);
        assert_eq!(route("-c del --CIDR 10.55.0.0/16").op, Op::Del);
        // Long and short forms, and --opt=value.
        let r =
            route("--region=eu-west-1 --vpc vpc-350d6a51 --cmd add -C 2001:db8::/56 -i fd00::1");
        assert_eq!(r.cidr.to_string(), "2001:db8::/56");
        assert_eq!(route("-cdel --cidr=10.55.0.0/16").op, Op::Del);
    }

    #[test]
    fn options() {
        let c = parse_str(
            "-c del -C 10.55.0.0/16 --route-table rtb-0a1b2c3d --route-table rtb-1a2b3c4d --route-table rtb-0a1b2c3d \
             --dry-run --force --output json -l /tmp/x.log --verbose --profile prod \
             --endpoint-url http://127.0.0.1:5000 --connect-timeout 0.5 --timeout 10",
        )
        .unwrap();
        let Command::Route(r) = &c.command else {
            panic!()
        };
        assert_eq!(r.route_tables.len(), 2);
        assert!(r.dry_run && r.force && c.verbose);
        assert_eq!(c.output, Output::Json);
        assert_eq!(c.log, LogTarget::File("/tmp/x.log".into()));
        assert_eq!(c.aws.profile.as_deref(), Some("prod"));
        assert_eq!(c.aws.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(c.aws.connect_timeout, Duration::from_millis(500));
        assert_eq!(c.aws.timeout, Duration::from_secs(10));
        assert_eq!(
            parse_str("-c show -C 10.0.0.0/8 -l -").unwrap().log,
            LogTarget::Stderr
        );
    }

    #[test]
    fn help_and_version_need_nothing_else() {
        assert_eq!(parse_str("-h").unwrap().command, Command::Help);
        assert_eq!(parse_str("--help -c bogus").unwrap().command, Command::Help);
        assert_eq!(parse_str("-V").unwrap().command, Command::Version);
    }

    #[test]
    fn bad_input_names_the_argument_and_the_fix() {
        let cases = [
            ("-c add --CIDR 10.55.1.0/16 --ip 10.33.20.142", "-C/--CIDR: 10.55.1.0/16 has host bits set; did you mean 10.55.0.0/16?"),
            ("-c add --CIDR 10.55.0.0/16", "-i/--ip: missing; add needs the router's IP, e.g. --ip 10.33.20.142"),
            ("-c show --CIDR 10.55.0.0/16 --ip 10.1.1.1", "-i/--ip: only add takes a router IP; leave it out for show"),
            ("-c del --CIDR 10.55.0.0/16 --ip 10.1.1.1", "-i/--ip: only add takes a router IP; leave it out for del"),
            ("-c bogus --CIDR 10.55.0.0/16", "-c/--cmd: unknown command 'bogus'; expected add, show or del"),
            ("--CIDR 10.55.0.0/16", "-c/--cmd: missing; give a command: -c add, -c show or -c del (or --help)"),
            ("-c show", "-C/--CIDR: missing; give the destination, e.g. --CIDR 10.55.0.0/16"),
            ("-v vpc-xyz -c show -C 10.0.0.0/8", "-v/--vpc: 'vpc-xyz' is not a VPC ID; expected 'vpc-' followed by 8 or 17 hex digits, such as vpc-0a1b2c3d"),
            ("-r useast1 -c show -C 10.0.0.0/8", "-r/--region: 'useast1' is not an AWS region name; expected one such as us-east-1 or eu-central-1"),
            ("--route-table rtb-zz -c show -C 10.0.0.0/8", "--route-table: 'rtb-zz' is not a route table ID; expected 'rtb-' followed by 8 or 17 hex digits, such as rtb-0a1b2c3d"),
            ("-c add -C 10.0.0.0/8 --ip 10.1.1", "-i/--ip: '10.1.1' is not an IP address; expected an address such as 10.33.20.142"),
            ("-c show -C 10.0.0.0/8 --output yaml", "--output: 'yaml' is not an output format; expected text or json"),
            ("-c show -C 10.0.0.0/8 --timeout 0", "--timeout: '0' is not a number of seconds between 0 and 3600 (e.g. 2.5)"),
            ("-c show -C 10.0.0.0/8 --endpoint-url 127.0.0.1:5000", "--endpoint-url: '127.0.0.1:5000' is not an http:// or https:// URL (e.g. http://127.0.0.1:5000)"),
            ("-c show -C 10.0.0.0/8 -r us-east-1 -r us-west-2", "-r/--region: given twice with different values; give it once"),
            ("-c show -C 10.0.0.0/8 --force", "--force: show changes nothing; --force goes with add or del"),
            ("-c show -C 10.0.0.0/8 --dry-run", "--dry-run: show changes nothing; --dry-run goes with add or del"),
            ("-c show -C 10.0.0.0/8 extra", "unexpected argument \"extra\"; commands are given with -c/--cmd (add, show, del), -d (daemon), or as plan/apply -f SPEC"),
            ("-c show -C 10.0.0.0/8 --bogus", "invalid option '--bogus'; run 'vpc-router --help' for usage"),
            ("-c show -C", "-C/--CIDR: needs a value"),
        ];
        for (line, want) in cases {
            assert_eq!(parse_str(line).unwrap_err(), want, "{line}");
        }
    }

    fn daemon(s: &str) -> DaemonArgs {
        match parse_str(s).unwrap().command {
            Command::Daemon(d) => *d,
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn daemon_flags() {
        let d = daemon("-r us-east-1 -v vpc-350d6a51 -d");
        assert_eq!(
            (d.address.to_string(), d.port, d.workers),
            ("127.0.0.1".into(), 33289, 4)
        );
        assert_eq!(d.auth_token_file, None);
        let d = daemon(
            "-d -a 0.0.0.0 -p 8080 --workers 16 --auth-token-file /etc/vpc-router/token \
             --route-table rtb-0a1b2c3d",
        );
        assert_eq!(
            (d.address.to_string(), d.port, d.workers),
            ("0.0.0.0".into(), 8080, 16)
        );
        assert_eq!(
            d.auth_token_file.as_deref(),
            Some(std::path::Path::new("/etc/vpc-router/token"))
        );
        assert_eq!(d.route_tables.len(), 1);
        let d = daemon("-d --max-connections 2 --request-timeout 0.5");
        assert_eq!(
            (d.max_connections, d.request_timeout),
            (2, Duration::from_millis(500))
        );
        assert_eq!(daemon("-d -a ::1 -p 0").address.to_string(), "::1");
        assert_eq!(daemon("-d -a localhost").address.to_string(), "127.0.0.1");
        assert!(daemon("-d -a 10.0.0.5 --insecure-no-auth")
            .auth_token_file
            .is_none());
    }

    #[test]
    fn bad_daemon_flags_say_what_would_be_right() {
        let cases = [
            (
                "-d -a 0.0.0.0",
                "-a/--address: 0.0.0.0 is reachable from other hosts",
            ),
            (
                "-d -a 10.0.0.5",
                "-a/--address: 10.0.0.5 is reachable from other hosts",
            ),
            (
                "-d -a 0.0.0.0 --auth-token-file t --insecure-no-auth",
                "--insecure-no-auth: contradicts --auth-token-file",
            ),
            (
                "-d -a nowhere",
                "-a/--address: 'nowhere' is not an IP address to listen on",
            ),
            (
                "-d -p 70000",
                "-p/--port: '70000' is not a port; expected 1 to 65535",
            ),
            (
                "-d --workers 0",
                "--workers: '0' is not a number of worker threads from 1 to 64",
            ),
            ("-d --workers 65", "--workers: '65' is not a number"),
            (
                "-d --max-connections 0",
                "--max-connections: '0' is not a number of connections from 1 to 1024",
            ),
            (
                "-d --request-timeout x",
                "--request-timeout: 'x' is not a number of seconds",
            ),
            (
                "-d -c add",
                "-c/--cmd: belongs to a one-shot command, not to -d",
            ),
            (
                "-d -C 10.0.0.0/8",
                "-C/--CIDR: belongs to a one-shot command",
            ),
            ("-d --dry-run", "--dry-run: belongs to a one-shot command"),
            (
                "-d --output json",
                "--output: belongs to a one-shot command",
            ),
            (
                "-c show -C 10.0.0.0/8 -p 80",
                "-p/--port: only goes with -d (daemon mode)",
            ),
            (
                "-c show -C 10.0.0.0/8 --insecure-no-auth",
                "--insecure-no-auth: only goes with -d",
            ),
        ];
        for (line, want) in cases {
            let got = parse_str(line).unwrap_err();
            assert!(got.starts_with(want), "{line}: {got}");
        }
    }

    fn reconcile(s: &str) -> ReconcileArgs {
        match parse_str(s).unwrap().command {
            Command::Reconcile(r) => r,
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn plan_and_apply_with_flags_before_or_after() {
        let r = reconcile("plan -f spec.json");
        assert!(!r.apply);
        assert_eq!(r.spec_file, PathBuf::from("spec.json"));
        assert_eq!(r.options.route_limit, 500);
        let c = parse_str(
            "-r us-east-1 apply -v vpc-350d6a51 --file s.json --prune \
             --ignore-routes 10.0.0.0/8,192.168.0.0/16 --ignore-routes 10.0.0.0/8 \
             --state-dir /var/lib/vpc-router --route-limit 50 --route-table rtb-0a1b2c3d --output json",
        )
        .unwrap();
        assert_eq!(c.aws.vpc.unwrap().as_str(), "vpc-350d6a51");
        assert_eq!(c.output, Output::Json);
        let Command::Reconcile(r) = c.command else {
            panic!()
        };
        assert!(r.apply && r.options.prune);
        assert_eq!(r.options.ignore.len(), 2);
        assert_eq!(r.options.route_limit, 50);
        assert_eq!(r.scope.tables.len(), 1);
        assert_eq!(r.state_dir, Some(PathBuf::from("/var/lib/vpc-router")));
        let r = reconcile("plan -f s.json --route-table-tag vpc-router=managed");
        assert_eq!(
            r.scope.tag,
            Some(("vpc-router".to_string(), "managed".to_string()))
        );
    }

    #[test]
    fn daemon_spec_modes() {
        let d = daemon("-d -m configfile -f /etc/spec.json --state-dir /var/lib/vr");
        let s = d.spec.unwrap();
        assert_eq!(s.source, SpecSource::File("/etc/spec.json".into()));
        assert_eq!(s.state_dir, PathBuf::from("/var/lib/vr"));
        assert_eq!(s.recheck, Some(Duration::from_secs(30)));
        let d = daemon(
            "-d -m http --state-dir /s --route-recheck-interval 0 --prune --ignore-routes 10.0.0.0/8 \
             --route-limit 100 --route-table rtb-0a1b2c3d --route-table-tag k=v -p 0",
        );
        let s = d.spec.unwrap();
        assert_eq!(s.source, SpecSource::Http);
        assert_eq!(s.recheck, None);
        assert!(s.options.prune);
        assert_eq!(s.options.route_limit, 100);
        assert_eq!(s.scope.tables.len(), 1);
        assert_eq!(d.route_tables.len(), 1);
        assert_eq!(d.port, 0);
        assert_eq!(
            daemon("-d -m http --state-dir /s --route-recheck-interval 2.5")
                .spec
                .unwrap()
                .recheck,
            Some(Duration::from_millis(2500))
        );
        let cases = [
            (
                "-d -m configfile --state-dir /s",
                "-f/--file: missing; -m configfile needs the spec file",
            ),
            (
                "-d -m http -f s.json --state-dir /s",
                "-f/--file: does not go with -m http",
            ),
            (
                "-d -m http",
                "--state-dir: missing; -m http needs a directory",
            ),
            (
                "-d -m etcd --state-dir /s",
                "-m/--mode: unknown mode 'etcd'; expected configfile or http",
            ),
            (
                "-d -m http --state-dir /s --route-recheck-interval -1",
                "--route-recheck-interval: '-1' is not a number",
            ),
            (
                "-d -m http --state-dir /s --route-table-tag novalue",
                "--route-table-tag: 'novalue' is not Key=Value",
            ),
            (
                "-d -f s.json",
                "-f/--file: only goes with plan, apply, or -d -m",
            ),
            (
                "-d --state-dir /s",
                "--state-dir: only goes with plan, apply, or -d -m",
            ),
            (
                "-d --route-recheck-interval 5",
                "--route-recheck-interval: only goes with -d -m",
            ),
            (
                "-c show -C 10.0.0.0/8 -m http",
                "-m/--mode: only goes with -d",
            ),
            ("plan -f s.json -m http", "-m/--mode: does not go with plan"),
            (
                "-d -m http --state-dir /s -c add",
                "-c/--cmd: belongs to a one-shot command",
            ),
        ];
        for (line, want) in cases {
            let got = parse_str(line).unwrap_err();
            assert!(got.starts_with(want), "{line}: {got}");
        }
    }

    #[test]
    fn health_flags() {
        use crate::health::Kind;
        let h = |s: &str| {
            daemon(&format!("-d -m http --state-dir /s {s}"))
                .spec
                .unwrap()
                .health
        };
        let none = h("");
        assert_eq!(none.kind, Kind::None);
        assert_eq!(none.failback, None);
        let fast = h(
            "--health tcp --tcp-check-port 2201 --check-interval 0.2 --check-timeout 0.15 \
                      --fall 3 --rise 5 --failback --failback-hold 90",
        );
        assert_eq!(fast.kind, Kind::Tcp);
        assert_eq!(fast.settings.interval, Duration::from_millis(200));
        assert_eq!(fast.settings.timeout, Duration::from_millis(150));
        assert_eq!((fast.settings.fall, fast.settings.rise), (3, 5));
        assert_eq!(fast.settings.tcp_port, 2201);
        assert_eq!(fast.failback, Some(Duration::from_secs(90)));
        assert_eq!(
            h("--health tcp --failback").failback,
            Some(DEFAULT_FAILBACK_HOLD)
        );
        assert_eq!(
            h("--health multi --multi-plugins icmp:tcp").kind,
            Kind::Multi(vec![Kind::Icmp, Kind::Tcp])
        );
        let cases = [
            (
                "--health ping",
                "--health: 'ping' is not a health monitor; expected tcp, icmp",
            ),
            ("--health multi", "--health: multi needs --multi-plugins"),
            (
                "--health multi --multi-plugins icmp:http",
                "--multi-plugins: 'icmp:http': 'http'",
            ),
            ("--fall 3", "--fall: needs health checks; give --health tcp"),
            (
                "--health none --failback",
                "--failback: needs health checks",
            ),
            (
                "--health tcp --fall 0",
                "--fall: '0' is not a count of checks from 1 to 100",
            ),
            (
                "--health tcp --check-interval 0",
                "--check-interval: '0' is not a number of seconds",
            ),
            (
                "--health tcp --tcp-check-port 70000",
                "--tcp-check-port: '70000' is not a port",
            ),
            (
                "--health tcp --failback-hold 5",
                "--failback-hold: only goes with --failback",
            ),
        ];
        for (flags, want) in cases {
            let line = format!("-d -m http --state-dir /s {flags}");
            let got = parse_str(&line).unwrap_err();
            assert!(got.starts_with(want), "{line}: {got}");
        }
        let got = parse_str("-d --health tcp").unwrap_err();
        assert!(got.starts_with("--health: only goes with -d -m"), "{got}");
        let got = parse_str("apply -f s.json --health tcp").unwrap_err();
        assert!(got.starts_with("--health: does not go with apply"), "{got}");
    }

    #[test]
    fn bad_plan_and_apply_flags() {
        let cases = [
            (
                "apply",
                "-f/--file: missing; apply needs the route spec, e.g. apply -f spec.json",
            ),
            ("plan -f s.json -c add", "-c/--cmd: does not go with plan"),
            ("apply -f s.json -d", "-d/--daemon: does not go with apply"),
            ("apply -f s.json -p 80", "-p/--port: does not go with apply"),
            (
                "apply -f s.json --dry-run",
                "--dry-run: does not go with apply",
            ),
            (
                "apply -f s.json --ignore-routes 10.0.0.0/8",
                "--ignore-routes: only protects ranges from --prune",
            ),
            (
                "apply -f s.json --prune --ignore-routes 10.0.0.1/8",
                "--ignore-routes: 10.0.0.1/8 has host bits set",
            ),
            (
                "apply -f s.json --route-limit x",
                "--route-limit: 'x' is not a number of routes",
            ),
            (
                "-c show -C 10.0.0.0/8 -f s.json",
                "-f/--file: only goes with plan, apply, or -d -m",
            ),
            (
                "-c show -C 10.0.0.0/8 --prune",
                "--prune: only goes with plan, apply, or -d -m",
            ),
            ("plan apply -f s.json", "unexpected argument \"apply\""),
        ];
        for (line, want) in cases {
            let got = parse_str(line).unwrap_err();
            assert!(got.starts_with(want), "{line}: {got}");
        }
    }

    #[test]
    fn help_documents_every_flag_and_exit_code() {
        for flag in [
            "--cmd",
            "--CIDR",
            "--ip",
            "--region",
            "--vpc",
            "--profile",
            "--endpoint-url",
            "--route-table",
            "--connect-timeout",
            "--timeout",
            "--dry-run",
            "--force",
            "--output",
            "--logfile",
            "--verbose",
            "--help",
            "--version",
            "--daemon",
            "--address",
            "--port",
            "--workers",
            "--auth-token-file",
            "--insecure-no-auth",
            "--max-connections",
            "--request-timeout",
            "--file",
            "--state-dir",
            "--prune",
            "--ignore-routes",
            "--route-limit",
            "--route-table-tag",
            "--mode",
            "--route-recheck-interval",
            "--fix-source-dest-check",
            "--health",
            "--multi-plugins",
            "--tcp-check-port",
            "--check-interval",
            "--check-timeout",
            "--fall",
            "--rise",
            "--failback",
            "--failback-hold",
            "AWS_MAX_ATTEMPTS",
        ] {
            assert!(HELP.contains(flag), "{flag}");
        }
        for code in 0..=5 {
            assert!(HELP.contains(&format!("\n  {code}  ")), "exit code {code}");
        }
    }
}
