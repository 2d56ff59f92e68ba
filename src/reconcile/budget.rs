//! The client-side rate budget: token buckets that mirror EC2's own
//! request throttling (mutating calls: 50 tokens, refilled at 5 per second;
//! describes: 100, refilled at 20 per second), so that a large pass paces
//! itself instead of drawing `RequestLimitExceeded` storms. Time is passed
//! in; nothing here reads a clock or sleeps but through the `Clock` it is given.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::Clock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Describe,
    Mutate,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketConfig {
    pub capacity: f64,
    pub refill_per_sec: f64,
}

#[derive(Debug, Clone)]
struct Bucket {
    config: BucketConfig,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(config: BucketConfig, now: Instant) -> Bucket {
        Bucket {
            config,
            tokens: config.capacity,
            at: now,
        }
    }

    /// Adds what accrued since the last look. An earlier `now` (a clock
    /// that went back) adds nothing.
    fn refill(&mut self, now: Instant) {
        if now > self.at {
            let dt = now.duration_since(self.at).as_secs_f64();
            self.tokens = (self.tokens + dt * self.config.refill_per_sec).min(self.config.capacity);
            self.at = now;
        }
    }

    fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - self.tokens;
        // A bucket that never refills never yields: say so without the
        // panic from_secs_f64 would raise on an infinite wait.
        Err(
            Duration::try_from_secs_f64(missing / self.config.refill_per_sec)
                .unwrap_or(Duration::MAX),
        )
    }

    fn take_urgent(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(-self.config.capacity);
    }
}

/// The two buckets.
#[derive(Debug, Clone)]
pub struct Budget {
    describe: Bucket,
    mutate: Bucket,
}

/// EC2's documented defaults for the two kinds of call.
pub const EC2_DESCRIBE: BucketConfig = BucketConfig {
    capacity: 100.0,
    refill_per_sec: 20.0,
};
pub const EC2_MUTATE: BucketConfig = BucketConfig {
    capacity: 50.0,
    refill_per_sec: 5.0,
};

impl Budget {
    pub fn ec2_default(now: Instant) -> Budget {
        Budget::new(EC2_DESCRIBE, EC2_MUTATE, now)
    }

    pub fn new(describe: BucketConfig, mutate: BucketConfig, now: Instant) -> Budget {
        Budget {
            describe: Bucket::new(describe, now),
            mutate: Bucket::new(mutate, now),
        }
    }

    fn bucket(&mut self, kind: CallKind) -> &mut Bucket {
        match kind {
            CallKind::Describe => &mut self.describe,
            CallKind::Mutate => &mut self.mutate,
        }
    }

    /// Takes a token if one is there; else says how long until one is.
    pub fn try_take(&mut self, kind: CallKind, now: Instant) -> Result<(), Duration> {
        self.bucket(kind).try_take(now)
    }

    /// Takes a token even if none is there (failover, which must not
    /// wait): the bucket goes into debt, down to minus its capacity, and
    /// routine calls wait longer afterwards.
    pub fn take_urgent(&mut self, kind: CallKind, now: Instant) {
        self.bucket(kind).take_urgent(now);
    }

    pub fn available(&mut self, kind: CallKind, now: Instant) -> f64 {
        let b = self.bucket(kind);
        b.refill(now);
        b.tokens
    }
}

/// Takes a token for `kind`, sleeping on `clock` until there is one.
/// The lock is not held while waiting, so an urgent take (failover) never
/// waits behind a paced pass.
pub fn take_paced(budget: &Mutex<Budget>, kind: CallKind, clock: &Clock) {
    loop {
        let wait = {
            let mut b = budget.lock().unwrap_or_else(|p| p.into_inner());
            match b.try_take(kind, clock.mono()) {
                Ok(()) => return,
                Err(w) => w,
            }
        };
        clock.sleep(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutating_calls_burst_50_then_5_per_second() {
        let t0 = Instant::now();
        let mut b = Budget::ec2_default(t0);
        for _ in 0..50 {
            assert_eq!(b.try_take(CallKind::Mutate, t0), Ok(()));
        }
        assert_eq!(
            b.try_take(CallKind::Mutate, t0),
            Err(Duration::from_millis(200))
        );
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..5 {
            assert_eq!(b.try_take(CallKind::Mutate, t1), Ok(()));
        }
        assert!(b.try_take(CallKind::Mutate, t1).is_err());
        // Describes have their own bucket.
        assert_eq!(b.try_take(CallKind::Describe, t1), Ok(()));
    }

    #[test]
    fn describes_burst_100_then_20_per_second_and_never_overfill() {
        let t0 = Instant::now();
        let mut b = Budget::ec2_default(t0);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.available(CallKind::Describe, later), 100.0);
        for _ in 0..100 {
            b.try_take(CallKind::Describe, later).unwrap();
        }
        assert_eq!(
            b.try_take(CallKind::Describe, later),
            Err(Duration::from_millis(50))
        );
        // A clock that does not move yields nothing; one that goes back
        // neither.
        assert!(b.try_take(CallKind::Describe, later).is_err());
        assert!(b.try_take(CallKind::Describe, t0).is_err());
    }

    #[test]
    fn a_bucket_that_never_refills_says_so_without_panicking() {
        let t0 = Instant::now();
        let none = BucketConfig {
            capacity: 1.0,
            refill_per_sec: 0.0,
        };
        let mut b = Budget::new(none, none, t0);
        assert_eq!(b.try_take(CallKind::Mutate, t0), Ok(()));
        assert_eq!(b.try_take(CallKind::Mutate, t0), Err(Duration::MAX));
    }

    #[test]
    fn urgent_takes_go_into_debt_and_routine_ones_pay_for_it() {
        let t0 = Instant::now();
        let mut b = Budget::new(
            EC2_DESCRIBE,
            BucketConfig {
                capacity: 2.0,
                refill_per_sec: 1.0,
            },
            t0,
        );
        for _ in 0..10 {
            b.take_urgent(CallKind::Mutate, t0);
        }
        // Down to -capacity, no further.
        assert_eq!(b.available(CallKind::Mutate, t0), -2.0);
        assert_eq!(
            b.try_take(CallKind::Mutate, t0),
            Err(Duration::from_secs(3))
        );
        assert!(b
            .try_take(CallKind::Mutate, t0 + Duration::from_secs(3))
            .is_ok());
    }
}
