//! When to send a message again (RFC 2131 §4.1): 4 s before the first
//! retransmission, doubling up to 64 s, each randomised by ±1 s.
//!
//! A batch of exchanges against one server can learn how fast that server
//! answers: once several replies have come back in milliseconds, waiting 4 s
//! for one dropped datagram would stall the whole batch. `Pacer` tracks the
//! round trips seen and shortens the first waits to a few times the slowest
//! one, never beyond the RFC schedule; with no answers yet, it is the RFC
//! schedule exactly.

use std::time::Duration;

pub const FIRST: Duration = Duration::from_secs(4);
pub const MAX: Duration = Duration::from_secs(64);

/// The RFC delay before retransmission number `attempt` (0 = after the first
/// send), with `jitter_ms` in [-1000, 1000].
pub fn rfc_delay(attempt: u32, jitter_ms: i32) -> Duration {
    let base = FIRST.saturating_mul(1u32 << attempt.min(4)).min(MAX);
    let ms = base.as_millis() as i64 + jitter_ms.clamp(-1000, 1000) as i64;
    Duration::from_millis(ms.max(1) as u64)
}

/// A jitter value in [-1000, 1000] ms from a random word.
pub fn jitter_from(r: u32) -> i32 {
    (r % 2001) as i32 - 1000
}

/// Round trips seen in one batch, and the waits they justify.
#[derive(Debug, Default, Clone)]
pub struct Pacer {
    samples: u32,
    slowest: Duration,
}

/// Replies needed before the pacer trusts its measurements.
const MIN_SAMPLES: u32 = 3;
/// Never retransmit sooner than this, whatever the measurements say.
const FLOOR: Duration = Duration::from_millis(100);

impl Pacer {
    pub fn observe(&mut self, rtt: Duration) {
        self.samples += 1;
        self.slowest = self.slowest.max(rtt);
    }

    /// Delay before retransmission `attempt`.
    pub fn delay(&self, attempt: u32, jitter_ms: i32) -> Duration {
        let rfc = rfc_delay(attempt, jitter_ms);
        if self.samples < MIN_SAMPLES {
            return rfc;
        }
        let learned = (self.slowest * 4).max(FLOOR) * (1u32 << attempt.min(6));
        learned.min(rfc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_schedule_doubles_to_64s() {
        let s: Vec<u64> = (0..7).map(|a| rfc_delay(a, 0).as_secs()).collect();
        assert_eq!(s, vec![4, 8, 16, 32, 64, 64, 64]);
    }

    #[test]
    fn jitter_is_bounded() {
        assert_eq!(rfc_delay(0, -5000), Duration::from_secs(3));
        assert_eq!(rfc_delay(0, 5000), Duration::from_secs(5));
        for r in [0, 1, 2000, 2001, u32::MAX] {
            assert!((-1000..=1000).contains(&jitter_from(r)));
        }
    }

    #[test]
    fn pacer_uses_rfc_until_it_has_measured() {
        let mut p = Pacer::default();
        p.observe(Duration::from_millis(2));
        p.observe(Duration::from_millis(3));
        assert_eq!(p.delay(0, 0), Duration::from_secs(4));
        p.observe(Duration::from_millis(1));
        assert_eq!(p.delay(0, 0), Duration::from_millis(100));
        assert_eq!(p.delay(1, 0), Duration::from_millis(200));
    }

    #[test]
    fn pacer_never_exceeds_rfc() {
        let mut p = Pacer::default();
        for _ in 0..5 {
            p.observe(Duration::from_secs(3)); // a server that pings first
        }
        assert_eq!(p.delay(0, 0), Duration::from_secs(4));
        assert_eq!(p.delay(3, 0), Duration::from_secs(32));
    }
}
