//! Time as the program sees it, passed in as one value: wall time (for
//! signing, status pages and logs), monotonic time (for deadlines, pacing
//! and hold-downs) and sleeping. `main` makes the real [`Clock::system`];
//! tests make a [`Clock::manual`] one whose sleeps and timed waits move it
//! forward at once, so nothing in a test waits for real time to pass.
//!
//! Code that waits for "a notification or a deadline" waits through
//! [`Clock::wait_until`], so that the deadline is on the same clock as the
//! rest of its arithmetic: mixing the real clock with an injected one is
//! how a fake clock's deadline turns into a real hour-long wait.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Where a [`Clock`] gets its time.
trait Source: Send + Sync {
    fn wall(&self) -> SystemTime;
    fn mono(&self) -> Instant;
    fn sleep(&self, d: Duration);
    /// Whether timed waits must pass for real (false: the clock is moved
    /// to the deadline instead).
    fn real(&self) -> bool;
}

/// Wall time, monotonic time and sleep, cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<dyn Source>);

struct System;

impl Source for System {
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
    fn mono(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
    fn real(&self) -> bool {
        true
    }
}

/// Wall time from a function, the rest real: for signing tests that need
/// one exact date.
struct WallFn(Box<dyn Fn() -> SystemTime + Send + Sync>);

impl Source for WallFn {
    fn wall(&self) -> SystemTime {
        (self.0)()
    }
    fn mono(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
    fn real(&self) -> bool {
        true
    }
}

/// A clock that moves only when told to, or when something sleeps on it.
struct Manual {
    wall: SystemTime,
    mono: Instant,
    elapsed: Mutex<Duration>,
}

impl Manual {
    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Source for Manual {
    fn wall(&self) -> SystemTime {
        self.wall + self.elapsed()
    }
    fn mono(&self) -> Instant {
        self.mono + self.elapsed()
    }
    fn sleep(&self, d: Duration) {
        *self.elapsed.lock().unwrap_or_else(|p| p.into_inner()) += d;
    }
    fn real(&self) -> bool {
        false
    }
}

/// Moves a [`Clock::manual`] clock forward.
#[derive(Clone)]
pub struct Hand(Arc<Manual>);

impl Hand {
    pub fn advance(&self, d: Duration) {
        self.0.sleep(d);
    }

    /// Time slept on, or advanced, since the clock was made.
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

impl Clock {
    /// The real clock.
    pub fn system() -> Clock {
        Clock(Arc::new(System))
    }

    /// Wall time stands still at `t`; monotonic time and sleep are real.
    pub fn fixed(t: SystemTime) -> Clock {
        Clock::from_fn(move || t)
    }

    /// Wall time from `f`; monotonic time and sleep are real.
    pub fn from_fn(f: impl Fn() -> SystemTime + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(WallFn(Box::new(f))))
    }

    /// A clock that starts at `wall` and moves only through its [`Hand`],
    /// a sleep on it, or a timed wait on it (which moves it to the
    /// deadline at once).
    pub fn manual(wall: SystemTime) -> (Clock, Hand) {
        let m = Arc::new(Manual {
            wall,
            mono: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        });
        (Clock(m.clone()), Hand(m))
    }

    /// Wall time now (the name the signer and the status pages use).
    pub fn now(&self) -> SystemTime {
        self.0.wall()
    }

    /// Monotonic time now: for deadlines, pacing and hold-downs.
    pub fn mono(&self) -> Instant {
        self.0.mono()
    }

    pub fn sleep(&self, d: Duration) {
        self.0.sleep(d)
    }

    /// Waits on `cv` (whose mutex `guard` holds) until it is notified or
    /// this clock reaches `deadline` (none: until notified). It may return
    /// early (a spurious wake-up), so callers look at their state again.
    /// With a manual clock a deadline is reached at once: the clock moves
    /// to it.
    pub fn wait_until<'a, T>(
        &self,
        cv: &Condvar,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, T> {
        match deadline {
            None => cv.wait(guard).unwrap_or_else(|p| p.into_inner()),
            Some(at) => {
                let left = at.saturating_duration_since(self.mono());
                if self.0.real() {
                    cv.wait_timeout(guard, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                } else {
                    self.0.sleep(left);
                    guard
                }
            }
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_waits_move_it_to_the_deadline() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (clock, hand) = Clock::manual(start);
        let m0 = clock.mono();
        assert_eq!(clock.now(), start);
        clock.sleep(Duration::from_secs(3));
        hand.advance(Duration::from_secs(2));
        assert_eq!(clock.now(), start + Duration::from_secs(5));
        assert_eq!(clock.mono() - m0, Duration::from_secs(5));
        let (lock, cv) = (Mutex::new(()), Condvar::new());
        let g = lock.lock().unwrap();
        // A real wait of an hour would hang the test; the manual clock
        // jumps to the deadline instead.
        let _g = clock.wait_until(&cv, g, Some(m0 + Duration::from_secs(3600)));
        assert_eq!(clock.mono() - m0, Duration::from_secs(3600));
        assert_eq!(hand.elapsed(), Duration::from_secs(3600));
    }

    #[test]
    fn a_fixed_clock_stands_still_on_the_wall() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(42);
        let c = Clock::fixed(t);
        let m0 = c.mono();
        let (lock, cv) = (Mutex::new(()), Condvar::new());
        let g = lock.lock().unwrap();
        let _g = c.wait_until(&cv, g, Some(m0 + Duration::from_millis(5)));
        assert_eq!(c.now(), t);
    }
}
