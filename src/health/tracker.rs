//! One host's state from its check results: `fall` failures in a row mark it
//! failed, `rise` successes in a row mark it healthy. Pure: no I/O, and the
//! time of each result is passed in.
//!
//! From `Unknown` (a new host) the same counts decide, whichever streak
//! completes first: `rise` successes -> Healthy, `fall` failures -> Failed.
//! A host that alternates (fail, ok, fail, ...) with `fall` and `rise` above
//! 1 therefore never changes state: hysteresis, so a flapping host does not
//! make routes flap.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{State, Transition};

/// The state of one host and the streak of results that may change it.
#[derive(Debug, Clone)]
pub struct Tracker {
    ip: IpAddr,
    fall: u32,
    rise: u32,
    state: State,
    /// The current streak: at most one of these is non-zero.
    successes: u32,
    failures: u32,
}

impl Tracker {
    /// A new host, `Unknown`. A `fall` or `rise` of 0 counts as 1.
    pub fn new(ip: IpAddr, fall: u32, rise: u32) -> Tracker {
        Tracker {
            ip,
            fall: fall.max(1),
            rise: rise.max(1),
            state: State::Unknown,
            successes: 0,
            failures: 0,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Takes the result of one check that ended at `now`; returns the
    /// transition when this result changes the state.
    pub fn record(
        &mut self,
        result: &Result<Duration, String>,
        now: Instant,
    ) -> Option<Transition> {
        let (to, reason) = match result {
            Ok(rtt) => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                if self.state == State::Healthy || self.successes < self.rise {
                    return None;
                }
                (
                    State::Healthy,
                    format!(
                        "{} in a row, the last in {rtt:?}",
                        checks(self.successes, "successful")
                    ),
                )
            }
            Err(why) => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                if self.state == State::Failed || self.failures < self.fall {
                    return None;
                }
                (
                    State::Failed,
                    format!(
                        "{} in a row, the last: {why}",
                        checks(self.failures, "failed")
                    ),
                )
            }
        };
        let from = std::mem::replace(&mut self.state, to);
        Some(Transition {
            ip: self.ip,
            from,
            to,
            detected: now,
            reason,
        })
    }
}

/// "1 failed check", "3 failed checks".
fn checks(n: u32, what: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {what} check{s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `results` ('+' success, '-' failure) through a tracker and
    /// returns the state after each, as one letter: U(nknown), H(ealthy),
    /// F(ailed), lower case where that result made a transition.
    fn run(fall: u32, rise: u32, results: &str) -> String {
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        let mut t = Tracker::new(ip, fall, rise);
        let start = Instant::now();
        let mut out = String::new();
        for (i, c) in results.chars().enumerate() {
            let now = start + Duration::from_millis(i as u64 * 20);
            let result = match c {
                '+' => Ok(Duration::from_millis(1)),
                '-' => Err("connection refused".to_string()),
                _ => panic!("bad result {c:?}"),
            };
            let before = t.state();
            match t.record(&result, now) {
                Some(tr) => {
                    assert_eq!(
                        (tr.ip, tr.from, tr.to, tr.detected),
                        (ip, before, t.state(), now)
                    );
                    out.push(letter(tr.to).to_ascii_lowercase());
                }
                None => {
                    assert_eq!(t.state(), before);
                    out.push(letter(t.state()));
                }
            }
        }
        out
    }

    fn letter(s: State) -> char {
        match s {
            State::Unknown => 'U',
            State::Healthy => 'H',
            State::Failed => 'F',
        }
    }

    #[test]
    fn states_as_data() {
        #[rustfmt::skip]
        let cases: &[(u32, u32, &str, &str, &str)] = &[
            // fall, rise, results, states after each, what it shows
            (3, 2, "+",          "U",          "one success is not enough from Unknown"),
            (3, 2, "++",         "Uh",         "rise successes: Healthy"),
            (3, 2, "--",         "UU",         "fewer than fall failures: still Unknown"),
            (3, 2, "---",        "UUf",        "fall failures from Unknown: Failed"),
            (3, 2, "+-+-+-+-+-", "UUUUUUUUUU", "alternating from Unknown: never decided"),
            (3, 2, "++-+-+-+-+-+-", "UhHHHHHHHHHHH", "intermittent failures never fail a healthy host"),
            (3, 2, "++--+--+--+", "UhHHHHHHHHH", "two failures at a time stay below fall 3"),
            (3, 2, "++---",      "UhHHf",      "exactly fall failures flip it"),
            (3, 2, "++---+",     "UhHHfF",     "one success is below rise"),
            (3, 2, "++---++",    "UhHHfFh",    "rise successes bring it back"),
            (3, 2, "++---+-++",  "UhHHfFFFh",  "a failure restarts the rise streak"),
            (3, 2, "++------",   "UhHHfFFF",   "more failures: no more transitions"),
            (1, 1, "+-+-",       "hfhf",       "fall 1, rise 1: every result decides"),
            (1, 1, "-",          "f",          "fall 1 from Unknown"),
            (0, 0, "+-",         "hf",         "0 counts as 1"),
        ];
        for (fall, rise, results, want, what) in cases {
            assert_eq!(
                &run(*fall, *rise, results),
                want,
                "fall {fall} rise {rise} {results}: {what}"
            );
        }
    }

    #[test]
    fn transitions_say_why() {
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        let mut t = Tracker::new(ip, 2, 1);
        let now = Instant::now();
        let down = Err("tcp 10.0.0.5:22: connection refused".to_string());
        assert_eq!(t.record(&down, now), None);
        let tr = t.record(&down, now).unwrap();
        assert_eq!(
            tr.reason,
            "2 failed checks in a row, the last: tcp 10.0.0.5:22: connection refused"
        );
        assert_eq!(
            tr.to_string(),
            format!("router 10.0.0.5: unknown -> failed ({})", tr.reason)
        );
        let tr = t.record(&Ok(Duration::from_millis(3)), now).unwrap();
        assert_eq!(tr.reason, "1 successful check in a row, the last in 3ms");
        assert_eq!((tr.from, tr.to), (State::Failed, State::Healthy));
    }
}
