//! The flag table: every flag vpc-router takes, as data. One row says how a
//! flag is spelt, whether it takes a value or repeats, which commands it
//! goes with, what else it needs, and its help. Parsing, the "only goes
//! with" checks and the help text all read [`FLAGS`]; shell completions and
//! a man page can be generated from it too. Turning a flag's value into
//! the [`Config`](crate::config::Config) is not here but in `cli::build`.

/// A set of the commands (and daemon modes) a flag goes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uses(u16);

impl Uses {
    /// `-c add`.
    pub const ADD: Uses = Uses(1);
    /// `-c show`.
    pub const SHOW: Uses = Uses(1 << 1);
    /// `-c del`.
    pub const DEL: Uses = Uses(1 << 2);
    /// `plan -f SPEC`.
    pub const PLAN: Uses = Uses(1 << 3);
    /// `apply -f SPEC`.
    pub const APPLY: Uses = Uses(1 << 4);
    /// `-d` without `-m`: the HTTP API only.
    pub const DAEMON: Uses = Uses(1 << 5);
    /// `-d -m configfile -f SPEC`.
    pub const CONFIGFILE: Uses = Uses(1 << 6);
    /// `-d -m http`.
    pub const HTTP: Uses = Uses(1 << 7);
    /// `-d -m etcd`.
    pub const ETCD: Uses = Uses(1 << 8);
    /// `-d -m bgp`.
    pub const BGP: Uses = Uses(1 << 9);
    /// `-d -m fixedconf`: 1.x's one route fixed on the command line.
    pub const FIXED: Uses = Uses(1 << 10);

    /// The route commands, `-c add|show|del`.
    pub const ROUTE: Uses = Uses::ADD.or(Uses::SHOW).or(Uses::DEL);
    /// The route commands that change something.
    pub const CHANGE: Uses = Uses::ADD.or(Uses::DEL);
    /// `plan` and `apply`.
    pub const RECONCILE: Uses = Uses::PLAN.or(Uses::APPLY);
    /// The daemon's spec modes, `-d -m configfile|http|etcd`.
    pub const SPEC: Uses = Uses::CONFIGFILE
        .or(Uses::HTTP)
        .or(Uses::ETCD)
        .or(Uses::BGP)
        .or(Uses::FIXED);
    /// Every kind of `-d`.
    pub const DAEMONS: Uses = Uses::DAEMON.or(Uses::SPEC);
    /// Desired-state routing: `plan`, `apply` and `-d -m`.
    pub const DESIRED: Uses = Uses::RECONCILE.or(Uses::SPEC);
    /// Every command: global flags.
    pub const ALL: Uses = Uses::ROUTE.or(Uses::RECONCILE).or(Uses::DAEMONS);

    pub const fn or(self, other: Uses) -> Uses {
        Uses(self.0 | other.0)
    }

    /// Whether every command in `other` is in this set.
    pub const fn contains(self, other: Uses) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn intersects(self, other: Uses) -> bool {
        self.0 & other.0 != 0
    }

    /// The set as a user would write it: "plan, apply, or -d -m".
    pub fn describe(self) -> String {
        let ops: Vec<&str> = [(Uses::ADD, "add"), (Uses::SHOW, "show"), (Uses::DEL, "del")]
            .into_iter()
            .filter(|(u, _)| self.contains(*u))
            .map(|(_, name)| name)
            .collect();
        let mut parts = Vec::new();
        if !ops.is_empty() {
            parts.push(format!("-c {}", ops.join("|")));
        }
        for (u, name) in [(Uses::PLAN, "plan"), (Uses::APPLY, "apply")] {
            if self.contains(u) {
                parts.push(name.to_string());
            }
        }
        let daemon = if self.contains(Uses::DAEMONS) {
            Some("-d")
        } else if self.contains(Uses::SPEC) {
            Some("-d -m")
        } else if self.contains(Uses::CONFIGFILE) {
            Some("-d -m configfile")
        } else if self.contains(Uses::HTTP) {
            Some("-d -m http")
        } else if self.contains(Uses::ETCD) {
            Some("-d -m etcd")
        } else if self.contains(Uses::BGP) {
            Some("-d -m bgp")
        } else if self.contains(Uses::FIXED) {
            Some("-d -m fixedconf")
        } else if self.contains(Uses::DAEMON) {
            Some("-d without -m")
        } else {
            None
        };
        parts.extend(daemon.map(str::to_string));
        match parts.as_slice() {
            [] => "nothing".to_string(),
            [one] => one.clone(),
            [a, b] => format!("{a} or {b}"),
            [rest @ .., last] => format!("{}, or {last}", rest.join(", ")),
        }
    }
}

/// What a flag needs from the rest of the command line, beyond going with
/// the command: checked once the command is known to accept the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Only together with the other flag (long name); the error message.
    With(&'static str, &'static str),
    /// Never together with the other flag (long name); the error message.
    Without(&'static str, &'static str),
    /// Only when `--health` names a check (tcp, icmp, multi; not none).
    HealthChecks,
}

/// Where a flag is listed in `--help`, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `-c add|show|del` and what it works on.
    Command,
    /// `plan` / `apply` and the spec options they share with `-d -m`.
    Spec,
    /// `-d -m`: the daemon keeping tables matching a spec.
    SpecDaemon,
    /// Health checks and failover (`-d -m --health ...`).
    Health,
    /// etcd: leader election and the spec in etcd.
    Etcd,
    /// BGP: routes learned from peers.
    Bgp,
    /// `-d`: the HTTP API.
    Daemon,
    /// Where AWS is and how to reach it.
    Aws,
    /// Output, logging, and what a command may do.
    Behaviour,
    /// Flags kept only for command lines of vpc-router 1.x: neither in
    /// `--help` nor in the completions, listed apart in the man page.
    Legacy,
}

impl Section {
    /// Every section, in the order `--help` shows them.
    pub const ALL: [Section; 9] = [
        Section::Command,
        Section::Spec,
        Section::SpecDaemon,
        Section::Health,
        Section::Etcd,
        Section::Bgp,
        Section::Daemon,
        Section::Aws,
        Section::Behaviour,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::Command => "COMMAND",
            Section::Spec => "ROUTE SPEC (desired state)",
            Section::SpecDaemon => "ROUTE SPEC IN THE DAEMON (-d -m)",
            Section::Health => "HEALTH CHECKS AND FAILOVER (with -d -m)",
            Section::Etcd => "HIGH AVAILABILITY WITH ETCD (with -d)",
            Section::Bgp => "LEARNING ROUTES OVER BGP (with -d -m)",
            Section::Daemon => {
                "DAEMON (the HTTP API: POST, GET, DELETE /route; GET /, /healthz, /metrics)"
            }
            Section::Aws => "AWS",
            Section::Behaviour => "BEHAVIOUR",
            Section::Legacy => "1.X SPELLINGS (accepted, with a notice on stderr)",
        }
    }
}

/// A spelling of vpc-router 1.x (the Python tool) for a flag: accepted,
/// meaning the same, with a one-line notice naming what to write instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Legacy {
    /// As typed: `--tcp_check_port`, `-H`.
    pub spelling: &'static str,
    /// What to write instead, when more than the row's `--long`.
    pub instead: Option<&'static str>,
}

/// A 1.x spelling whose equivalent is the row's `--long`.
const fn was(spelling: &'static str) -> Legacy {
    Legacy {
        spelling,
        instead: None,
    }
}

impl Legacy {
    /// What to write instead of it, for a flag row.
    pub fn instead(&self, flag: &Flag) -> String {
        match self.instead {
            Some(i) => i.to_string(),
            None => format!("--{}", flag.long),
        }
    }
}

/// One flag: a row of [`FLAGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// The long name, without `--`.
    pub long: &'static str,
    /// Other long names that mean the same (`--cidr` for `--CIDR`).
    pub aliases: &'static [&'static str],
    pub short: Option<char>,
    /// The value's name in help (`REGION`, `text|json`); `None`: a switch.
    pub value: Option<&'static str>,
    /// May be given more than once, values adding up. Otherwise a second,
    /// different value is an error: with two regions, neither guess is safe.
    pub repeats: bool,
    /// The commands it goes with; any other refuses it.
    pub goes_with: Uses,
    /// What else it needs (or must not meet) on the command line.
    pub rules: &'static [Rule],
    /// A value that changes nothing, so that the flag given with it is
    /// accepted by every command (`--output text` with `-d`).
    pub inert: Option<&'static str>,
    /// How errors name it, when not `-s/--long` (`--output` kept its name
    /// from before `-o` existed).
    pub label: Option<&'static str>,
    /// What it gives, for "only add takes a router IP" (default: `--long`).
    pub what: Option<&'static str>,
    pub section: Section,
    /// One paragraph, wrapped when printed.
    pub help: &'static str,
    /// Its spellings in vpc-router 1.x, where they differ from ours.
    pub legacy: &'static [Legacy],
}

impl Flag {
    /// How error messages name the flag: `-r/--region`, `--profile`.
    pub fn label(&self) -> String {
        match (self.label, self.short) {
            (Some(l), _) => l.to_string(),
            (None, Some(s)) => format!("-{s}/--{}", self.long),
            (None, None) => format!("--{}", self.long),
        }
    }

    /// What the flag gives, for messages.
    pub fn what(&self) -> String {
        match self.what {
            Some(w) => w.to_string(),
            None => format!("--{}", self.long),
        }
    }

    /// The row's left column in help: `-r, --region REGION`.
    pub fn synopsis(&self) -> String {
        let short = match self.short {
            Some(s) => format!("-{s}, "),
            None => "    ".to_string(),
        };
        match self.value {
            Some(v) => format!("{short}--{} {v}", self.long),
            None => format!("{short}--{}", self.long),
        }
    }
}

/// The defaults a row starts from: a global switch.
const ROW: Flag = Flag {
    long: "",
    aliases: &[],
    short: None,
    value: None,
    repeats: false,
    goes_with: Uses::ALL,
    rules: &[],
    inert: None,
    label: None,
    what: None,
    section: Section::Behaviour,
    help: "",
    legacy: &[],
};

const NEEDS_HEALTH: &[Rule] = &[Rule::HealthChecks];
const NEEDS_BGP: &[Rule] = &[Rule::With("bgp-listen", "only goes with --bgp-listen")];
const NEEDS_ETCD: &[Rule] = &[Rule::With(
    "etcd-endpoints",
    "only goes with --etcd-endpoints",
)];

/// Every flag, in the order `--help` lists them within their section.
pub static FLAGS: &[Flag] = &[
    // COMMAND
    Flag {
        long: "cmd",
        short: Some('c'),
        value: Some("add|show|del"),
        goes_with: Uses::ROUTE,
        section: Section::Command,
        help: "add: point the CIDR at the router's network interface in every table \
               (creates or replaces; idempotent). show: report the route per table. \
               del: delete the route from every table.",
        ..ROW
    },
    Flag {
        long: "CIDR",
        aliases: &["cidr"],
        short: Some('C'),
        value: Some("CIDR"),
        goes_with: Uses::ROUTE,
        section: Section::Command,
        help: "destination, IPv4 or IPv6 (10.55.0.0/16, 2001:db8::/56)",
        ..ROW
    },
    Flag {
        long: "ip",
        short: Some('i'),
        value: Some("IP"),
        goes_with: Uses::ADD,
        what: Some("a router IP"),
        section: Section::Command,
        help: "the router instance's private IP, or self: this instance's primary private \
               IP from instance metadata (add only)",
        ..ROW
    },
    // ROUTE SPEC
    Flag {
        long: "file",
        short: Some('f'),
        value: Some("SPEC"),
        goes_with: Uses::RECONCILE.or(Uses::CONFIGFILE),
        section: Section::Spec,
        help: "the route spec: {\"CIDR\": [\"router IP\", ...], ...}",
        ..ROW
    },
    Flag {
        long: "state-dir",
        value: Some("DIR"),
        goes_with: Uses::DESIRED,
        section: Section::Spec,
        help: "remember the CIDRs vpc-router manages, so that one removed from the spec \
               has its routes deleted (required with -m, unless ownership is kept in etcd)",
        ..ROW
    },
    Flag {
        long: "prune",
        goes_with: Uses::DESIRED,
        section: Section::Spec,
        help: "also delete every instance/interface route that is not in the spec",
        ..ROW
    },
    Flag {
        long: "ignore-routes",
        value: Some("LIST"),
        repeats: true,
        goes_with: Uses::DESIRED,
        rules: &[Rule::With(
            "prune",
            "only protects ranges from --prune; give --prune too, or leave it out",
        )],
        section: Section::Spec,
        help: "CIDRs (comma-separated; repeatable) --prune never touches",
        legacy: &[Legacy {
            spelling: "--ignore_routes",
            instead: Some("--ignore-routes (with --prune, which 1.x always did)"),
        }],
        ..ROW
    },
    Flag {
        long: "route-limit",
        value: Some("N"),
        goes_with: Uses::DESIRED,
        section: Section::Spec,
        help: "warn when a table would exceed N routes (default 500; 0: off)",
        ..ROW
    },
    Flag {
        long: "fix-source-dest-check",
        goes_with: Uses::DESIRED,
        section: Section::Spec,
        help: "turn source/destination check off on router interfaces that have it on \
               (else: a warning)",
        ..ROW
    },
    Flag {
        long: "route-table-tag",
        value: Some("K=V"),
        goes_with: Uses::DESIRED.or(Uses::ROUTE),
        section: Section::Spec,
        help: "only tables with this tag (with --route-table: both must hold)",
        ..ROW
    },
    // ROUTE SPEC IN THE DAEMON
    Flag {
        long: "mode",
        short: Some('m'),
        value: Some("configfile|http|etcd|bgp"),
        goes_with: Uses::DAEMONS,
        section: Section::SpecDaemon,
        help: "where the spec comes from: configfile (-f SPEC, watched), http \
               (POST /route_spec, kept in --state-dir), etcd (the key PREFIXspec, \
               watched; needs --etcd-endpoints) or bgp (only routes learned over BGP; \
               needs --bgp-listen)",
        ..ROW
    },
    Flag {
        long: "route-recheck-interval",
        value: Some("S"),
        goes_with: Uses::SPEC,
        section: Section::SpecDaemon,
        help: "a full pass every S seconds (default 30; 0: off)",
        legacy: &[was("--route_recheck_interval")],
        ..ROW
    },
    // HEALTH CHECKS AND FAILOVER
    Flag {
        long: "health",
        value: Some("KIND"),
        goes_with: Uses::SPEC,
        section: Section::Health,
        help: "tcp, icmp, multi or none (default none: every router is healthy)",
        legacy: &[was("-H")],
        ..ROW
    },
    Flag {
        long: "multi-plugins",
        value: Some("LIST"),
        goes_with: Uses::SPEC,
        section: Section::Health,
        help: "with --health multi: e.g. icmp:tcp; a router is failed if any of them fails it",
        legacy: &[was("--multi_plugins")],
        ..ROW
    },
    Flag {
        long: "tcp-check-port",
        value: Some("N"),
        goes_with: Uses::SPEC,
        rules: NEEDS_HEALTH,
        section: Section::Health,
        help: "port of the tcp check (default 22); a spec host \
               {\"ip\": ..., \"check\": \"HOST:PORT\"} overrides it",
        legacy: &[was("--tcp_check_port")],
        ..ROW
    },
    Flag {
        long: "check-interval",
        value: Some("S"),
        goes_with: Uses::SPEC,
        rules: NEEDS_HEALTH,
        section: Section::Health,
        help: "seconds between checks of a router (default 1; fractions allowed, e.g. 0.2)",
        legacy: &[
            Legacy {
                spelling: "--icmp_check_interval",
                instead: Some("--check-interval (with --health icmp)"),
            },
            Legacy {
                spelling: "--tcp_check_interval",
                instead: Some("--check-interval (with --health tcp)"),
            },
        ],
        ..ROW
    },
    Flag {
        long: "check-timeout",
        value: Some("S"),
        goes_with: Uses::SPEC,
        rules: NEEDS_HEALTH,
        section: Section::Health,
        help: "seconds a check may take (default 0.5)",
        ..ROW
    },
    Flag {
        long: "fall",
        value: Some("N"),
        goes_with: Uses::SPEC,
        rules: NEEDS_HEALTH,
        section: Section::Health,
        help: "failed checks in a row that mark a router failed (default 3)",
        ..ROW
    },
    Flag {
        long: "rise",
        value: Some("N"),
        goes_with: Uses::SPEC,
        rules: NEEDS_HEALTH,
        section: Section::Health,
        help: "good checks in a row that mark it healthy again (default 2)",
        ..ROW
    },
    Flag {
        long: "failback",
        goes_with: Uses::SPEC,
        rules: NEEDS_HEALTH,
        section: Section::Health,
        help: "let a recovered router take its routes back once it has stayed healthy \
               for --failback-hold; without it, routes stay where they are until their \
               router fails",
        ..ROW
    },
    Flag {
        long: "failback-hold",
        value: Some("S"),
        goes_with: Uses::SPEC,
        rules: &[
            Rule::HealthChecks,
            Rule::With(
                "failback",
                "only goes with --failback (without it, routes never go back by themselves)",
            ),
        ],
        section: Section::Health,
        help: "seconds a recovered router must stay healthy before failback (default 30)",
        ..ROW
    },
    // DAEMON
    // LEARNING ROUTES OVER BGP
    Flag {
        long: "bgp-listen",
        value: Some("ADDR[:PORT]"),
        goes_with: Uses::SPEC,
        section: Section::Bgp,
        help: "listen for BGP sessions from --bgp-peer routers (port 179 by default); their \
               best paths become routes, merged with the spec (the spec wins for a CIDR it \
               names); with -m bgp, the only routes",
        ..ROW
    },
    Flag {
        long: "bgp-peer",
        value: Some("IP[,as=N][,password-file=F]"),
        repeats: true,
        goes_with: Uses::SPEC,
        rules: NEEDS_BGP,
        section: Section::Bgp,
        help: "a router allowed to connect (repeatable); as=N: its AS must be N; \
               password-file=F: TCP MD5 (RFC 2385) with the password in F",
        ..ROW
    },
    Flag {
        long: "bgp-asn",
        value: Some("N"),
        goes_with: Uses::SPEC,
        rules: NEEDS_BGP,
        section: Section::Bgp,
        help: "our AS number (1 to 4294967295; required with --bgp-listen)",
        ..ROW
    },
    Flag {
        long: "bgp-router-id",
        value: Some("IPV4"),
        goes_with: Uses::SPEC,
        rules: NEEDS_BGP,
        section: Section::Bgp,
        help: "our BGP identifier (default: the --bgp-listen address, if an IPv4 one)",
        ..ROW
    },
    Flag {
        long: "bgp-hold-time",
        value: Some("S"),
        goes_with: Uses::SPEC,
        rules: NEEDS_BGP,
        section: Section::Bgp,
        help: "the hold time we propose, in seconds (default 90; 0, or 3 to 65535); \
               the session uses the smaller of ours and the peer's",
        ..ROW
    },
    Flag {
        long: "bgp-allow",
        value: Some("CIDR[,maxlen=N]"),
        repeats: true,
        goes_with: Uses::SPEC,
        rules: NEEDS_BGP,
        section: Section::Bgp,
        help: "accept only prefixes inside CIDR (repeatable; required): never the default \
               route nor the VPC's own CIDRs unless an allow names them",
        ..ROW
    },
    Flag {
        long: "bgp-max-prefixes",
        value: Some("N"),
        goes_with: Uses::SPEC,
        rules: NEEDS_BGP,
        section: Section::Bgp,
        help: "prefixes one peer may announce at once (default 1000); beyond it the \
               session is closed with the NOTIFICATION of RFC 4486",
        ..ROW
    },
    // HIGH AVAILABILITY WITH ETCD
    Flag {
        long: "etcd-endpoints",
        value: Some("URL,URL"),
        goes_with: Uses::DAEMONS,
        section: Section::Etcd,
        help: "etcd's client URLs (http:// or https://), tried in order: with them, \
               daemons elect one leader, the only one that changes routes, and keep \
               the CIDRs vpc-router manages in etcd",
        ..ROW
    },
    Flag {
        long: "etcd-prefix",
        value: Some("PREFIX"),
        goes_with: Uses::DAEMONS,
        rules: NEEDS_ETCD,
        section: Section::Etcd,
        help: "where vpc-router's keys live: PREFIXspec, PREFIXleader, PREFIXowned \
               (default /vpc-router/)",
        ..ROW
    },
    Flag {
        long: "etcd-lease-ttl",
        value: Some("S"),
        goes_with: Uses::DAEMONS,
        rules: NEEDS_ETCD,
        section: Section::Etcd,
        help: "the leader's lease, in seconds (default 5, 2 to 60): a dead leader is \
               replaced within about this long",
        ..ROW
    },
    Flag {
        long: "etcd-name",
        value: Some("NAME"),
        goes_with: Uses::DAEMONS,
        rules: NEEDS_ETCD,
        section: Section::Etcd,
        help: "how this daemon is named to the others (default: host name and API address)",
        ..ROW
    },
    Flag {
        long: "etcd-cacert",
        value: Some("FILE"),
        goes_with: Uses::DAEMONS,
        rules: NEEDS_ETCD,
        section: Section::Etcd,
        help: "PEM CA certificate(s) to trust for https:// endpoints (default: the \
               public web roots)",
        ..ROW
    },
    Flag {
        long: "etcd-cert",
        value: Some("FILE"),
        goes_with: Uses::DAEMONS,
        rules: &[
            Rule::With("etcd-endpoints", "only goes with --etcd-endpoints"),
            Rule::With(
                "etcd-key",
                "needs --etcd-key, the certificate's private key",
            ),
        ],
        section: Section::Etcd,
        help: "PEM client certificate, for etcd with --client-cert-auth",
        ..ROW
    },
    Flag {
        long: "etcd-key",
        value: Some("FILE"),
        goes_with: Uses::DAEMONS,
        rules: &[
            Rule::With("etcd-endpoints", "only goes with --etcd-endpoints"),
            Rule::With(
                "etcd-cert",
                "needs --etcd-cert, the certificate it is the key of",
            ),
        ],
        section: Section::Etcd,
        help: "the PEM private key of --etcd-cert",
        ..ROW
    },
    Flag {
        long: "etcd-user",
        value: Some("NAME"),
        goes_with: Uses::DAEMONS,
        rules: &[
            Rule::With("etcd-endpoints", "only goes with --etcd-endpoints"),
            Rule::With(
                "etcd-password-file",
                "needs --etcd-password-file (a password is never given on the command line)",
            ),
        ],
        section: Section::Etcd,
        help: "etcd user, for etcd with authentication on",
        ..ROW
    },
    Flag {
        long: "etcd-password-file",
        value: Some("FILE"),
        goes_with: Uses::DAEMONS,
        rules: &[
            Rule::With("etcd-endpoints", "only goes with --etcd-endpoints"),
            Rule::With("etcd-user", "needs --etcd-user, whose password it holds"),
        ],
        section: Section::Etcd,
        help: "a file holding --etcd-user's password",
        ..ROW
    },
    Flag {
        long: "daemon",
        short: Some('d'),
        goes_with: Uses::DAEMONS,
        section: Section::Daemon,
        help: "serve the API instead of running one command",
        ..ROW
    },
    Flag {
        long: "address",
        short: Some('a'),
        value: Some("IP"),
        goes_with: Uses::DAEMONS,
        section: Section::Daemon,
        help: "address to listen on (default 127.0.0.1)",
        ..ROW
    },
    Flag {
        long: "port",
        short: Some('p'),
        value: Some("PORT"),
        goes_with: Uses::DAEMONS,
        section: Section::Daemon,
        help: "port to listen on (default 33289; 0: any free port)",
        ..ROW
    },
    Flag {
        long: "workers",
        value: Some("N"),
        goes_with: Uses::DAEMONS,
        section: Section::Daemon,
        help: "threads that run route commands (default 4, max 64)",
        ..ROW
    },
    Flag {
        long: "auth-token-file",
        value: Some("F"),
        goes_with: Uses::DAEMONS,
        section: Section::Daemon,
        help: "require 'Authorization: Bearer <token>' with the token in F \
               (needed for a non-loopback -a)",
        ..ROW
    },
    Flag {
        long: "insecure-no-auth",
        goes_with: Uses::DAEMONS,
        rules: &[Rule::Without(
            "auth-token-file",
            "contradicts --auth-token-file; give one of them",
        )],
        section: Section::Daemon,
        help: "serve a non-loopback -a without authentication",
        ..ROW
    },
    Flag {
        long: "allow-api-force",
        goes_with: Uses::DAEMON,
        section: Section::Daemon,
        help: "let API requests use force (replace or delete gateway and propagated \
               routes); without it such a request gets 403",
        ..ROW
    },
    Flag {
        long: "max-connections",
        value: Some("N"),
        goes_with: Uses::DAEMONS,
        section: Section::Daemon,
        help: "client connections open at once (default 64); when all are taken, the one \
               idle longest or slowest to send its request makes room, else 503",
        ..ROW
    },
    Flag {
        long: "max-connections-per-client",
        value: Some("N"),
        goes_with: Uses::DAEMONS,
        section: Section::Daemon,
        help: "of those, the most one client address (IPv6: its /64) may have open \
               (default 16)",
        ..ROW
    },
    Flag {
        long: "request-timeout",
        value: Some("S"),
        goes_with: Uses::DAEMONS,
        section: Section::Daemon,
        help: "seconds a client may take to send a request, from its connection's accept \
               (default 10; then 408 and the connection closes)",
        ..ROW
    },
    // AWS
    Flag {
        long: "region",
        short: Some('r'),
        value: Some("REGION"),
        section: Section::Aws,
        help: "default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, then the \
               instance's (IMDSv2)",
        ..ROW
    },
    Flag {
        long: "vpc",
        short: Some('v'),
        value: Some("VPC_ID"),
        section: Section::Aws,
        help: "default: the VPC of the instance it runs on (IMDSv2)",
        ..ROW
    },
    Flag {
        long: "profile",
        value: Some("NAME"),
        section: Section::Aws,
        help: "shared config/credentials profile (default: AWS_PROFILE)",
        ..ROW
    },
    Flag {
        long: "endpoint-url",
        value: Some("URL"),
        section: Section::Aws,
        help: "EC2 endpoint (default: AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL, \
               https://ec2.REGION.amazonaws.com)",
        ..ROW
    },
    Flag {
        long: "route-table",
        value: Some("RTB"),
        repeats: true,
        section: Section::Aws,
        help: "only this table (repeatable; default: every table)",
        ..ROW
    },
    Flag {
        long: "connect-timeout",
        value: Some("S"),
        section: Section::Aws,
        help: "seconds to connect to EC2 (default 5)",
        ..ROW
    },
    Flag {
        long: "timeout",
        value: Some("S"),
        section: Section::Aws,
        help: "seconds for one EC2 request (default 30)",
        ..ROW
    },
    // BEHAVIOUR
    Flag {
        long: "dry-run",
        goes_with: Uses::CHANGE,
        help: "show what would change and ask EC2 (DryRun) whether the calls would be \
               allowed; change nothing",
        ..ROW
    },
    Flag {
        long: "force",
        goes_with: Uses::CHANGE,
        help: "also replace/delete a route that targets a gateway or is propagated \
               (never the local route)",
        ..ROW
    },
    Flag {
        long: "output",
        short: Some('o'),
        value: Some("text|json"),
        goes_with: Uses::ROUTE.or(Uses::RECONCILE),
        inert: Some("text"),
        label: Some("--output"),
        help: "report format on stdout (default text)",
        ..ROW
    },
    Flag {
        long: "logfile",
        short: Some('l'),
        value: Some("PATH|-"),
        help: "log to PATH instead of stderr (- is stderr)",
        ..ROW
    },
    Flag {
        long: "log-format",
        value: Some("text|json"),
        help: "log lines as text (default; under journald with its priority prefix) \
               or one JSON object per line (time, level, message)",
        ..ROW
    },
    Flag {
        long: "verbose",
        help: "debug logging: every EC2 call, its status and time",
        ..ROW
    },
    Flag {
        long: "help",
        short: Some('h'),
        help: "this help; with a command (plan --help, -c add -h), that command's help",
        ..ROW
    },
    Flag {
        long: "version",
        short: Some('V'),
        help: "the version",
        ..ROW
    },
    // 1.X SPELLINGS: -m fixedconf, one route fixed on the command line.
    Flag {
        long: "fixed_cidr",
        value: Some("CIDR"),
        goes_with: Uses::FIXED,
        section: Section::Legacy,
        help: "-m fixedconf: the CIDR of the one route; use -m configfile -f SPEC instead",
        ..ROW
    },
    Flag {
        long: "fixed_hosts",
        value: Some("IP:IP"),
        goes_with: Uses::FIXED,
        section: Section::Legacy,
        help: "-m fixedconf: its routers, in order, separated by ':' (or ',')",
        ..ROW
    },
];

/// The row of a long name (or alias), as typed after `--`.
pub fn by_long(name: &str) -> Option<usize> {
    FLAGS
        .iter()
        .position(|f| f.long == name || f.aliases.contains(&name))
}

/// The row of a short name.
pub fn by_short(c: char) -> Option<usize> {
    FLAGS.iter().position(|f| f.short == Some(c))
}

/// The row of a 1.x spelling, as typed (`--tcp_check_port`, `-H`).
pub fn by_legacy(typed: &str) -> Option<(usize, &'static Legacy)> {
    FLAGS.iter().enumerate().find_map(|(i, f)| {
        f.legacy
            .iter()
            .find(|l| l.spelling == typed)
            .map(|l| (i, l))
    })
}

/// The row of a long name the code refers to. A name not in the table is
/// a bug here, not a user error.
pub fn index(long: &str) -> usize {
    FLAGS
        .iter()
        .position(|f| f.long == long)
        .unwrap_or_else(|| panic!("no flag --{long} in cli::flags::FLAGS"))
}

/// The row of a long name the code refers to (see [`index`]).
pub fn get(long: &str) -> &'static Flag {
    &FLAGS[index(long)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_rules_name_real_flags() {
        for (i, f) in FLAGS.iter().enumerate() {
            assert_eq!(by_long(f.long), Some(i), "--{} twice", f.long);
            for a in f.aliases {
                assert_eq!(by_long(a), Some(i), "--{a} twice");
            }
            for l in f.legacy {
                assert_eq!(by_legacy(l.spelling).map(|(r, _)| r), Some(i));
                // Never one of our own spellings: that would be no notice.
                let ours = match l.spelling.strip_prefix("--") {
                    Some(long) => by_long(long),
                    None => l.spelling[1..].chars().next().and_then(by_short),
                };
                assert_eq!(ours, None, "{} is ours", l.spelling);
            }
            if let Some(s) = f.short {
                assert_eq!(by_short(s), Some(i), "-{s} twice");
            }
            assert!(!f.help.is_empty(), "--{} has no help", f.long);
            for rule in f.rules {
                if let Rule::With(other, _) | Rule::Without(other, _) = rule {
                    assert!(
                        by_long(other).is_some(),
                        "--{}: rule names --{other}",
                        f.long
                    );
                }
            }
            assert!(
                f.inert.is_none() || f.value.is_some(),
                "--{}: a switch has no inert value",
                f.long
            );
        }
    }

    #[test]
    fn sets_describe_themselves_as_a_user_would_write_them() {
        let cases = [
            (Uses::DESIRED, "plan, apply, or -d -m"),
            (
                Uses::RECONCILE.or(Uses::CONFIGFILE),
                "plan, apply, or -d -m configfile",
            ),
            (Uses::SPEC, "-d -m"),
            (Uses::DAEMONS, "-d"),
            (Uses::CHANGE, "-c add|del"),
            (
                Uses::ROUTE.or(Uses::RECONCILE),
                "-c add|show|del, plan, or apply",
            ),
            (Uses::HTTP, "-d -m http"),
            (Uses::FIXED, "-d -m fixedconf"),
        ];
        for (uses, want) in cases {
            assert_eq!(uses.describe(), want);
        }
    }
}
