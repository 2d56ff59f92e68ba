//! The validated configuration: what `cli` produces from the command line
//! and the rest of the program consumes. Every value here has been
//! checked once; nothing below reads raw arguments. `daemon` takes its
//! settings from here, never from `cli`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::route::Op;
use crate::types::{Cidr, Region, RouteTableId, VpcId};

/// What to do, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub command: Command,
    pub aws: AwsArgs,
    pub output: Output,
    pub verbose: bool,
    pub log: LogTarget,
    /// `--log-format`: text (with a timestamp, or journald's priority
    /// prefix), or one JSON object per line.
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `--help`: everything (`None`), or one command's help (`help plan`,
    /// `plan --help`, `-c add -h`).
    Help(Option<HelpTopic>),
    Version,
    /// `completions bash|zsh|fish`: the script, from the flag table.
    Completions(Shell),
    /// `man`: the man page in roff, from the flag table.
    Man,
    Route(RouteArgs),
    /// `-d`: serve the HTTP API. (Boxed: it is much the largest.)
    Daemon(Box<DaemonArgs>),
    /// `plan` or `apply -f SPEC`: reconcile every table with a route spec.
    Reconcile(ReconcileArgs),
}

/// A shell to complete for (`completions bash|zsh|fish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// A command with help of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpTopic {
    Add,
    Show,
    Del,
    Plan,
    Apply,
    Daemon,
}

/// `plan` / `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileArgs {
    /// false: `plan` (show the diff); true: `apply` (make it so).
    pub apply: bool,
    pub spec_file: PathBuf,
    pub scope: TableScope,
    pub options: crate::reconcile::plan::Options,
    /// Where the owned CIDRs are remembered (none: nothing is deleted but
    /// with --prune).
    pub state_dir: Option<PathBuf>,
}

pub const DEFAULT_ROUTE_LIMIT: usize = 500;

/// The daemon's settings (`-d`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonArgs {
    pub address: IpAddr,
    /// 0 asks the system for a free port (tests); the log says which.
    pub port: u16,
    /// Threads that run route commands.
    pub workers: usize,
    /// Requests must carry `Authorization: Bearer <token>` from this file.
    pub auth_token_file: Option<PathBuf>,
    /// Tables a request works on when it names none (empty: all).
    pub route_tables: Vec<RouteTableId>,
    /// Client connections open at once.
    pub max_connections: usize,
    /// Of those, the most one client may have (by address; by /64 for
    /// IPv6).
    pub max_connections_per_client: usize,
    /// How long a client may take to send one request.
    pub request_timeout: Duration,
    /// `--allow-api-force`: API requests may carry `force`. Off by default,
    /// so that no local process can replace a gateway's route through a
    /// daemon without a token.
    pub allow_api_force: bool,
    /// `-m`: desired-state routing from a spec.
    pub spec: Option<SpecSettings>,
    /// `--etcd-endpoints`: leader election (and with `-m etcd`, the spec)
    /// through etcd.
    pub etcd: Option<EtcdArgs>,
    /// `--bgp-listen`: routes learned from BGP peers (with `-m bgp`, only
    /// those).
    pub bgp: Option<BgpArgs>,
}

/// The BGP listener (`--bgp-...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpArgs {
    pub listen: std::net::SocketAddr,
    /// Our AS (`--bgp-asn`).
    pub asn: u32,
    /// Our BGP identifier (default: the listen address, if IPv4).
    pub router_id: std::net::Ipv4Addr,
    /// The hold time we propose, in seconds (0, or 3 to 65535).
    pub hold_time: u16,
    pub peers: Vec<BgpPeer>,
    /// Only prefixes inside one of these are accepted.
    pub allow: Vec<BgpAllow>,
    /// Prefixes one peer may hold at once.
    pub max_prefixes: usize,
}

/// `--bgp-peer IP[,as=N][,password-file=F]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpPeer {
    pub ip: IpAddr,
    pub asn: Option<u32>,
    /// The TCP MD5 password (RFC 2385), read at start.
    pub password_file: Option<PathBuf>,
}

/// `--bgp-allow CIDR[,maxlen=N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpAllow {
    pub cidr: Cidr,
    /// The longest prefix accepted inside it (default: any).
    pub max_len: Option<u8>,
}

pub const DEFAULT_BGP_PORT: u16 = 179;
pub const DEFAULT_BGP_HOLD_TIME: u16 = 90;
pub const DEFAULT_BGP_MAX_PREFIXES: usize = 1000;

/// How to reach etcd and what to keep there (`--etcd-...`). Files are read
/// when the daemon starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdArgs {
    /// `http://` or `https://` URLs, tried in order.
    pub endpoints: Vec<String>,
    /// Every key vpc-router uses starts with it (`/vpc-router/`).
    pub prefix: String,
    /// The leadership lease, in whole seconds.
    pub lease_ttl: Duration,
    pub cacert: Option<PathBuf>,
    /// A client certificate and its key, for mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    /// How this daemon is named to the others (default: host name and
    /// API address).
    pub name: Option<String>,
}

pub const DEFAULT_ETCD_PREFIX: &str = "/vpc-router/";
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// `-d -m configfile|http|etcd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecSettings {
    pub source: SpecSource,
    /// Where owned CIDRs (and the http spec) are kept; with etcd, ownership
    /// is kept there instead and this is optional.
    pub state_dir: Option<PathBuf>,
    pub scope: TableScope,
    pub options: crate::reconcile::plan::Options,
    /// A pass every this often (none: only on spec changes).
    pub recheck: Option<Duration>,
    pub health: HealthArgs,
}

/// How routers are checked, and failover and failback (`--health` ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthArgs {
    pub kind: crate::health::Kind,
    pub settings: crate::health::Settings,
    /// `--failback`: the hold-down (`--failback-hold`) a recovered router
    /// must stay healthy for before it takes its routes back.
    pub failback: Option<Duration>,
}

pub const DEFAULT_FAILBACK_HOLD: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    /// `-m configfile -f FILE`: watched, applied on change.
    File(PathBuf),
    /// `-m http`: `POST /route_spec`, persisted in the state dir.
    Http,
    /// `-m etcd`: the key `<prefix>spec`, watched.
    Etcd,
    /// `-m bgp`: only the routes BGP peers announce.
    Bgp,
    /// `-m fixedconf` (vpc-router 1.x): a spec given on the command line.
    Fixed(crate::spec::Spec),
}

pub use crate::reconcile::pass::TableScope;

pub const DEFAULT_RECHECK: Duration = Duration::from_secs(30);
pub const DEFAULT_PORT: u16 = 33289;
pub const DEFAULT_WORKERS: usize = 4;
pub const MAX_WORKERS: usize = 64;
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 16;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A route command: `-c add|show|del`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteArgs {
    pub op: Op,
    pub cidr: Cidr,
    pub ip: Option<RouterIp>,
    pub route_tables: Vec<RouteTableId>,
    /// Only tables with this tag (`--route-table-tag Key=Value`).
    pub route_table_tag: Option<(String, String)>,
    pub force: bool,
    pub dry_run: bool,
}

/// `--ip`: an address, or `self`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterIp {
    Address(IpAddr),
    /// `--ip self`: this instance's primary private IPv4 address, read from
    /// instance metadata (`local-ipv4`) at run time.
    ThisInstance,
}

impl std::fmt::Display for RouterIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouterIp::Address(ip) => ip.fmt(f),
            RouterIp::ThisInstance => f.write_str("self"),
        }
    }
}

/// Where to find AWS; anything not given is resolved from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsArgs {
    pub region: Option<Region>,
    pub vpc: Option<VpcId>,
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

impl Default for AwsArgs {
    fn default() -> Self {
        AwsArgs {
            region: None,
            vpc: None,
            endpoint_url: None,
            profile: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
}
