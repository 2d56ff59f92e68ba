//! Logging: one line per event to stderr or to `--logfile`, `--verbose`
//! for debug lines. Set up once by `main`; until then (and in tests) lines
//! go to stderr at info level. Credentials never reach it: they are only
//! ever passed to the signer. Control characters in a line are escaped
//! here, so no value a client or a file supplied can break or forge one.
//!
//! A line's [`Style`]: plain (an interactive one-shot), timestamped (files
//! and the daemon), journald's (`<6>`: the syslog priority instead of a
//! timestamp, when stderr is the journal's stream: `$JOURNAL_STREAM`), or
//! JSON (`--log-format json`: one object per line, time, level, message).

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

impl Level {
    /// The syslog priority journald reads from a `<N>` prefix.
    pub fn syslog(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info => 6,
            Level::Debug => 7,
        }
    }
}

/// How a line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `vpc-router: info: ...`
    Plain,
    /// `2026-01-01T00:00:00Z vpc-router: info: ...`
    Timestamped,
    /// `<6>vpc-router: info: ...`: journald takes the priority from the
    /// prefix and keeps its own timestamp.
    Journal,
    /// `{"time":"...","level":"info","message":"..."}`
    Json,
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
    /// Through std's print machinery (`eprint!`), which the test harness
    /// captures per test: for tests that use the library in-process, so
    /// that a passing test prints nothing and a failing one shows its log.
    Captured,
}

struct Logger {
    max: Level,
    style: Style,
    sink: Mutex<Sink>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging; only the first call has an effect.
pub fn init(max: Level, sink: Sink, style: Style) {
    let _ = LOGGER.set(Logger {
        max,
        style,
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
        Sink::Stderr | Sink::Captured => Ok(false),
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
    let (style, sink) = match LOGGER.get() {
        Some(l) => (l.style, Some(&l.sink)),
        None => (Style::Plain, None),
    };
    let line = format_line(style, level, SystemTime::now(), &args.to_string());
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
            Sink::Captured => eprint!("{line}"),
        },
        None => unconfigured(&line),
    }
}

/// A line before `init`: to stderr as it is.
#[cfg(not(test))]
fn unconfigured(line: &str) {
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Unit tests never call `init`: their lines go where `Sink::Captured`
/// sends them.
#[cfg(test)]
fn unconfigured(line: &str) {
    eprint!("{line}");
}

/// One line, newline included, in `style`. The message's control
/// characters are escaped in every style (in JSON too, so that its
/// `message` reads as the text line does).
pub fn format_line(style: Style, level: Level, now: SystemTime, message: &str) -> String {
    use fmt::Write as _;
    let mut line = String::new();
    match style {
        Style::Plain => {}
        Style::Timestamped => {
            line.push_str(&crate::timefmt::rfc3339(now));
            line.push(' ');
        }
        Style::Journal => {
            let _ = write!(line, "<{}>", level.syslog());
        }
        Style::Json => {
            let mut escaped = String::new();
            escape_controls(message, &mut escaped);
            // No control character is left: only `"` and `\` need escaping.
            let quoted = escaped.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(
                line,
                "{{\"time\":\"{}\",\"level\":\"{level}\",\"message\":\"{quoted}\"}}",
                crate::timefmt::rfc3339(now)
            );
            return line;
        }
    }
    let _ = write!(line, "vpc-router: {level}: ");
    escape_controls(message, &mut line);
    line.push('\n');
    line
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
    use super::*;

    #[test]
    fn each_style_of_line() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86400);
        let m = "a \"b\" \\ c\nd";
        assert_eq!(
            format_line(Style::Plain, Level::Info, t, m),
            "vpc-router: info: a \"b\" \\ c\\nd\n"
        );
        assert_eq!(
            format_line(Style::Journal, Level::Error, t, m),
            "<3>vpc-router: error: a \"b\" \\ c\\nd\n"
        );
        assert!(format_line(Style::Journal, Level::Warn, t, m).starts_with("<4>"));
        assert!(format_line(Style::Journal, Level::Info, t, m).starts_with("<6>"));
        assert!(format_line(Style::Journal, Level::Debug, t, m).starts_with("<7>"));
        assert!(format_line(Style::Timestamped, Level::Info, t, m)
            .starts_with("1970-01-02T00:00:00.000Z vpc-router: info: "));
        let json = format_line(Style::Json, Level::Warn, t, m);
        assert!(json.ends_with('\n') && json.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"time": "1970-01-02T00:00:00.000Z", "level": "warning", "message": "a \"b\" \\ c\\nd"})
        );
    }

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
