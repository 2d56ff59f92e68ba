//! Values into the validated [`Config`](crate::config::Config): each flag's
//! string is checked once and turned into its type, with an error that
//! names the flag and says what would be right. Runs after `rules` has
//! settled the command, so every flag read here goes with it.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::rules::{Context, Mode};
use super::tokens::{Given, Sub};
use super::{bad, ConfigError};
use crate::config::*;
use crate::route::Op;
use crate::types::{parse_ip, Cidr, ParseError, RouteTableId};

/// What every command shares: where AWS is, the output, the log.
pub struct Globals {
    pub aws: AwsArgs,
    pub output: Output,
    pub verbose: bool,
    pub log: LogTarget,
    pub log_format: LogFormat,
}

pub fn globals(g: &Given) -> Result<Globals, ConfigError> {
    // Checked first, and before --help, as when they were checked while
    // argv was read; each command checks them again where it uses them.
    tables(g)?;
    ignored(g)?;
    let output = match g.one("output") {
        None | Some("text") => Output::Text,
        Some("json") => Output::Json,
        Some(o) => {
            let hint = super::suggest::hint_words(o, &["text", "json"]);
            return Err(bad(
                "output",
                format!("'{o}' is not an output format; {hint}expected text or json"),
            ));
        }
    };
    let log = match g.one("logfile") {
        None | Some("-") => LogTarget::Stderr,
        Some(p) => LogTarget::File(PathBuf::from(p)),
    };
    let log_format = match g.one("log-format") {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(f) => {
            let hint = super::suggest::hint_words(f, &["text", "json"]);
            return Err(bad(
                "log-format",
                format!("'{f}' is not a log format; {hint}expected text or json"),
            ));
        }
    };
    Ok(Globals {
        aws: aws(g)?,
        output,
        verbose: g.has("verbose"),
        log,
        log_format,
    })
}

/// A value parsed by its type's `FromStr`, the error naming the flag.
fn typed<T: std::str::FromStr<Err = ParseError>>(long: &str, s: &str) -> Result<T, ConfigError> {
    s.parse().map_err(|e: ParseError| bad(long, e.0))
}

fn aws(g: &Given) -> Result<AwsArgs, ConfigError> {
    let mut aws = AwsArgs::default();
    if let Some(r) = g.one("region") {
        aws.region = Some(typed("region", r)?);
    }
    if let Some(v) = g.one("vpc") {
        aws.vpc = Some(typed("vpc", v)?);
    }
    if let Some(url) = g.one("endpoint-url") {
        crate::aws::check_url(url).map_err(|e| bad("endpoint-url", e))?;
        aws.endpoint_url = Some(url.to_string());
    }
    if let Some(p) = g.one("profile") {
        if p.trim().is_empty() {
            return Err(bad("profile", "needs a profile name"));
        }
        aws.profile = Some(p.to_string());
    }
    if let Some(s) = g.one("connect-timeout") {
        aws.connect_timeout = seconds("connect-timeout", s)?;
    }
    if let Some(s) = g.one("timeout") {
        aws.timeout = seconds("timeout", s)?;
    }
    Ok(aws)
}

/// The command `rules::settle` found, with its values checked.
pub fn command(g: &Given, ctx: Context) -> Result<Command, ConfigError> {
    Ok(match ctx {
        Context::Route(op) => Command::Route(route(g, op.expect("settled with -c"))?),
        Context::Reconcile(sub) => Command::Reconcile(reconcile(g, sub)?),
        Context::Daemon(mode) => Command::Daemon(Box::new(daemon(g, mode)?)),
    })
}

fn route(g: &Given, op: Op) -> Result<RouteArgs, ConfigError> {
    let cidr = g.one("CIDR").ok_or_else(|| {
        bad(
            "CIDR",
            "missing; give the destination, e.g. --CIDR 10.55.0.0/16",
        )
    })?;
    let cidr: Cidr = typed("CIDR", cidr)?;
    let ip = match (op, g.one("ip")) {
        (Op::Add, None) => {
            return Err(bad(
                "ip",
                "missing; add needs the router's IP, e.g. --ip 10.33.20.142",
            ))
        }
        (_, Some("self")) => Some(RouterIp::ThisInstance),
        (_, Some(s)) => Some(RouterIp::Address(parse_ip(s).map_err(|e| bad("ip", e.0))?)),
        (_, None) => None,
    };
    Ok(RouteArgs {
        op,
        cidr,
        ip,
        route_tables: tables(g)?,
        route_table_tag: tag(g)?,
        force: g.has("force"),
        dry_run: g.has("dry-run"),
    })
}

fn reconcile(g: &Given, sub: Sub) -> Result<ReconcileArgs, ConfigError> {
    let name = sub.as_str();
    let spec_file = g.one("file").ok_or_else(|| {
        bad(
            "file",
            format!("missing; {name} needs the route spec, e.g. {name} -f spec.json"),
        )
    })?;
    Ok(ReconcileArgs {
        apply: sub == Sub::Apply,
        spec_file: PathBuf::from(spec_file),
        scope: scope(g)?,
        options: options(g)?,
        state_dir: g.one("state-dir").map(PathBuf::from),
    })
}

/// `--route-table`, each checked, each once.
fn tables(g: &Given) -> Result<Vec<RouteTableId>, ConfigError> {
    let mut tables = Vec::new();
    for v in g.all("route-table") {
        let id: RouteTableId = typed("route-table", v)?;
        if !tables.contains(&id) {
            tables.push(id);
        }
    }
    Ok(tables)
}

/// `--route-table-tag Key=Value`.
fn tag(g: &Given) -> Result<Option<(String, String)>, ConfigError> {
    match g.one("route-table-tag") {
        None => Ok(None),
        Some(t) => match t.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(Some((k.to_string(), v.to_string()))),
            _ => Err(bad(
                "route-table-tag",
                format!("'{t}' is not Key=Value; e.g. --route-table-tag vpc-router=managed"),
            )),
        },
    }
}

fn scope(g: &Given) -> Result<TableScope, ConfigError> {
    Ok(TableScope {
        tables: tables(g)?,
        tag: tag(g)?,
    })
}

fn options(g: &Given) -> Result<crate::reconcile::plan::Options, ConfigError> {
    let route_limit = match g.one("route-limit") {
        None => DEFAULT_ROUTE_LIMIT,
        Some(l) => l.parse().map_err(|_| {
            bad(
                "route-limit",
                format!("'{l}' is not a number of routes (0 turns the check off)"),
            )
        })?,
    };
    Ok(crate::reconcile::plan::Options {
        prune: g.has("prune"),
        ignore: ignored(g)?,
        route_limit,
        fix_source_dest_check: g.has("fix-source-dest-check"),
    })
}

/// `--ignore-routes`: comma-separated, repeatable, each CIDR once.
fn ignored(g: &Given) -> Result<Vec<Cidr>, ConfigError> {
    let mut ignore: Vec<Cidr> = Vec::new();
    for v in g.all("ignore-routes") {
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let c: Cidr = typed("ignore-routes", part)?;
            if !ignore.contains(&c) {
                ignore.push(c);
            }
        }
    }
    Ok(ignore)
}

fn daemon(g: &Given, mode: Option<Mode>) -> Result<DaemonArgs, ConfigError> {
    let etcd = etcd(g)?;
    let bgp = bgp(g)?;
    let spec = match mode {
        Some(m) => Some(spec(g, m, etcd.is_some())?),
        None => None,
    };
    let address = match g.one("address") {
        None | Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        // Not a router IP: parsed as written (parse_ip would turn a mapped
        // address into IPv4).
        Some(a) => a.parse::<IpAddr>().map_err(|_| {
            bad(
                "address",
                format!("'{a}' is not an IP address to listen on; e.g. 127.0.0.1 or 0.0.0.0"),
            )
        })?,
    };
    let port = match g.one("port") {
        None => DEFAULT_PORT,
        Some(p) => p.parse().map_err(|_| {
            bad(
                "port",
                format!("'{p}' is not a port; expected 1 to 65535 (0: any free port)"),
            )
        })?,
    };
    let workers = match g.one("workers") {
        None => DEFAULT_WORKERS,
        Some(w) => in_range(w, 1..=MAX_WORKERS).ok_or_else(|| {
            bad(
                "workers",
                format!("'{w}' is not a number of worker threads from 1 to {MAX_WORKERS}"),
            )
        })?,
    };
    let token_file = g.one("auth-token-file");
    if token_file.is_none() && !g.has("insecure-no-auth") && !address.is_loopback() {
        return Err(bad(
            "address",
            format!(
                "{address} is reachable from other hosts, and anyone who reaches the API \
                 can change routes; give --auth-token-file FILE (clients then send \
                 'Authorization: Bearer <token>'), or --insecure-no-auth to serve \
                 without authentication anyway"
            ),
        ));
    }
    let max_connections = match g.one("max-connections") {
        None => DEFAULT_MAX_CONNECTIONS,
        Some(m) => in_range(m, 1..=1024).ok_or_else(|| {
            bad(
                "max-connections",
                format!("'{m}' is not a number of connections from 1 to 1024"),
            )
        })?,
    };
    let max_connections_per_client = match g.one("max-connections-per-client") {
        None => DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        Some(m) => in_range(m, 1..=1024).ok_or_else(|| {
            bad(
                "max-connections-per-client",
                format!("'{m}' is not a number of connections from 1 to 1024"),
            )
        })?,
    };
    let request_timeout = match g.one("request-timeout") {
        None => DEFAULT_REQUEST_TIMEOUT,
        Some(t) => seconds("request-timeout", t)?,
    };
    Ok(DaemonArgs {
        address,
        port,
        workers,
        auth_token_file: token_file.map(PathBuf::from),
        route_tables: tables(g)?,
        max_connections,
        max_connections_per_client,
        request_timeout,
        allow_api_force: g.has("allow-api-force"),
        spec,
        etcd,
        bgp,
    })
}

/// `--bgp-...`, when `--bgp-listen` is given.
fn bgp(g: &Given) -> Result<Option<BgpArgs>, ConfigError> {
    let Some(listen) = g.one("bgp-listen") else {
        return Ok(None);
    };
    let listen = listen_addr(listen)?;
    let asn = match g.one("bgp-asn") {
        None => {
            return Err(bad(
                "bgp-asn",
                "missing; --bgp-listen needs our AS number, e.g. --bgp-asn 65000",
            ))
        }
        Some(a) => match a.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(bad(
                    "bgp-asn",
                    format!("'{a}' is not an AS number; expected 1 to 4294967295"),
                ))
            }
        },
    };
    let router_id = match (g.one("bgp-router-id"), listen.ip()) {
        (Some(r), _) => match r.parse::<std::net::Ipv4Addr>() {
            Ok(ip) if !ip.is_unspecified() => ip,
            _ => {
                return Err(bad(
                    "bgp-router-id",
                    format!(
                        "'{r}' is not a BGP identifier; expected an IPv4 address such as 10.33.1.5"
                    ),
                ))
            }
        },
        (None, IpAddr::V4(ip)) if !ip.is_unspecified() => ip,
        (None, _) => {
            return Err(bad(
                "bgp-router-id",
                "missing; with --bgp-listen on an IPv6 or unspecified address, give our BGP \
                 identifier, e.g. --bgp-router-id 10.33.1.5",
            ))
        }
    };
    let hold_time = match g.one("bgp-hold-time") {
        None => DEFAULT_BGP_HOLD_TIME,
        Some(h) => match h.parse::<u16>() {
            Ok(n) if n == 0 || n >= 3 => n,
            _ => {
                return Err(bad(
                    "bgp-hold-time",
                    format!("'{h}' is not a hold time; expected 0, or 3 to 65535 seconds"),
                ))
            }
        },
    };
    let peers = g
        .all("bgp-peer")
        .iter()
        .map(|p| bgp_peer(p))
        .collect::<Result<Vec<_>, _>>()?;
    if peers.is_empty() {
        return Err(bad(
            "bgp-peer",
            "missing; --bgp-listen accepts sessions only from the routers named with \
             --bgp-peer IP[,as=N] (repeatable)",
        ));
    }
    let allow = g
        .all("bgp-allow")
        .iter()
        .map(|a| bgp_allow(a))
        .collect::<Result<Vec<_>, _>>()?;
    if allow.is_empty() {
        return Err(bad(
            "bgp-allow",
            "missing; give the ranges BGP may route, e.g. --bgp-allow 10.60.0.0/14 \
             (without one, a peer could route anything, the default route included)",
        ));
    }
    let max_prefixes = match g.one("bgp-max-prefixes") {
        None => DEFAULT_BGP_MAX_PREFIXES,
        Some(m) => in_range(m, 1..=1_000_000).ok_or_else(|| {
            bad(
                "bgp-max-prefixes",
                format!("'{m}' is not a number of prefixes from 1 to 1000000"),
            )
        })?,
    };
    Ok(Some(BgpArgs {
        listen,
        asn,
        router_id,
        hold_time,
        peers,
        allow,
        max_prefixes,
    }))
}

/// `ADDR[:PORT]`, `[V6]:PORT` or `V6`, with port 179 by default.
fn listen_addr(s: &str) -> Result<std::net::SocketAddr, ConfigError> {
    if let Ok(a) = s.parse::<std::net::SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = parse_ip(s) {
        return Ok(std::net::SocketAddr::new(ip, DEFAULT_BGP_PORT));
    }
    Err(bad(
        "bgp-listen",
        format!(
            "'{s}' is not an address to listen on; e.g. 10.33.1.5, 10.33.1.5:1179 or [::1]:179"
        ),
    ))
}

fn bgp_peer(s: &str) -> Result<BgpPeer, ConfigError> {
    let mut parts = s.split(',');
    let ip = parts.next().unwrap_or("");
    let ip = parse_ip(ip).map_err(|_| {
        bad(
            "bgp-peer",
            format!("'{ip}' is not a router's IP; expected IP[,as=N][,password-file=F]"),
        )
    })?;
    let mut peer = BgpPeer {
        ip,
        asn: None,
        password_file: None,
    };
    for opt in parts {
        match opt.split_once('=') {
            Some(("as", n)) => {
                peer.asn = Some(n.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    bad("bgp-peer", format!("'{n}' is not an AS number (in '{s}')"))
                })?)
            }
            Some(("password-file", f)) if !f.is_empty() => {
                peer.password_file = Some(PathBuf::from(f))
            }
            _ => {
                return Err(bad(
                    "bgp-peer",
                    format!("'{opt}' is not an option of '{s}'; expected as=N or password-file=F"),
                ))
            }
        }
    }
    Ok(peer)
}

fn bgp_allow(s: &str) -> Result<BgpAllow, ConfigError> {
    let (cidr, rest) = s.split_once(',').map_or((s, None), |(c, r)| (c, Some(r)));
    let cidr: Cidr = cidr
        .parse()
        .map_err(|e: ParseError| bad("bgp-allow", format!("{} (in '{s}')", e.0)))?;
    let max_len = match rest {
        None => None,
        Some(r) => {
            let n = r.strip_prefix("maxlen=").and_then(|n| n.parse::<u8>().ok());
            let top = if cidr.addr().is_ipv4() { 32 } else { 128 };
            match n {
                Some(n) if n >= cidr.prefix_len() && n <= top => Some(n),
                _ => {
                    return Err(bad(
                        "bgp-allow",
                        format!(
                            "'{r}' is not maxlen=N with N from {} to {top} (in '{s}')",
                            cidr.prefix_len()
                        ),
                    ))
                }
            }
        }
    };
    Ok(BgpAllow { cidr, max_len })
}

/// `--etcd-...`, when `--etcd-endpoints` is given.
fn etcd(g: &Given) -> Result<Option<EtcdArgs>, ConfigError> {
    let Some(list) = g.one("etcd-endpoints") else {
        return Ok(None);
    };
    let mut endpoints = Vec::new();
    for e in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        e.strip_prefix("http://")
            .or_else(|| e.strip_prefix("https://"))
            .filter(|r| !r.is_empty() && !r.contains(['?', '#', '@', ' ']))
            .ok_or_else(|| {
                bad(
                    "etcd-endpoints",
                    format!(
                        "'{e}' is not an etcd client URL; expected http://HOST:PORT or \
                         https://HOST:PORT, comma-separated (e.g. https://10.0.0.5:2379)"
                    ),
                )
            })?;
        endpoints.push(e.trim_end_matches('/').to_string());
    }
    if endpoints.is_empty() {
        return Err(bad(
            "etcd-endpoints",
            "empty; give etcd's client URLs, e.g. http://127.0.0.1:2379",
        ));
    }
    let prefix = g.one("etcd-prefix").unwrap_or(DEFAULT_ETCD_PREFIX);
    if !prefix.starts_with('/') || prefix.chars().any(char::is_control) {
        return Err(bad(
            "etcd-prefix",
            format!(
                "'{prefix}' is not a key prefix; expected one starting with /, e.g. /vpc-router/"
            ),
        ));
    }
    let lease_ttl = match g.one("etcd-lease-ttl") {
        None => DEFAULT_LEASE_TTL,
        Some(t) => match t.parse::<u64>() {
            Ok(n) if (2..=60).contains(&n) => Duration::from_secs(n),
            _ => {
                return Err(bad(
                    "etcd-lease-ttl",
                    format!("'{t}' is not a number of whole seconds from 2 to 60"),
                ))
            }
        },
    };
    let name = g.one("etcd-name").map(str::to_string);
    if name
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.chars().any(char::is_control))
    {
        return Err(bad(
            "etcd-name",
            "must be a non-empty name without control characters",
        ));
    }
    Ok(Some(EtcdArgs {
        endpoints,
        prefix: prefix.to_string(),
        lease_ttl,
        cacert: g.one("etcd-cacert").map(PathBuf::from),
        cert: g.one("etcd-cert").map(PathBuf::from),
        key: g.one("etcd-key").map(PathBuf::from),
        user: g.one("etcd-user").map(str::to_string),
        password_file: g.one("etcd-password-file").map(PathBuf::from),
        name,
    }))
}

/// `-d -m`: where the spec comes from, where state is kept, and health.
fn spec(g: &Given, mode: Mode, etcd: bool) -> Result<SpecSettings, ConfigError> {
    let (source, m) = match mode {
        Mode::Configfile => {
            let file = g.one("file").ok_or_else(|| {
                bad(
                    "file",
                    "missing; -m configfile needs the spec file to watch, e.g. \
                     -f /etc/vpc-router/spec.json",
                )
            })?;
            (SpecSource::File(PathBuf::from(file)), "configfile")
        }
        Mode::Http => (SpecSource::Http, "http"),
        Mode::Etcd if !etcd => {
            return Err(bad(
                "etcd-endpoints",
                "missing; -m etcd reads the spec from etcd: give its client URLs, \
                 e.g. --etcd-endpoints http://127.0.0.1:2379",
            ))
        }
        Mode::Etcd => (SpecSource::Etcd, "etcd"),
        Mode::Bgp if !g.has("bgp-listen") => {
            return Err(bad(
                "bgp-listen",
                "missing; -m bgp learns its routes from BGP peers: give the address to \
                 listen on, e.g. --bgp-listen 10.33.1.5",
            ))
        }
        Mode::Bgp => (SpecSource::Bgp, "bgp"),
        Mode::Fixed => (SpecSource::Fixed(fixed(g)?), "fixedconf"),
    };
    // With etcd, ownership is kept there; only the http spec needs a dir.
    let state_dir = g.one("state-dir").map(PathBuf::from);
    if state_dir.is_none() && (!etcd || mode == Mode::Http) {
        return Err(bad(
            "state-dir",
            format!(
                "missing; -m {m} needs a directory to remember which routes vpc-router \
                 manages (and, with http, the spec), e.g. --state-dir /var/lib/vpc-router"
            ),
        ));
    }
    let recheck = match g.one("route-recheck-interval") {
        None => Some(DEFAULT_RECHECK),
        Some(r) => match r.parse::<f64>() {
            Ok(0.0) => None,
            Ok(v) if v > 0.0 && v <= 86400.0 => Some(Duration::from_secs_f64(v)),
            _ => {
                return Err(bad(
                    "route-recheck-interval",
                    format!("'{r}' is not a number of seconds from 0 (off) to 86400"),
                ))
            }
        },
    };
    Ok(SpecSettings {
        source,
        state_dir,
        scope: scope(g)?,
        options: options(g)?,
        recheck,
        health: health(g)?,
    })
}

/// 1.x's `-m fixedconf --fixed_cidr CIDR --fixed_hosts IP:IP`: a spec of
/// one CIDR, its routers in the order given.
fn fixed(g: &Given) -> Result<crate::spec::Spec, ConfigError> {
    let cidr = g.one("fixed_cidr").ok_or_else(|| {
        bad(
            "fixed_cidr",
            "missing; -m fixedconf needs the route's CIDR, e.g. --fixed_cidr 10.55.0.0/16",
        )
    })?;
    let cidr: Cidr = typed("fixed_cidr", cidr)?;
    let list = g.one("fixed_hosts").ok_or_else(|| {
        bad(
            "fixed_hosts",
            "missing; -m fixedconf needs the routers, e.g. --fixed_hosts 10.33.20.142:10.33.30.22",
        )
    })?;
    let mut hosts: Vec<crate::spec::Host> = Vec::new();
    for h in super::legacy::fixed_hosts(list) {
        let ip = parse_ip(h).map_err(|e| bad("fixed_hosts", e.0))?;
        if hosts.iter().any(|x| x.ip == ip) {
            return Err(bad("fixed_hosts", format!("router {ip} is listed twice")));
        }
        hosts.push(crate::spec::Host { ip, check: None });
    }
    Ok(crate::spec::Spec::from_routes([(cidr, hosts)].into()))
}

/// `--health` and what tunes it; `rules` has already refused tuning
/// without checks.
fn health(g: &Given) -> Result<HealthArgs, ConfigError> {
    use crate::health::{parse_kind, Settings};
    let name = g.one("health").unwrap_or("none");
    let kind = parse_kind(name, g.one("multi-plugins")).map_err(|e| {
        let long = if e.starts_with("--multi-plugins") {
            "multi-plugins"
        } else {
            "health"
        };
        bad(
            long,
            e.trim_start_matches(&format!("--{long}")).trim_start(),
        )
    })?;
    let count = |long: &str, default: u32| -> Result<u32, ConfigError> {
        match g.one(long) {
            None => Ok(default),
            Some(s) => in_range(s, 1..=100).ok_or_else(|| {
                bad(
                    long,
                    format!("'{s}' is not a count of checks from 1 to 100"),
                )
            }),
        }
    };
    let secs = |long: &str, default: Duration| match g.one(long) {
        None => Ok(default),
        Some(s) => seconds(long, s),
    };
    let d = Settings::default();
    let settings = Settings {
        interval: secs("check-interval", d.interval)?,
        timeout: secs("check-timeout", d.timeout)?,
        fall: count("fall", d.fall)?,
        rise: count("rise", d.rise)?,
        tcp_port: match g.one("tcp-check-port") {
            None => d.tcp_port,
            Some(s) => in_range(s, 1..=u16::MAX).ok_or_else(|| {
                bad(
                    "tcp-check-port",
                    format!("'{s}' is not a port from 1 to 65535"),
                )
            })?,
        },
        threads: d.threads,
    };
    let failback = match g.has("failback") {
        false => None,
        true => Some(secs("failback-hold", DEFAULT_FAILBACK_HOLD)?),
    };
    Ok(HealthArgs {
        kind,
        settings,
        failback,
    })
}

/// `s` as a number within `range`.
fn in_range<T>(s: &str, range: std::ops::RangeInclusive<T>) -> Option<T>
where
    T: std::str::FromStr + PartialOrd,
{
    s.parse::<T>().ok().filter(|n| range.contains(n))
}

pub fn seconds(long: &str, s: &str) -> Result<Duration, ConfigError> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(bad(
            long,
            format!("'{s}' is not a number of seconds between 0 and 3600 (e.g. 2.5)"),
        )),
    }
}
