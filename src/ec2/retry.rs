//! Which EC2 failures are retried, and how long to wait between attempts.
//!
//! The error codes follow the AWS SDKs' "standard" retry mode: throttling
//! codes and transient server errors are retried with capped exponential
//! backoff and full jitter; client errors are not. Randomness and time come
//! from the caller, so every decision here is a pure function.

use std::time::Duration;

/// How many times a call is attempted and how the wait between attempts grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; 1 means no retries.
    pub max_attempts: u32,
    /// The ceiling of the first delay; it doubles with every failed attempt.
    pub base: Duration,
    /// No delay is ever longer than this.
    pub cap: Duration,
}

/// Five attempts, 100 ms doubling up to 20 s: the AWS SDKs' standard mode
/// makes only three, but a router failover should ride out a burst of EC2
/// throttling rather than give up after a fraction of a second.
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
    /// Delay before the next attempt after attempt number `attempt` (1-based) failed:
    /// full jitter, uniform in [0, min(cap, base * 2^(attempt-1))]; `unit` is a random number in [0,1).
    ///
    /// Attempt 0 is treated as attempt 1, and a `unit` outside [0,1) (or NaN)
    /// is clamped into it, so that a caller's mistake cannot produce a delay
    /// beyond the ceiling.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling_nanos(attempt);
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        // The product is at most `ceiling`, but float rounding could push it a
        // hair over, so clamp again in integers.
        let nanos = ((ceiling as f64 * unit) as u128).min(ceiling);
        nanos_to_duration(nanos)
    }

    /// min(cap, base * 2^(attempt-1)) in nanoseconds, computed without
    /// overflow however large `attempt` is.
    fn ceiling_nanos(&self, attempt: u32) -> u128 {
        let base = self.base.as_nanos();
        let cap = self.cap.as_nanos();
        let doublings = attempt.saturating_sub(1);
        // A Duration holds fewer than 2^94 nanoseconds, so 128 or more
        // doublings of a non-zero base always exceed the cap.
        if doublings >= 128 {
            return if base == 0 { 0 } else { cap };
        }
        if base > cap >> doublings {
            cap
        } else {
            base << doublings
        }
    }
}

/// Converts nanoseconds that came from a `Duration` back into one.
fn nanos_to_duration(nanos: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    // Both parts fit: the value never exceeds a Duration's own nanoseconds.
    Duration::new((nanos / PER_SEC) as u64, (nanos % PER_SEC) as u32)
}

/// Parses AWS_MAX_ATTEMPTS: an integer >= 1 (error message says what is wrong and what is right).
pub fn parse_max_attempts(s: &str) -> Result<u32, String> {
    const RIGHT: &str = "it must be a whole number of at least 1, the total number of \
                         attempts per EC2 call (1 means no retries; the default is 5)";
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("AWS_MAX_ATTEMPTS is empty; {RIGHT}"));
    }
    match t.parse::<u32>() {
        Ok(0) => Err(format!("AWS_MAX_ATTEMPTS is 0; {RIGHT}")),
        Ok(n) => Ok(n),
        Err(_) if t.parse::<i128>().is_ok_and(|n| n < 0) => {
            Err(format!("AWS_MAX_ATTEMPTS is negative ({t}); {RIGHT}"))
        }
        Err(_) if t.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
            "AWS_MAX_ATTEMPTS is too large ({t}); {RIGHT}, at most {}",
            u32::MAX
        )),
        Err(_) => Err(format!("AWS_MAX_ATTEMPTS is {s:?}, not a number; {RIGHT}")),
    }
}

/// Whether a failed call is worth another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after a delay. `throttled` says that EC2 asked us to slow
    /// down, as opposed to a server-side fault.
    Retry { throttled: bool },
    /// The same request would fail the same way.
    Fail,
}

/// Error codes by which AWS services say "too many requests", as listed by
/// the AWS SDKs' standard retry mode (aws-runtime's THROTTLING_ERRORS).
const THROTTLING_CODES: &[&str] = &[
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

/// Error codes for faults on AWS's side that a later attempt may not meet.
/// The SDKs' list has only the two timeouts; EC2 also reports server faults
/// by code, sometimes with a status that would not be retried on its own.
const TRANSIENT_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
];

/// Server-side HTTP statuses that the SDKs retry whatever the body says.
const TRANSIENT_STATUSES: &[u16] = &[500, 502, 503, 504];

/// HTTP status + EC2 error code (if any) -> whether to retry.
///
/// The code decides first, because EC2 answers RequestLimitExceeded with 503
/// and some throttles with 400. A 5xx is retried unless its code says the
/// request itself is wrong, since repeating a wrong request cannot help.
pub fn classify(status: u16, code: Option<&str>) -> Decision {
    if let Some(code) = code {
        if THROTTLING_CODES.contains(&code) {
            return Decision::Retry { throttled: true };
        }
        if TRANSIENT_CODES.contains(&code) {
            return Decision::Retry { throttled: false };
        }
        if is_client_error_code(code) {
            return Decision::Fail;
        }
    }
    if TRANSIENT_STATUSES.contains(&status) {
        Decision::Retry { throttled: false }
    } else {
        Decision::Fail
    }
}

/// EC2 codes that blame the request or the caller, by the naming
/// conventions of EC2's error list: `Invalid...`, `....NotFound`,
/// `....Malformed`, `....Duplicate`, and the authorisation and dry-run codes.
fn is_client_error_code(code: &str) -> bool {
    const EXACT: &[&str] = &[
        "AuthFailure",
        "Blocked",
        "DryRunOperation",
        "ExpiredToken",
        "IdempotentParameterMismatch",
        "IncompleteSignature",
        "MissingAction",
        "MissingAuthenticationToken",
        "MissingParameter",
        "OptInRequired",
        "RequestExpired",
        "RouteAlreadyExists",
        "SignatureDoesNotMatch",
        "UnauthorizedOperation",
        "UnknownParameter",
        "UnsupportedOperation",
        "ValidationError",
    ];
    EXACT.contains(&code)
        || code.starts_with("Invalid")
        || [".NotFound", ".Malformed", ".Duplicate"]
            .iter()
            .any(|suffix| code.ends_with(suffix))
}

/// A small xorshift64* PRNG for jitter, so no rand crate is needed; seeded explicitly.
///
/// Jitter only has to spread retries of different processes apart; it does
/// not need to be unpredictable.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator whose sequence depends only on `seed`. The seed is mixed
    /// first (splitmix64), so that nearby seeds such as consecutive process
    /// IDs give unrelated sequences, and so that the state is never zero,
    /// where xorshift would stay forever.
    pub fn new(seed: u64) -> Jitter {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Jitter {
            state: if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z },
        }
    }

    /// The next number, uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        let out = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // The top 53 bits fill an f64 mantissa exactly, so the result is a
        // multiple of 2^-53 strictly below 1.
        (out >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn classification_table() {
        let throttled = Decision::Retry { throttled: true };
        let transient = Decision::Retry { throttled: false };
        let cases: &[(u16, Option<&str>, Decision)] = &[
            // EC2's own throttle arrives as 503; others as 400.
            (503, Some("RequestLimitExceeded"), throttled),
            (400, Some("RequestLimitExceeded"), throttled),
            (400, Some("Throttling"), throttled),
            (400, Some("ThrottlingException"), throttled),
            (400, Some("ThrottledException"), throttled),
            (400, Some("RequestThrottledException"), throttled),
            (429, Some("TooManyRequestsException"), throttled),
            (
                400,
                Some("ProvisionedThroughputExceededException"),
                throttled,
            ),
            (400, Some("TransactionInProgressException"), throttled),
            (400, Some("BandwidthLimitExceeded"), throttled),
            (400, Some("LimitExceededException"), throttled),
            (400, Some("RequestThrottled"), throttled),
            (503, Some("SlowDown"), throttled),
            (400, Some("PriorRequestNotComplete"), throttled),
            (400, Some("EC2ThrottledException"), throttled),
            (400, Some("RequestTimeout"), transient),
            (408, Some("RequestTimeoutException"), transient),
            (500, Some("InternalError"), transient),
            (500, Some("InternalFailure"), transient),
            (503, Some("ServiceUnavailable"), transient),
            (400, Some("Unavailable"), transient),
            (500, None, transient),
            (502, None, transient),
            (503, None, transient),
            (504, None, transient),
            (503, Some("SomethingNew"), transient),
            (501, None, Decision::Fail),
            (505, None, Decision::Fail),
            (429, None, Decision::Fail),
            (400, None, Decision::Fail),
            (200, None, Decision::Fail),
            (403, Some("UnauthorizedOperation"), Decision::Fail),
            (401, Some("AuthFailure"), Decision::Fail),
            (400, Some("InvalidRoute.NotFound"), Decision::Fail),
            (400, Some("InvalidRouteTableID.NotFound"), Decision::Fail),
            (400, Some("InvalidParameterValue"), Decision::Fail),
            (400, Some("RouteAlreadyExists"), Decision::Fail),
            (412, Some("DryRunOperation"), Decision::Fail),
            (400, Some("SomethingNew"), Decision::Fail),
            // A code that blames the request wins over a server status.
            (500, Some("InvalidParameterValue"), Decision::Fail),
            (503, Some("UnauthorizedOperation"), Decision::Fail),
            (502, Some("InvalidVpcID.Malformed"), Decision::Fail),
            // Codes are case-sensitive, as AWS sends them.
            (400, Some("throttling"), Decision::Fail),
        ];
        for &(status, code, want) in cases {
            assert_eq!(classify(status, code), want, "{status} {code:?}");
        }
    }

    #[test]
    fn default_policy() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.base, 100 * MS);
        assert_eq!(p.cap, Duration::from_secs(20));
    }

    #[test]
    fn delay_is_bounded_by_the_doubling_ceiling_and_the_cap() {
        let p = RetryPolicy::default();
        let top = 1.0 - f64::EPSILON;
        assert_eq!(p.delay(1, 0.0), Duration::ZERO);
        assert_eq!(p.delay(7, 0.0), Duration::ZERO);
        assert!(p.delay(1, top) <= 100 * MS);
        assert!(p.delay(1, top) > 99 * MS);
        assert_eq!(p.delay(1, 0.5), 50 * MS);
        assert_eq!(p.delay(2, 0.5), 100 * MS);
        assert_eq!(p.delay(3, 0.5), 200 * MS);
        // 100 ms * 2^8 = 25.6 s, above the cap.
        assert_eq!(p.delay(9, 0.5), Duration::from_secs(10));
        for attempt in 1..=40 {
            for unit in [0.0, 0.25, 0.5, 0.75, top] {
                assert!(p.delay(attempt, unit) <= p.cap, "{attempt} {unit}");
            }
            assert!(p.delay(attempt + 1, top) >= p.delay(attempt, top));
        }
    }

    #[test]
    fn delay_survives_huge_attempts_and_odd_units() {
        let p = RetryPolicy::default();
        for attempt in [31, 32, 33, 63, 64, 65, 127, 128, 129, u32::MAX] {
            assert_eq!(p.delay(attempt, 0.5), Duration::from_secs(10), "{attempt}");
        }
        let huge = RetryPolicy {
            max_attempts: 3,
            base: Duration::MAX,
            cap: Duration::MAX,
        };
        assert!(huge.delay(u32::MAX, 0.999) <= Duration::MAX);
        assert_eq!(huge.delay(1, 0.0), Duration::ZERO);
        let zero = RetryPolicy {
            base: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.delay(u32::MAX, 0.9), Duration::ZERO);
        assert_eq!(p.delay(0, 0.5), p.delay(1, 0.5));
        assert_eq!(p.delay(1, 7.0), 100 * MS);
        assert_eq!(p.delay(1, -1.0), Duration::ZERO);
        assert_eq!(p.delay(1, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn max_attempts_parsing() {
        assert_eq!(parse_max_attempts("3"), Ok(3));
        assert_eq!(parse_max_attempts("1"), Ok(1));
        assert_eq!(parse_max_attempts(" 10\n"), Ok(10));
        for (bad, says) in [
            ("0", "is 0"),
            ("-1", "negative"),
            ("abc", "not a number"),
            ("", "empty"),
            ("  ", "empty"),
            ("2.5", "not a number"),
            ("99999999999", "too large"),
        ] {
            let err = parse_max_attempts(bad).unwrap_err();
            assert!(err.contains("AWS_MAX_ATTEMPTS"), "{err}");
            assert!(err.contains(says), "{bad:?}: {err}");
            assert!(err.contains("at least 1"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn jitter_is_in_the_unit_interval_and_depends_on_the_seed() {
        for seed in [0, 1, 2, u64::MAX, 0x9E37_79B9_7F4A_7C15] {
            let mut j = Jitter::new(seed);
            let values: Vec<f64> = (0..10_000).map(|_| j.unit()).collect();
            assert!(values.iter().all(|v| (0.0..1.0).contains(v)), "{seed}");
            // A uniform sample this large covers both halves of the interval
            // and has a mean near 1/2; a stuck or biased generator would not.
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            assert!((0.45..0.55).contains(&mean), "{seed}: mean {mean}");
            assert!(values.windows(2).any(|w| w[0] != w[1]));
        }
        let a: Vec<f64> = {
            let mut j = Jitter::new(1);
            (0..4).map(|_| j.unit()).collect()
        };
        let b: Vec<f64> = {
            let mut j = Jitter::new(2);
            (0..4).map(|_| j.unit()).collect()
        };
        let a_again: Vec<f64> = {
            let mut j = Jitter::new(1);
            (0..4).map(|_| j.unit()).collect()
        };
        assert_ne!(a, b);
        assert_eq!(a, a_again);
    }
}
