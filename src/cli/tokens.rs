//! Reading argv: lexopt splits it, [`FLAGS`] says what each option is, and
//! the result is [`Given`], the raw strings per flag and the words (`plan`,
//! `apply`, `help TOPIC`). Nothing is validated here but the spelling of
//! each option, its value being present, and a single-valued flag not
//! being given twice with different values.

use std::ffi::OsString;

use super::flags::{self, Flag, Legacy, FLAGS};
use super::suggest;
use super::{err, ConfigError};

/// `plan` or `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Plan,
    Apply,
}

impl Sub {
    pub fn as_str(self) -> &'static str {
        match self {
            Sub::Plan => "plan",
            Sub::Apply => "apply",
        }
    }
}

/// The command line as given: each flag's values, by row of [`FLAGS`].
#[derive(Debug, Default)]
pub struct Given {
    /// One entry per time the flag was given (`""` for a switch).
    values: Vec<Vec<String>>,
    pub sub: Option<Sub>,
    /// The word `help` was given, with the word after it if any.
    pub help_word: Option<Option<String>>,
    /// The 1.x spellings given (each once, in order) and their rows.
    pub legacy: Vec<(usize, &'static Legacy)>,
}

impl Given {
    fn empty() -> Given {
        Given {
            values: vec![Vec::new(); FLAGS.len()],
            ..Given::default()
        }
    }

    /// Whether the flag (long name) was given.
    pub fn has(&self, long: &str) -> bool {
        !self.values[flags::index(long)].is_empty()
    }

    /// The value of a single-valued flag, if given.
    pub fn one(&self, long: &str) -> Option<&str> {
        self.values[flags::index(long)].first().map(String::as_str)
    }

    /// Every value of a repeatable flag, in order.
    pub fn all(&self, long: &str) -> &[String] {
        &self.values[flags::index(long)]
    }

    /// Gives the flag (long name) this one value instead of what it had.
    pub fn set(&mut self, long: &str, value: &str) {
        self.values[flags::index(long)] = vec![value.to_string()];
    }

    /// Whether the 1.x spelling was given.
    pub fn spelt(&self, spelling: &str) -> bool {
        self.legacy.iter().any(|(_, l)| l.spelling == spelling)
    }

    /// The rows given other than with their inert value, in table order:
    /// the flags a command must accept.
    pub fn effective(&self) -> impl Iterator<Item = &'static Flag> + '_ {
        FLAGS.iter().zip(&self.values).filter_map(|(f, v)| {
            let inert = matches!((f.inert, v.as_slice()), (Some(i), [only]) if only == i);
            (!v.is_empty() && !inert).then_some(f)
        })
    }

    /// `--help`, `-h` or the word `help`.
    pub fn wants_help(&self) -> bool {
        self.has("help") || self.help_word.is_some()
    }
}

/// What a word that is neither a command nor a topic may have meant.
const WORDS: [(&str, &str); 7] = [
    ("plan", "plan"),
    ("apply", "apply"),
    ("help", "help"),
    ("add", "-c add"),
    ("show", "-c show"),
    ("del", "-c del"),
    ("daemon", "-d"),
];

/// Reads the command line (without the program name).
pub fn read<I>(args: I) -> Result<Given, ConfigError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::Arg::{Long, Short, Value};
    let mut parser = lexopt::Parser::from_args(args);
    let mut given = Given::empty();
    loop {
        let next = parser
            .next()
            .map_err(|e| err("", format!("{e}; run 'vpc-router --help' for usage")))?;
        let Some(arg) = next else { break };
        let (row, typed) = match &arg {
            Short(c) => (flags::by_short(*c), format!("-{c}")),
            Long(name) => (flags::by_long(name), format!("--{name}")),
            Value(v) => {
                word(&mut given, v.to_string_lossy().into_owned())?;
                continue;
            }
        };
        let legacy = match row {
            Some(_) => None,
            None => flags::by_legacy(&typed),
        };
        let row = row.or(legacy.map(|(r, _)| r));
        let Some(row) = row else {
            let hint = match arg {
                Long(name) => long_hint(name),
                _ => String::new(),
            };
            return Err(err(
                "",
                format!(
                    "{}; {hint}run 'vpc-router --help' for usage",
                    arg.unexpected()
                ),
            ));
        };
        let flag = &FLAGS[row];
        let value = match flag.value {
            None => String::new(),
            Some(_) => {
                let v = parser
                    .value()
                    .map_err(|_| err(&flag.label(), "needs a value"))?;
                v.into_string()
                    .map_err(|v| err(&flag.label(), format!("{v:?} is not valid UTF-8")))?
            }
        };
        let value = match legacy {
            Some((_, l)) => {
                if !given.spelt(l.spelling) {
                    given.legacy.push((row, l));
                }
                super::legacy::value(l, value)
            }
            None => value,
        };
        add(&mut given.values[row], flag, value, legacy.map(|(_, l)| l))?;
    }
    Ok(given)
}

/// "did you mean --region? " for a mistyped long option, or nothing.
fn long_hint(typed: &str) -> String {
    // A 1.x spelling, mistyped, suggests ours.
    let old = |f: &'static Flag| {
        f.legacy
            .iter()
            .filter_map(|l| l.spelling.strip_prefix("--"))
    };
    let names = FLAGS.iter().flat_map(|f| {
        std::iter::once(f.long)
            .chain(f.aliases.iter().copied())
            .chain(old(f))
            .map(move |name| (name, f.long))
    });
    match suggest::nearest(typed, names) {
        Some(long) => format!("did you mean --{long}? "),
        None => String::new(),
    }
}

/// Records one value, refusing a second, different value of a
/// single-valued flag (`legacy`: as the 1.x spelling it was typed in).
fn add(
    slot: &mut Vec<String>,
    flag: &Flag,
    value: String,
    legacy: Option<&Legacy>,
) -> Result<(), ConfigError> {
    match slot.first() {
        Some(old) if !flag.repeats && *old != value => Err(match legacy {
            None => err(
                &flag.label(),
                "given twice with different values; give it once",
            ),
            Some(l) => err(
                l.spelling,
                format!(
                    "'{value}' differs from the '{old}' given before: both are {} \
                     in vpc-router, one value; give it once",
                    flag.label()
                ),
            ),
        }),
        Some(_) if !flag.repeats => Ok(()),
        _ => {
            slot.push(value);
            Ok(())
        }
    }
}

/// A word on the command line: `plan`, `apply`, `help [TOPIC]`.
fn word(given: &mut Given, v: String) -> Result<(), ConfigError> {
    match (&mut given.help_word, v.as_str()) {
        (None, "help") => given.help_word = Some(None),
        (Some(topic @ None), _) => *topic = Some(v),
        (_, "plan") if given.sub.is_none() => given.sub = Some(Sub::Plan),
        (_, "apply") if given.sub.is_none() => given.sub = Some(Sub::Apply),
        _ => {
            let hint = suggest::hint(&v, WORDS);
            return Err(err(
                "",
                format!(
                    "unexpected argument {v:?}; {hint}commands are given with -c/--cmd \
                     (add, show, del), -d (daemon), or as plan/apply -f SPEC"
                ),
            ));
        }
    }
    Ok(())
}
