//! Logging: one line per event to stderr or to `--logfile`, `--verbose`
//! for debug lines. Set up once by `main`; until then (and in tests) lines
//! go to stderr at info level. Credentials never reach it: they are only
//! ever passed to the signer.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

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
    File(File),
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
        line.push_str(&rfc3339(SystemTime::now()));
        line.push(' ');
    }
    use fmt::Write as _;
    let _ = writeln!(line, "vpc-router: {level}: {args}");
    // A failed log write must not take the program down; there is nowhere
    // better to report it.
    match sink.map(|s| s.lock().unwrap_or_else(|p| p.into_inner())) {
        Some(mut guard) => match &mut *guard {
            Sink::File(f) => {
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

/// Formats a time as RFC 3339 in UTC with millisecond precision,
/// e.g. `2026-11-25T12:34:56.789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`, so no date crate is needed.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
    use std::time::Duration;

    #[test]
    fn rfc3339_formats_utc() {
        // Checked with Python: datetime.fromtimestamp(1795610096.789, timezone.utc).
        let t = UNIX_EPOCH + Duration::from_millis(1_795_610_096_789);
        assert_eq!(rfc3339(t), "2026-11-25T12:34:56.789Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // A leap day.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
