//! Which command a command line asks for ([`Context`]), and whether every
//! flag given goes with it. The "only goes with", "does not go with" and
//! "belongs to a one-shot command" errors are made here from each row's
//! `goes_with` and `rules` in [`FLAGS`](super::flags::FLAGS): no list of
//! flags is kept by hand. Values are not looked at, except those that
//! choose the command (`-c`, `-m`) and `--health` (on or none).

use super::flags::{Flag, Rule, Section, Uses};
use super::tokens::{Given, Sub};
use super::{bad, err, suggest, ConfigError};
use crate::route::Op;

/// `-d -m configfile|http|etcd|bgp` (and 1.x's `fixedconf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Configfile,
    Http,
    Etcd,
    Bgp,
    Fixed,
}

/// The command a command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// `-c add|show|del`; `None` until `-c` has been read.
    Route(Option<Op>),
    Reconcile(Sub),
    /// `-d`, with `-m` or without.
    Daemon(Option<Mode>),
}

impl Context {
    /// The commands of [`Uses`] this context is one of.
    pub fn uses(self) -> Uses {
        match self {
            Context::Route(None) => Uses::ROUTE,
            Context::Route(Some(op)) => op_uses(op),
            Context::Reconcile(Sub::Plan) => Uses::PLAN,
            Context::Reconcile(Sub::Apply) => Uses::APPLY,
            Context::Daemon(None) => Uses::DAEMON,
            Context::Daemon(Some(Mode::Configfile)) => Uses::CONFIGFILE,
            Context::Daemon(Some(Mode::Http)) => Uses::HTTP,
            Context::Daemon(Some(Mode::Etcd)) => Uses::ETCD,
            Context::Daemon(Some(Mode::Bgp)) => Uses::BGP,
            Context::Daemon(Some(Mode::Fixed)) => Uses::FIXED,
        }
    }
}

pub fn op_uses(op: Op) -> Uses {
    match op {
        Op::Add => Uses::ADD,
        Op::Show => Uses::SHOW,
        Op::Del => Uses::DEL,
    }
}

/// `-c`'s value as an operation.
pub fn op_of(s: &str) -> Option<Op> {
    match s {
        "add" => Some(Op::Add),
        "show" => Some(Op::Show),
        "del" => Some(Op::Del),
        _ => None,
    }
}

/// The command asked for, once every flag given is known to go with it
/// and to have what it needs.
pub fn settle(given: &Given) -> Result<Context, ConfigError> {
    let ctx = if let Some(sub) = given.sub {
        Context::Reconcile(sub)
    } else if given.has("daemon") {
        Context::Daemon(mode(given)?)
    } else {
        // Flags of no route command are refused before -c is read, so
        // that `-p 80` without -d says -d is what is missing.
        refuse_strangers(given, Context::Route(None))?;
        Context::Route(Some(op(given)?))
    };
    refuse_strangers(given, ctx)?;
    for flag in given.effective() {
        check_rules(given, flag)?;
    }
    Ok(ctx)
}

/// Refuses the first flag (in table order) that does not go with `ctx`.
fn refuse_strangers(given: &Given, ctx: Context) -> Result<(), ConfigError> {
    match given
        .effective()
        .find(|f| !f.goes_with.intersects(ctx.uses()))
    {
        Some(flag) => Err(err(&flag.label(), refusal(ctx, flag))),
        None => Ok(()),
    }
}

/// Why `ctx` does not take `flag`, and what would.
pub fn refusal(ctx: Context, flag: &Flag) -> String {
    let goes = flag.goes_with;
    match ctx {
        Context::Reconcile(sub) if flag.section == Section::Health => format!(
            "does not go with {}, which runs once; health checks and failover run in \
             the daemon (-d -m)",
            sub.as_str()
        ),
        Context::Reconcile(sub) => format!(
            "does not go with {}, which takes the routes from the spec (-f)",
            sub.as_str()
        ),
        Context::Daemon(Some(Mode::Http)) if goes.intersects(Uses::CONFIGFILE) => {
            "does not go with -m http, where the spec comes from POST /route_spec; \
             use -m configfile to read it from a file"
                .to_string()
        }
        Context::Daemon(Some(Mode::Configfile)) if goes.intersects(Uses::HTTP) => {
            "does not go with -m configfile; it goes with -m http".to_string()
        }
        Context::Daemon(Some(Mode::Etcd)) if goes.intersects(Uses::CONFIGFILE.or(Uses::HTTP)) => {
            "does not go with -m etcd, where the spec is the etcd key PREFIXspec".to_string()
        }
        Context::Daemon(Some(Mode::Bgp)) if goes.intersects(Uses::CONFIGFILE.or(Uses::HTTP)) => {
            "does not go with -m bgp, where the routes are what BGP peers announce".to_string()
        }
        Context::Daemon(Some(Mode::Fixed)) if goes.intersects(Uses::CONFIGFILE.or(Uses::HTTP)) => {
            "does not go with -m fixedconf, where the route is --fixed_cidr and --fixed_hosts"
                .to_string()
        }
        Context::Daemon(_) if goes.intersects(Uses::DAEMONS) => only_goes_with(flag),
        Context::Daemon(_) => "belongs to a one-shot command, not to -d; the daemon takes \
                               the route, CIDR and options in each API request"
            .to_string(),
        Context::Route(Some(op)) if goes.intersects(Uses::ROUTE) => {
            let ops = op_names(goes);
            if op == Op::Show && goes.contains(Uses::CHANGE) {
                format!("show changes nothing; --{} goes with {ops}", flag.long)
            } else {
                format!(
                    "only {ops} takes {}; leave it out for {}",
                    flag.what(),
                    op.as_str()
                )
            }
        }
        Context::Route(_) => only_goes_with(flag),
    }
}

/// "only goes with -d -m (desired-state routing)", from the flag's row.
fn only_goes_with(flag: &Flag) -> String {
    let goes = flag.goes_with;
    let why = if flag.section == Section::Health {
        " (failover keeps the routes of a route spec)"
    } else if Uses::DAEMONS.contains(goes) && goes.contains(Uses::DAEMON) {
        " (daemon mode)"
    } else if Uses::DESIRED.contains(goes) {
        " (desired-state routing)"
    } else {
        ""
    };
    // A value that is a choice is worth showing: "-d -m configfile|http".
    let usage = match (flag.value, flag.short) {
        (Some(v), Some(s)) if v.contains('|') => format!(": {} -{s} {v}", goes.describe()),
        (Some(v), None) if v.contains('|') => format!(": {} --{} {v}", goes.describe(), flag.long),
        _ => String::new(),
    };
    format!("only goes with {}{why}{usage}", goes.describe())
}

/// The route commands in a set, as words: "add or del".
fn op_names(uses: Uses) -> String {
    let names: Vec<&str> = [Op::Add, Op::Show, Op::Del]
        .into_iter()
        .filter(|op| uses.contains(op_uses(*op)))
        .map(Op::as_str)
        .collect();
    match names.as_slice() {
        [rest @ .., last] if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

fn check_rules(given: &Given, flag: &Flag) -> Result<(), ConfigError> {
    for rule in flag.rules {
        let broken = match *rule {
            Rule::With(other, message) => (!given.has(other)).then_some(message),
            Rule::Without(other, message) => given.has(other).then_some(message),
            Rule::HealthChecks => given
                .one("health")
                .is_none_or(|h| h == "none")
                .then_some("needs health checks; give --health tcp, icmp or multi as well"),
        };
        if let Some(message) = broken {
            return Err(err(&flag.label(), message));
        }
    }
    Ok(())
}

/// `-m`'s value, if given.
fn mode(given: &Given) -> Result<Option<Mode>, ConfigError> {
    Ok(match given.one("mode") {
        None => None,
        Some("configfile") => Some(Mode::Configfile),
        Some("http") => Some(Mode::Http),
        Some("etcd") => Some(Mode::Etcd),
        Some("bgp") => Some(Mode::Bgp),
        // 1.x's; not offered (-m configfile does the same with a file).
        Some("fixedconf") => Some(Mode::Fixed),
        Some(other) => {
            let hint = suggest::hint_words(other, &["configfile", "http", "etcd", "bgp"]);
            return Err(bad(
                "mode",
                format!("unknown mode '{other}'; {hint}expected configfile, http, etcd or bgp"),
            ));
        }
    })
}

/// `-c`'s value: the route command.
fn op(given: &Given) -> Result<Op, ConfigError> {
    match given.one("cmd") {
        Some(c) => op_of(c).ok_or_else(|| {
            let hint = suggest::hint_words(c, &["add", "show", "del"]);
            bad(
                "cmd",
                format!("unknown command '{c}'; {hint}expected add, show or del"),
            )
        }),
        None => Err(bad(
            "cmd",
            "missing; give a command: -c add, -c show or -c del (or --help)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::FLAGS;

    /// Every flag, in every context that does not take it, is refused
    /// with a message that names what would take it; and every context
    /// takes the global flags.
    #[test]
    fn every_refusal_says_what_would_be_right() {
        let contexts = [
            Context::Route(None),
            Context::Route(Some(Op::Add)),
            Context::Route(Some(Op::Show)),
            Context::Route(Some(Op::Del)),
            Context::Reconcile(Sub::Plan),
            Context::Reconcile(Sub::Apply),
            Context::Daemon(None),
            Context::Daemon(Some(Mode::Configfile)),
            Context::Daemon(Some(Mode::Http)),
            Context::Daemon(Some(Mode::Etcd)),
            Context::Daemon(Some(Mode::Bgp)),
            Context::Daemon(Some(Mode::Fixed)),
        ];
        for ctx in contexts {
            for flag in FLAGS {
                if flag.goes_with == Uses::ALL {
                    assert!(flag.goes_with.intersects(ctx.uses()));
                }
                if flag.goes_with.intersects(ctx.uses()) {
                    continue;
                }
                let m = refusal(ctx, flag);
                let says = [
                    "only goes with",
                    "does not go with",
                    "belongs to a one-shot",
                    "goes with",
                    "only add takes",
                ];
                assert!(
                    says.iter().any(|s| m.contains(s)),
                    "{ctx:?} --{}: {m}",
                    flag.long
                );
            }
        }
    }

    #[test]
    fn route_commands_are_named_as_words() {
        assert_eq!(op_names(Uses::CHANGE), "add or del");
        assert_eq!(op_names(Uses::ADD), "add");
        assert_eq!(op_names(Uses::ROUTE), "add, show or del");
        assert_eq!(crate::cli::flags::get("ip").what(), "a router IP");
    }
}
