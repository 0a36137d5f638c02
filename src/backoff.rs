//! Capped exponential back-off with full jitter, the one retry policy of the
//! crate.
//!
//! Every retry loop waits through it (the Mesos clients, leadership, Docker
//! discovery, the streams, the Logstash supervisor), so that a peer that is
//! down or recovering is not hammered, a loop that keeps failing does not
//! spin, and many processes restarting together spread out. The policy is a
//! pure function of the attempt number and a random draw, which keeps it
//! testable; [`Backoff::delay`] supplies the randomness, [`Retries`] the
//! attempt count. A leaf: imports nothing of the crate.

use std::time::Duration;

/// The retry policy: attempt `n` waits a uniformly random time in
/// `[0, min(max, min * 2^n)]` ("full jitter"), or exactly that ceiling when
/// jitter is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry.
    pub min: Duration,
    /// The largest ceiling.
    pub max: Duration,
    /// Full jitter on (the default) or off. Off is for tests that need
    /// predictable waits.
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            min: Duration::from_millis(500),
            max: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl Backoff {
    /// A jittered policy between `min` and `max` (`max` is raised to `min`
    /// if it is smaller).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            jitter: true,
        }
    }

    /// The same policy without jitter.
    pub fn without_jitter(self) -> Self {
        Self {
            jitter: false,
            ..self
        }
    }

    /// `min(max, min * 2^attempt)`, saturating instead of overflowing.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt.min(31)).unwrap_or(u32::MAX);
        self.min
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max.max(self.min))
    }

    /// The wait before retry `attempt` (0-based) for a random draw `unit` in
    /// `[0, 1)`. Pure: the same inputs always give the same wait. Values of
    /// `unit` outside `[0, 1]` (or NaN) are clamped.
    pub fn delay_for(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        if !self.jitter {
            return ceiling;
        }
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        scale(ceiling, unit)
    }

    /// The wait before retry `attempt`, with a fresh random draw.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_for(attempt, rand::random::<f64>())
    }
}

/// A [`Backoff`] with its attempt count, for a loop that retries until
/// something works and starts over after a success.
#[derive(Debug, Clone)]
pub struct Retries {
    policy: Backoff,
    attempt: u32,
}

impl Backoff {
    /// Counts attempts from the first.
    pub fn retries(self) -> Retries {
        Retries {
            policy: self,
            attempt: 0,
        }
    }
}

impl Retries {
    /// The wait before the next attempt; each one's ceiling doubles, up to
    /// the policy's maximum.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.policy.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// After a success: the next failure waits as little as the first.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A uniformly random duration in `[0, max]`: the executor's re-subscribe
/// wait, copied from the official C++ executor library.
pub fn uniform_up_to(max: Duration) -> Duration {
    scale(max, rand::random::<f64>())
}

/// `d * unit` for `unit` in `[0, 1]`, without `mul_f64`'s panic when the
/// float product rounds past `Duration::MAX`.
fn scale(d: Duration, unit: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * unit)
        .unwrap_or(d)
        .min(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_the_cap_and_start_over_after_reset() {
        let mut r = Backoff::new(ms(100), ms(350)).without_jitter().retries();
        let delays: Vec<_> = (0..4).map(|_| r.next_delay()).collect();
        assert_eq!(delays, [ms(100), ms(200), ms(350), ms(350)]);
        r.reset();
        assert_eq!(r.next_delay(), ms(100));
        let mut jittered = Backoff::new(ms(100), ms(350)).retries();
        for ceiling in [100, 200, 350, 350] {
            assert!(jittered.next_delay() <= ms(ceiling));
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn ceilings_double_and_cap() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), ms(500));
        assert_eq!(b.ceiling(1), ms(1000));
        assert_eq!(b.ceiling(2), ms(2000));
        assert_eq!(b.ceiling(5), ms(16_000));
        assert_eq!(b.ceiling(6), ms(30_000));
        assert_eq!(b.ceiling(7), ms(30_000));
        assert_eq!(b.ceiling(u32::MAX), ms(30_000));
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let b = Backoff::default();
        assert_eq!(b.delay_for(0, 0.0), Duration::ZERO);
        assert_eq!(b.delay_for(0, 0.5), ms(250));
        assert_eq!(b.delay_for(3, 0.25), ms(1000));
        assert_eq!(b.delay_for(10, 1.0), ms(30_000));
        // Out-of-range draws are clamped, never panic.
        assert_eq!(b.delay_for(1, 7.0), ms(1000));
        assert_eq!(b.delay_for(1, -1.0), Duration::ZERO);
        assert_eq!(b.delay_for(1, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn without_jitter_is_the_ceiling() {
        let b = Backoff::new(ms(100), ms(1000)).without_jitter();
        assert_eq!(b.delay_for(0, 0.0), ms(100));
        assert_eq!(b.delay_for(2, 0.9), ms(400));
        assert_eq!(b.delay_for(9, 0.1), ms(1000));
    }

    #[test]
    fn max_below_min_is_raised() {
        let b = Backoff::new(ms(800), ms(100));
        assert_eq!(b.max, ms(800));
        assert_eq!(b.ceiling(4), ms(800));
        // Even a hand-built inverted policy never waits past min.
        let odd = Backoff {
            min: ms(800),
            max: ms(100),
            jitter: false,
        };
        assert_eq!(odd.ceiling(3), ms(800));
    }

    #[test]
    fn huge_min_saturates() {
        let b = Backoff::new(Duration::MAX / 2, Duration::MAX);
        assert_eq!(b.ceiling(40), Duration::MAX);
        assert_eq!(b.delay_for(40, 1.0), Duration::MAX);
        assert!(b.delay_for(40, 0.5) < Duration::MAX);
    }

    #[test]
    fn random_delay_stays_under_ceiling() {
        let b = Backoff::new(ms(10), ms(80));
        for attempt in 0..10 {
            for _ in 0..50 {
                assert!(b.delay(attempt) <= b.ceiling(attempt));
            }
        }
        for _ in 0..50 {
            assert!(uniform_up_to(ms(20)) <= ms(20));
        }
    }
}
