//! Which failed EC2 calls are tried again, and how long to wait first.
//! The classification follows the AWS SDKs' "standard" retry mode
//! (throttling codes, transient codes, 5xx); the wait is exponential
//! backoff with full jitter. No clock and no sleep here: callers pass the
//! randomness in and do the waiting.

use std::time::Duration;

/// How many attempts, and the backoff between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (`AWS_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt after attempt number `attempt`
    /// (1-based) failed: uniform in `[0, min(cap, base * 2^(attempt-1)))`,
    /// "full jitter", so that many clients throttled at once spread out.
    /// `unit` is a random number in `[0, 1)`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let ceiling = self.base.saturating_mul(1 << exp).min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// Parses `AWS_MAX_ATTEMPTS`: a whole number of attempts, at least 1.
pub fn parse_max_attempts(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "'{s}' is not a number of attempts; expected a whole number from 1 (no retries) up, \
             e.g. 5"
        )),
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again; `throttled` when EC2 refused for rate, so the call did
    /// not run.
    Retry {
        throttled: bool,
    },
    Fail,
}

/// Codes by which AWS services say "slow down" (boto3's standard mode).
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Codes for failures on AWS's side that a later attempt may not meet.
const TRANSIENT: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
];

/// Decides from the HTTP status and EC2's error code (if any). The code
/// comes first: EC2 answers `RequestLimitExceeded` with 503 and some
/// throttling with 400.
pub fn classify(status: u16, code: Option<&str>) -> Verdict {
    match code {
        Some(c) if THROTTLING.contains(&c) => Verdict::Retry { throttled: true },
        Some(c) if TRANSIENT.contains(&c) => Verdict::Retry { throttled: false },
        _ if matches!(status, 500 | 502 | 503 | 504) => Verdict::Retry { throttled: false },
        _ => Verdict::Fail,
    }
}

/// A small xorshift64* generator for jitter, so no `rand` crate is needed.
/// Seeded explicitly: tests get repeatable delays.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        // A zero state would stay zero forever.
        Jitter {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
        .nonzero()
    }

    fn nonzero(mut self) -> Jitter {
        if self.state == 0 {
            self.state = 1;
        }
        self
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        // The top 53 bits make an evenly spread double in [0, 1).
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let retry = Verdict::Retry { throttled: false };
        let throttled = Verdict::Retry { throttled: true };
        let cases = [
            (503, Some("RequestLimitExceeded"), throttled),
            (400, Some("RequestLimitExceeded"), throttled),
            (400, Some("Throttling"), throttled),
            (400, Some("EC2ThrottledException"), throttled),
            (500, Some("InternalError"), retry),
            (503, Some("Unavailable"), retry),
            (500, None, retry),
            (502, None, retry),
            (504, None, retry),
            (503, Some("SomethingNew"), retry),
            (400, Some("RequestTimeout"), retry),
            (403, Some("UnauthorizedOperation"), Verdict::Fail),
            (401, Some("AuthFailure"), Verdict::Fail),
            (400, Some("InvalidRoute.NotFound"), Verdict::Fail),
            (400, Some("RouteAlreadyExists"), Verdict::Fail),
            (412, Some("DryRunOperation"), Verdict::Fail),
            (404, None, Verdict::Fail),
            (501, None, Verdict::Fail),
        ];
        for (status, code, want) in cases {
            assert_eq!(classify(status, code), want, "{status} {code:?}");
        }
    }

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.0), Duration::ZERO);
        assert_eq!(p.delay(1, 0.5), Duration::from_millis(50));
        assert_eq!(p.delay(2, 0.5), Duration::from_millis(100));
        assert_eq!(p.delay(4, 0.5), Duration::from_millis(400));
        assert!(p.delay(1, 0.999_999) < p.base);
        // Past the cap, and for absurd attempt numbers, no overflow.
        assert_eq!(p.delay(20, 0.5), Duration::from_secs(10));
        assert_eq!(p.delay(u32::MAX, 0.5), Duration::from_secs(10));
        assert_eq!(p.delay(0, 0.5), Duration::from_millis(50));
        assert!(p.delay(40, 2.0) <= p.cap);
    }

    #[test]
    fn max_attempts_must_be_a_positive_whole_number() {
        assert_eq!(parse_max_attempts("3"), Ok(3));
        assert_eq!(parse_max_attempts(" 1 "), Ok(1));
        for bad in ["0", "-1", "abc", "", "2.5"] {
            let e = parse_max_attempts(bad).unwrap_err();
            assert!(
                e.contains(&format!("'{bad}'")) && e.contains("from 1"),
                "{e}"
            );
        }
    }

    #[test]
    fn jitter_is_in_range_and_depends_on_the_seed() {
        let mut a = Jitter::new(1);
        let mut b = Jitter::new(2);
        let xs: Vec<f64> = (0..1000).map(|_| a.unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((0.4..0.6).contains(&mean), "{mean}");
        assert_ne!(Jitter::new(1).unit(), b.unit());
        assert_eq!(Jitter::new(7).unit(), Jitter::new(7).unit());
        let mut z = Jitter::new(0x9E37_79B9_7F4A_7C15);
        assert!(z.unit() >= 0.0);
    }
}
