//! Retrying AWS calls (EC2 and STS) as the AWS SDKs' standard retry mode
//! does, in its 2026 revision ("retries 2.1", what `AWS_NEW_RETRIES_2026`
//! turns on in the SDKs): which failures are retried, exponential backoff
//! with full jitter from a 1 s base for throttling and 50 ms for other
//! errors, capped at 20 s; `x-amz-retry-after` honoured within five seconds
//! of the backoff; and a retry quota that every call of the process shares.
//!
//! The decisions ([`classify`], [`RetryPolicy::delay`], [`RetryQuota`]) are
//! pure; [`Retrier::run`] is the one loop that waits, on the [`Clock`] it
//! was given.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;

/// How many times a call is attempted and how the wait between attempts grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; 1 means no retries.
    pub max_attempts: u32,
    /// The ceiling of the first delay after an error that is not
    /// throttling (a 5xx, a dropped connection); it doubles with every
    /// failed attempt.
    pub base: Duration,
    /// The same, after a throttling error.
    pub throttle_base: Duration,
    /// No backoff is ever longer than this.
    pub cap: Duration,
    /// How much longer than the backoff an `x-amz-retry-after` may make a
    /// wait (the SDKs: five seconds).
    pub retry_after_window: Duration,
}

/// The SDKs' standard mode (retries 2.1) with five attempts rather than
/// three: a router failover should ride out a burst of EC2 throttling
/// rather than give up after a second or two.
impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(50),
            throttle_base: Duration::from_secs(1),
            cap: Duration::from_secs(20),
            retry_after_window: Duration::from_secs(5),
        }
    }
}

/// A failover's calls wait at most this long between attempts ...
pub const URGENT_CAP: Duration = Duration::from_secs(1);
/// ... and make at most this many attempts: what is still failing then is
/// left to the pass that follows every failover.
pub const URGENT_MAX_ATTEMPTS: u32 = 3;

impl RetryPolicy {
    /// The policy for a call that must not wait long (a failover's): the
    /// same backoff, capped at [`URGENT_CAP`] whatever `x-amz-retry-after`
    /// asks, and at most [`URGENT_MAX_ATTEMPTS`] attempts.
    pub fn urgent(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.min(URGENT_MAX_ATTEMPTS),
            cap: self.cap.min(URGENT_CAP),
            retry_after_window: Duration::ZERO,
            ..*self
        }
    }

    /// Delay before the next attempt after attempt number `attempt`
    /// (1-based) failed: full jitter, uniform in [0, min(cap, base *
    /// 2^(attempt-1))], the base by whether it was `throttled`; `unit` is a
    /// random number in [0,1). With `retry_after` (the answer's
    /// `x-amz-retry-after`), that instead, but no shorter than the backoff
    /// and no longer than the backoff plus `retry_after_window`.
    ///
    /// Attempt 0 is treated as attempt 1, and a `unit` outside [0,1) (or
    /// NaN) is clamped into it, so that a caller's mistake cannot produce a
    /// delay beyond the ceiling.
    pub fn delay(
        &self,
        attempt: u32,
        throttled: bool,
        unit: f64,
        retry_after: Option<Duration>,
    ) -> Duration {
        let base = if throttled {
            self.throttle_base
        } else {
            self.base
        };
        let ceiling = ceiling_nanos(base, self.cap, attempt);
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        // The product is at most `ceiling`, but float rounding could push it a
        // hair over, so clamp again in integers.
        let backoff = nanos_to_duration(((ceiling as f64 * unit) as u128).min(ceiling));
        match retry_after {
            None => backoff,
            Some(asked) => asked.clamp(backoff, backoff.saturating_add(self.retry_after_window)),
        }
    }
}

/// min(cap, base * 2^(attempt-1)) in nanoseconds, computed without
/// overflow however large `attempt` is.
fn ceiling_nanos(base: Duration, cap: Duration, attempt: u32) -> u128 {
    let base = base.as_nanos();
    let cap = cap.as_nanos();
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

/// The retry quota's size, and what a retry costs: the SDKs' numbers.
pub const QUOTA_CAPACITY: u32 = 500;
/// A retry after a throttling error: cheap, as the service asked to slow down.
pub const THROTTLING_RETRY_COST: u32 = 5;
/// A retry after any other error (a 5xx, a dropped connection).
pub const RETRY_COST: u32 = 14;
/// What a call that succeeded at its first attempt gives back.
pub const NO_RETRY_INCREMENT: u32 = 1;

/// A token bucket of retries shared by every call of the process: each
/// retry takes from it, each success gives back (the last retry's cost, or
/// one token for a call that needed none). When it is empty, failures are
/// returned at once: during an outage the daemon's threads stop piling
/// retries onto EC2 and fail fast instead of waiting through retries that
/// are unlikely to succeed.
#[derive(Debug)]
pub struct RetryQuota {
    tokens: Mutex<u32>,
}

impl Default for RetryQuota {
    fn default() -> Self {
        RetryQuota {
            tokens: Mutex::new(QUOTA_CAPACITY),
        }
    }
}

impl RetryQuota {
    /// Takes the cost of one retry; `None` (and nothing taken) when there
    /// is not enough left.
    pub fn acquire(&self, throttled: bool) -> Option<u32> {
        let cost = if throttled {
            THROTTLING_RETRY_COST
        } else {
            RETRY_COST
        };
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        *tokens = tokens.checked_sub(cost)?;
        Some(cost)
    }

    /// After a success: gives back `last_cost` (what the call's last retry
    /// took), or [`NO_RETRY_INCREMENT`] when it needed no retry; never
    /// beyond the capacity.
    pub fn release(&self, last_cost: Option<u32>) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        *tokens = (*tokens + last_cost.unwrap_or(NO_RETRY_INCREMENT)).min(QUOTA_CAPACITY);
    }

    pub fn available(&self) -> u32 {
        *self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Waits between attempts. The clock's sleep in production; tests record.
pub type Sleeper = Arc<dyn Fn(Duration) + Send + Sync>;

/// How one attempt failed, as the retry loop needs to know it.
#[derive(Debug)]
pub struct Failed<E> {
    pub error: E,
    pub decision: Decision,
    /// The answer's `x-amz-retry-after`.
    pub retry_after: Option<Duration>,
    /// For the log line: the error code, or what kind of failure.
    pub why: String,
}

/// The name of the threads whose calls are urgent: the daemon's failover
/// pool names its threads with this prefix, and a call made on one of them
/// retries with [`RetryPolicy::urgent`]. A thread name rather than a
/// parameter, because the `Ec2` trait the failover calls through knows
/// nothing of retries.
pub const URGENT_THREAD_PREFIX: &str = "failover-";

/// Whether the current thread makes urgent calls (a failover's).
pub fn on_urgent_thread() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with(URGENT_THREAD_PREFIX))
}

/// What every AWS call of a process shares to retry: the policy, the
/// quota, the source of jitter and the way to wait. Cheap to clone; clones
/// share the quota and the jitter.
#[derive(Clone)]
pub struct Retrier {
    pub policy: RetryPolicy,
    quota: Arc<RetryQuota>,
    jitter: Arc<Mutex<Jitter>>,
    sleep: Sleeper,
}

impl fmt::Debug for Retrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrier")
            .field("policy", &self.policy)
            .field("quota", &self.quota.available())
            .finish()
    }
}

impl Retrier {
    /// A fresh quota; jitter seeded from the clock and the process ID;
    /// waits on `clock`.
    pub fn new(policy: RetryPolicy, clock: &Clock) -> Retrier {
        let seed = clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        let waits = clock.clone();
        Retrier {
            policy,
            quota: Arc::new(RetryQuota::default()),
            jitter: Arc::new(Mutex::new(Jitter::new(seed))),
            sleep: Arc::new(move |d| waits.sleep(d)),
        }
    }

    /// Replaces the wait between attempts (tests).
    pub fn with_sleeper(mut self, sleep: Sleeper) -> Retrier {
        self.sleep = sleep;
        self
    }

    /// Replaces the source of jitter (tests: [`Jitter::constant`]).
    pub fn with_jitter(mut self, jitter: Jitter) -> Retrier {
        self.jitter = Arc::new(Mutex::new(jitter));
        self
    }

    pub fn quota(&self) -> &RetryQuota {
        &self.quota
    }

    /// Makes attempts (numbered from 1) until one succeeds, one fails in a
    /// way that is not retried, `policy.max_attempts` are made, or the
    /// quota has no retry left; waits between them as `policy` says. `what`
    /// names the call in the log. Returns the result and the attempts made.
    pub fn run<T, E>(
        &self,
        what: &str,
        policy: &RetryPolicy,
        mut attempt: impl FnMut(u32) -> Result<T, Failed<E>>,
    ) -> (Result<T, E>, u32) {
        let mut n = 0;
        let mut last_cost = None;
        loop {
            n += 1;
            let failed = match attempt(n) {
                Ok(v) => {
                    self.quota.release(last_cost);
                    return (Ok(v), n);
                }
                Err(f) => f,
            };
            let Decision::Retry { throttled } = failed.decision else {
                return (Err(failed.error), n);
            };
            if n >= policy.max_attempts {
                return (Err(failed.error), n);
            }
            let Some(cost) = self.quota.acquire(throttled) else {
                crate::warn!(
                    "{what} attempt {n} of {} failed ({}); not retried: the retry quota is \
                     spent (too many failed calls lately)",
                    policy.max_attempts,
                    failed.why
                );
                return (Err(failed.error), n);
            };
            last_cost = Some(cost);
            let unit = self.jitter.lock().unwrap_or_else(|p| p.into_inner()).unit();
            let delay = policy.delay(n, throttled, unit, failed.retry_after);
            crate::warn!(
                "{what} attempt {n} of {} failed ({}); retrying in {} ms",
                policy.max_attempts,
                failed.why,
                delay.as_millis()
            );
            (self.sleep)(delay);
        }
    }
}

/// Parses `x-amz-retry-after`: whole milliseconds. Anything else is
/// ignored, as the SDKs ignore it.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_millis)
}

/// Converts nanoseconds that came from a `Duration` back into one.
fn nanos_to_duration(nanos: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    // Both parts fit: the value never exceeds a Duration's own nanoseconds.
    Duration::new((nanos / PER_SEC) as u64, (nanos % PER_SEC) as u32)
}

/// Parses a max-attempts setting (`AWS_MAX_ATTEMPTS`, a profile's
/// `max_attempts`; `name` says which): an integer >= 1. The error names it,
/// says what is wrong and what is right.
pub fn parse_max_attempts(name: &str, s: &str) -> Result<u32, String> {
    const RIGHT: &str = "it must be a whole number of at least 1, the total number of \
                         attempts per AWS call, EC2 or STS (1 means no retries; the default is 5)";
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("{name} is empty; {RIGHT}"));
    }
    match t.parse::<u32>() {
        Ok(0) => Err(format!("{name} is 0; {RIGHT}")),
        Ok(n) => Ok(n),
        Err(_) if t.parse::<i128>().is_ok_and(|n| n < 0) => {
            Err(format!("{name} is negative ({t}); {RIGHT}"))
        }
        Err(_) if t.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
            "{name} is too large ({t}); {RIGHT}, at most {}",
            u32::MAX
        )),
        Err(_) => Err(format!("{name} is {s:?}, not a number; {RIGHT}")),
    }
}

/// The SDKs' retry modes (`AWS_RETRY_MODE`, a profile's `retry_mode`) that
/// vpc-router takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryMode {
    /// The standard mode: what this module does.
    Standard,
    /// The SDKs' older mode, which differs from SDK to SDK; vpc-router
    /// retries as in the standard mode (accepted so that a shared config
    /// written for older tools still works).
    Legacy,
}

/// Parses a retry mode setting (`name` says which). `adaptive` (the
/// standard mode plus a client-side rate limiter) is refused, as
/// vpc-router does not implement that limiter: it paces its own EC2 calls
/// instead (`reconcile::budget`).
pub fn parse_retry_mode(name: &str, s: &str) -> Result<RetryMode, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "standard" => Ok(RetryMode::Standard),
        "legacy" => Ok(RetryMode::Legacy),
        "adaptive" => Err(format!(
            "{name} is adaptive, which vpc-router does not support (its client-side rate \
             limiter is not implemented; vpc-router paces its EC2 calls to EC2's own request \
             budget instead); set it to standard or unset it"
        )),
        _ => Err(format!(
            "{name} is '{}'; it must be standard, legacy or adaptive (adaptive is not \
             supported)",
            s.escape_debug()
        )),
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
    /// Tests: the same number every time.
    constant: Option<f64>,
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
            constant: None,
        }
    }

    /// Always `unit`: so that a test can measure a backoff exactly.
    pub fn constant(unit: f64) -> Jitter {
        Jitter {
            state: 1,
            constant: Some(unit),
        }
    }

    /// The next number, uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        if let Some(u) = self.constant {
            return u;
        }
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
    fn default_policy_is_the_sdks_standard_mode() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.base, 50 * MS);
        assert_eq!(p.throttle_base, Duration::from_secs(1));
        assert_eq!(p.cap, Duration::from_secs(20));
        assert_eq!(p.retry_after_window, Duration::from_secs(5));
        let u = p.urgent();
        assert_eq!((u.max_attempts, u.cap), (3, Duration::from_secs(1)));
        assert_eq!(u.retry_after_window, Duration::ZERO);
        assert_eq!((u.base, u.throttle_base), (p.base, p.throttle_base));
        let one = RetryPolicy {
            max_attempts: 1,
            ..p
        };
        assert_eq!(one.urgent().max_attempts, 1);
    }

    // Issue 16: against RequestLimitExceeded vpc-router waited 0.61 s over
    // its five attempts, boto3 8.1 s. Half the ceiling each time: 7.5 s.
    #[test]
    fn throttling_backs_off_from_one_second_other_errors_from_50_ms() {
        let p = RetryPolicy::default();
        let waits = |throttled| -> Vec<Duration> {
            (1..5).map(|n| p.delay(n, throttled, 0.5, None)).collect()
        };
        let s = Duration::from_millis;
        assert_eq!(waits(true), [s(500), s(1000), s(2000), s(4000)]);
        assert_eq!(waits(true).iter().sum::<Duration>(), s(7500));
        assert_eq!(waits(false), [s(25), s(50), s(100), s(200)]);
        // 1 s * 2^5 = 32 s, above the cap: the cap comes before the jitter.
        assert_eq!(p.delay(6, true, 0.5, None), Duration::from_secs(10));
        assert_eq!(p.delay(6, true, 1.0, None), Duration::from_secs(20));
    }

    #[test]
    fn retry_after_is_honoured_within_five_seconds_of_the_backoff() {
        let p = RetryPolicy::default();
        let s = Duration::from_millis;
        // Backoff 500 ms at attempt 1 with unit 0.5.
        assert_eq!(p.delay(1, true, 0.5, Some(s(3000))), s(3000));
        assert_eq!(p.delay(1, true, 0.5, Some(s(100))), s(500), "never shorter");
        assert_eq!(
            p.delay(1, true, 0.5, Some(s(60_000))),
            s(5500),
            "at most +5 s"
        );
        // Not capped at 20 s: the server asked.
        assert_eq!(
            p.delay(9, true, 1.0, Some(s(24_000))),
            Duration::from_secs(24)
        );
        // A failover's call: never beyond a second.
        let u = p.urgent();
        assert_eq!(u.delay(1, true, 0.5, Some(s(3000))), s(500));
        for n in 1..10 {
            assert!(u.delay(n, true, 0.999, Some(s(60_000))) <= Duration::from_secs(1));
        }
        for (v, want) in [
            ("3000", Some(s(3000))),
            (" 20 ", Some(s(20))),
            ("1.5", None),
            ("-1", None),
            ("soon", None),
        ] {
            assert_eq!(parse_retry_after(v), want, "{v}");
        }
    }

    #[test]
    fn delay_is_bounded_by_the_doubling_ceiling_and_the_cap() {
        let p = RetryPolicy {
            base: 100 * MS,
            ..RetryPolicy::default()
        };
        let d = |n, unit| p.delay(n, false, unit, None);
        let top = 1.0 - f64::EPSILON;
        assert_eq!(d(1, 0.0), Duration::ZERO);
        assert_eq!(d(7, 0.0), Duration::ZERO);
        assert!(d(1, top) <= 100 * MS);
        assert!(d(1, top) > 99 * MS);
        assert_eq!(d(1, 0.5), 50 * MS);
        assert_eq!(d(2, 0.5), 100 * MS);
        assert_eq!(d(3, 0.5), 200 * MS);
        // 100 ms * 2^8 = 25.6 s, above the cap.
        assert_eq!(d(9, 0.5), Duration::from_secs(10));
        for attempt in 1..=40 {
            for unit in [0.0, 0.25, 0.5, 0.75, top] {
                assert!(d(attempt, unit) <= p.cap, "{attempt} {unit}");
            }
            assert!(d(attempt + 1, top) >= d(attempt, top));
        }
    }

    #[test]
    fn delay_survives_huge_attempts_and_odd_units() {
        let p = RetryPolicy::default();
        let d = |n, unit| p.delay(n, true, unit, None);
        for attempt in [31, 32, 33, 63, 64, 65, 127, 128, 129, u32::MAX] {
            assert_eq!(d(attempt, 0.5), Duration::from_secs(10), "{attempt}");
        }
        let huge = RetryPolicy {
            throttle_base: Duration::MAX,
            cap: Duration::MAX,
            ..p
        };
        assert!(huge.delay(u32::MAX, true, 0.999, None) <= Duration::MAX);
        assert_eq!(huge.delay(1, true, 0.0, None), Duration::ZERO);
        assert_eq!(
            huge.delay(1, true, 1.0, Some(Duration::MAX)),
            Duration::MAX,
            "no overflow adding the window"
        );
        let zero = RetryPolicy {
            throttle_base: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.delay(u32::MAX, true, 0.9, None), Duration::ZERO);
        assert_eq!(d(0, 0.5), d(1, 0.5));
        assert_eq!(d(1, 7.0), Duration::from_secs(1));
        assert_eq!(d(1, -1.0), Duration::ZERO);
        assert_eq!(d(1, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn the_quota_spends_5_per_throttling_retry_14_per_other_and_refills_on_success() {
        let q = RetryQuota::default();
        assert_eq!(q.available(), 500);
        assert_eq!(q.acquire(true), Some(5));
        assert_eq!(q.acquire(false), Some(14));
        assert_eq!(q.available(), 481);
        q.release(Some(14));
        assert_eq!(q.available(), 495);
        q.release(None);
        assert_eq!(q.available(), 496);
        q.release(Some(14));
        assert_eq!(q.available(), 500, "never beyond the capacity");
        // 35 other retries take 490; a 36th does not fit, a throttling one does.
        for _ in 0..35 {
            assert_eq!(q.acquire(false), Some(14));
        }
        assert_eq!(q.acquire(false), None);
        assert_eq!(q.available(), 10);
        assert_eq!(q.acquire(true), Some(5));
        assert_eq!(q.acquire(true), Some(5));
        assert_eq!(q.acquire(true), None);
    }

    /// A retrier whose waits are recorded, not slept, with a fixed jitter.
    fn recorded() -> (Retrier, Arc<Mutex<Vec<Duration>>>) {
        let slept = Arc::new(Mutex::new(Vec::new()));
        let s = slept.clone();
        let r = Retrier::new(RetryPolicy::default(), &Clock::system())
            .with_jitter(Jitter::constant(0.5))
            .with_sleeper(Arc::new(move |d| s.lock().unwrap().push(d)));
        (r, slept)
    }

    fn throttled(n: u32) -> Failed<String> {
        Failed {
            error: format!("throttled {n}"),
            decision: Decision::Retry { throttled: true },
            retry_after: None,
            why: "RequestLimitExceeded".into(),
        }
    }

    #[test]
    fn the_loop_waits_as_the_policy_says_and_shares_the_quota() {
        let (r, slept) = recorded();
        let p = r.policy;
        let (res, n) = r.run("EC2 X", &p, |n| Err::<(), _>(throttled(n)));
        assert_eq!((res, n), (Err("throttled 5".to_string()), 5));
        let ms = Duration::from_millis;
        assert_eq!(
            *slept.lock().unwrap(),
            [ms(500), ms(1000), ms(2000), ms(4000)]
        );
        assert_eq!(r.quota().available(), 480);
        // A clone shares the quota; a success gives its last retry back.
        let other = r.clone();
        let (res, n) = other.run(
            "EC2 Y",
            &p,
            |n| if n < 2 { Err(throttled(n)) } else { Ok(n) },
        );
        assert_eq!((res, n), (Ok(2), 2));
        assert_eq!(r.quota().available(), 480);
        // Not retried: a failure that is not retryable.
        let (res, n) = r.run("EC2 Z", &p, |_| {
            Err::<(), _>(Failed {
                error: "denied",
                decision: Decision::Fail,
                retry_after: None,
                why: "AuthFailure".into(),
            })
        });
        assert_eq!((res, n), (Err("denied"), 1));
    }

    #[test]
    fn a_spent_quota_fails_fast() {
        let (r, slept) = recorded();
        while r.quota().acquire(false).is_some() {}
        let p = r.policy;
        let (res, n) = r.run("EC2 X", &p, |n| {
            Err::<(), _>(Failed {
                error: n,
                decision: Decision::Retry { throttled: false },
                retry_after: None,
                why: "InternalError".into(),
            })
        });
        assert_eq!((res, n), (Err(1), 1));
        assert!(slept.lock().unwrap().is_empty());
    }

    #[test]
    fn urgent_threads_are_the_failover_pool() {
        assert!(!on_urgent_thread());
        let named = |name: &str| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(on_urgent_thread)
                .unwrap()
                .join()
                .unwrap()
        };
        assert!(named("failover-7"));
        assert!(!named("reconcile"));
    }

    #[test]
    fn max_attempts_parsing() {
        let parse = |s| parse_max_attempts("AWS_MAX_ATTEMPTS", s);
        assert_eq!(parse("3"), Ok(3));
        assert_eq!(parse("1"), Ok(1));
        assert_eq!(parse(" 10\n"), Ok(10));
        for (bad, says) in [
            ("0", "is 0"),
            ("-1", "negative"),
            ("abc", "not a number"),
            ("", "empty"),
            ("  ", "empty"),
            ("2.5", "not a number"),
            ("99999999999", "too large"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("AWS_MAX_ATTEMPTS"), "{err}");
            assert!(err.contains(says), "{bad:?}: {err}");
            assert!(err.contains("at least 1"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn retry_modes_standard_and_legacy_are_taken_adaptive_is_refused() {
        let parse = |s| parse_retry_mode("AWS_RETRY_MODE", s);
        assert_eq!(parse("standard"), Ok(RetryMode::Standard));
        assert_eq!(parse(" Standard\n"), Ok(RetryMode::Standard));
        assert_eq!(parse("legacy"), Ok(RetryMode::Legacy));
        let e = parse("adaptive").unwrap_err();
        assert!(e.starts_with("AWS_RETRY_MODE is adaptive, which vpc-router does not support"));
        assert!(e.contains("set it to standard"), "{e}");
        let e = parse_retry_mode("retry_mode of profile p", "fast").unwrap_err();
        assert_eq!(
            e,
            "retry_mode of profile p is 'fast'; it must be standard, legacy or adaptive \
             (adaptive is not supported)"
        );
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
