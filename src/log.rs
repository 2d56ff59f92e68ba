//! Logging: one line per event to stderr or to `--logfile`, `--verbose`
//! for debug lines. Set up once by `main`; until then (and in tests) lines
//! go to stderr at info level. Credentials never reach it: they are only
//! ever passed to the signer. Control characters in a line are escaped
//! here, so no value a client or a file supplied can break or forge one.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        })
    }
}

/// Where log lines go.
pub enum Sink {
    Stderr,
    /// A file opened for appending, and its path (to reopen it).
    File(File, PathBuf),
}

struct Logger {
    max: Level,
    /// Timestamps on every line: for files and for the daemon, where lines
    /// are read later; not for an interactive one-shot.
    timestamps: bool,
    sink: Mutex<Sink>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging; only the first call has an effect.
pub fn init(max: Level, sink: Sink, timestamps: bool) {
    let _ = LOGGER.set(Logger {
        max,
        timestamps,
        sink: Mutex::new(sink),
    });
}

/// Opens `path` for appending, as `--logfile` does.
pub fn open(path: &std::path::Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Reopens the log file by its path (SIGHUP, after logrotate moved it):
/// later lines go to a file at that path again. Logging to stderr, there
/// is nothing to do. If the file cannot be opened, lines keep going to the
/// old one, and the error is returned.
pub fn reopen() -> std::io::Result<bool> {
    let Some(l) = LOGGER.get() else {
        return Ok(false);
    };
    let mut sink = l.sink.lock().unwrap_or_else(|p| p.into_inner());
    match &mut *sink {
        Sink::Stderr => Ok(false),
        Sink::File(file, path) => {
            *file = open(path)?;
            Ok(true)
        }
    }
}

pub fn enabled(level: Level) -> bool {
    level <= LOGGER.get().map_or(Level::Info, |l| l.max)
}

pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let (timestamps, sink) = match LOGGER.get() {
        Some(l) => (l.timestamps, Some(&l.sink)),
        None => (false, None),
    };
    let mut line = String::new();
    if timestamps {
        line.push_str(&crate::timefmt::rfc3339(SystemTime::now()));
        line.push(' ');
    }
    use fmt::Write as _;
    let _ = write!(line, "vpc-router: {level}: ");
    escape_controls(&args.to_string(), &mut line);
    line.push('\n');
    // A failed log write must not take the program down; there is nowhere
    // better to report it.
    match sink.map(|s| s.lock().unwrap_or_else(|p| p.into_inner())) {
        Some(mut guard) => match &mut *guard {
            Sink::File(f, _) => {
                let _ = f.write_all(line.as_bytes());
            }
            Sink::Stderr => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        },
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Appends `text` to `out` with every control character escaped (`\n`,
/// `\r`, `\t`, others as `\u{1b}`), so that a value a client or a file
/// supplied can neither end a line, rewrite it (a bare CR) nor drive the
/// terminal that shows the log (ANSI escapes). Done here, for every line,
/// so that no caller can forget it.
pub fn escape_controls(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
}

#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($t)*)) } }

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped_and_nothing_else_is() {
        let mut out = String::new();
        escape_controls(
            "GET /route?\x1b[31mred\rX\ty\nz \u{7f}\u{85} caf\u{e9} \\ \"q\"",
            &mut out,
        );
        assert_eq!(
            out,
            "GET /route?\\u{1b}[31mred\\rX\\ty\\nz \\u{7f}\\u{85} caf\u{e9} \\ \"q\""
        );
    }
}
