//! The systemd notify protocol (sd_notify(3)), spoken by the daemon itself:
//! one datagram per state change to the socket named by `$NOTIFY_SOCKET`
//! (a path, or `@name` for an abstract socket). `READY=1` once the API
//! serves and (with `-m`) the first pass is done; `RELOADING=1` then
//! `READY=1` on SIGHUP; `STOPPING=1` on SIGTERM/SIGINT; `WATCHDOG=1` every
//! half of `$WATCHDOG_USEC` while the control loop answers.
//!
//! The variables come from the [`Env`] snapshot taken in `main`; nothing
//! here reads the process environment. Without `$NOTIFY_SOCKET` every call
//! is a no-op. Sending never blocks the daemon and a failure is logged once.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::aws::Env;
use crate::daemon::feed::Stop;
use crate::warn;

/// Where systemd listens, and how often it wants to hear from us.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr, String)>,
    watchdog: Option<Duration>,
    warned: AtomicBool,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (honoured only when
    /// `$WATCHDOG_PID` is unset or names this process, as sd_watchdog_enabled
    /// does).
    pub fn from_env(env: &Env) -> Notifier {
        let target = env.get("NOTIFY_SOCKET").and_then(|name| {
            let addr = match name.strip_prefix('@') {
                Some(abs) => SocketAddr::from_abstract_name(abs.as_bytes()),
                None => SocketAddr::from_pathname(name),
            };
            let sock = UnixDatagram::unbound();
            match (addr, sock) {
                (Ok(a), Ok(s)) => {
                    let _ = s.set_nonblocking(true);
                    Some((s, a, name.to_string()))
                }
                (Err(e), _) | (_, Err(e)) => {
                    warn!("NOTIFY_SOCKET={name}: cannot use it ({e}); not notifying systemd");
                    None
                }
            }
        });
        let ours = env
            .get("WATCHDOG_PID")
            .is_none_or(|p| p.trim() == std::process::id().to_string());
        let watchdog = env
            .get("WATCHDOG_USEC")
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && ours)
            .map(|u| Duration::from_micros(u / 2));
        Notifier {
            target,
            watchdog,
            warned: AtomicBool::new(false),
        }
    }

    /// A notifier that sends nothing.
    pub fn none() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
            warned: AtomicBool::new(false),
        }
    }

    /// Whether systemd asked for notifications at all.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog.filter(|_| self.enabled())
    }

    /// Sends one state (`READY=1`, ...). A failure is logged the first time.
    pub fn send(&self, state: &str) {
        let Some((sock, addr, name)) = &self.target else {
            return;
        };
        if let Err(e) = sock.send_to_addr(state.as_bytes(), addr) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                warn!("cannot notify systemd at {name} ({e}); the unit may time out");
            }
        }
    }

    /// The notify thread's loop until `stop`: `READY=1` once `ready()`
    /// says so, then `WATCHDOG=1` every interval for which `alive()` (given
    /// the interval as its time limit) says the daemon's core still turns.
    pub fn run(&self, ready: impl Fn() -> bool, alive: impl Fn(Duration) -> bool, stop: &Stop) {
        let poll = Duration::from_millis(50);
        while !ready() {
            if stop.wait(poll) {
                return;
            }
        }
        self.send("READY=1");
        let Some(every) = self.watchdog() else {
            return;
        };
        loop {
            if alive(every) {
                self.send("WATCHDOG=1");
            }
            if stop.wait(every) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_reach_a_path_and_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("vpc-router-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::from_env(&Env::from_pairs([(
            "NOTIFY_SOCKET",
            path.to_str().unwrap(),
        )]));
        n.send("READY=1");
        let mut buf = [0u8; 64];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");

        let name = format!("vpc-router-notify-test-{}", std::process::id());
        let abs =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        let n = Notifier::from_env(&Env::from_pairs([("NOTIFY_SOCKET", &*format!("@{name}"))]));
        n.send("STOPPING=1");
        let len = abs.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_watchdog_is_half_its_usec_and_only_for_this_process() {
        let env = |pid: &str| {
            Env::from_pairs([
                ("NOTIFY_SOCKET", "@x"),
                ("WATCHDOG_USEC", "30000000"),
                ("WATCHDOG_PID", pid),
            ])
        };
        let me = std::process::id().to_string();
        assert_eq!(
            Notifier::from_env(&env(&me)).watchdog(),
            Some(Duration::from_secs(15))
        );
        assert_eq!(Notifier::from_env(&env("1")).watchdog(), None);
        assert_eq!(
            Notifier::from_env(&Env::from_pairs([("WATCHDOG_USEC", "30000000")])).watchdog(),
            None
        );
        assert!(!Notifier::none().enabled());
    }
}
