//! When a DHCPv6 client sends a message again (RFC 8415 §15), as pure
//! functions of the time and a random word the caller injects.
//!
//! Each message has an initial retransmission time (IRT), a cap on the
//! time between sends (MRT), a cap on the number of sends (MRC) and on the
//! duration of the exchange (MRD); 0 means no cap. The first timeout is
//! `IRT + RAND*IRT`, each next one `2*RT + RAND*RT`, and one past MRT is
//! `MRT + RAND*MRT`, with RAND uniform in [-0.1, +0.1]. A SOLICIT waits
//! strictly longer than IRT the first time (RAND > 0: every server's
//! ADVERTISE gets a chance), and SOLICIT, CONFIRM and INFORMATION-REQUEST
//! are delayed at first by up to 1 s, so that hosts booting together do
//! not all send at once.
//!
//! Random words are turned into RAND in thousandths (`rand_permille`), and
//! all arithmetic is done on nanoseconds in 128 bits: no float rounding,
//! no overflow whatever the values.

use std::time::Duration;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// The constants of RFC 8415 §7.6.
pub const SOL_MAX_DELAY: Duration = secs(1);
pub const SOL_TIMEOUT: Duration = secs(1);
pub const SOL_MAX_RT: Duration = secs(3600);
pub const REQ_TIMEOUT: Duration = secs(1);
pub const REQ_MAX_RT: Duration = secs(30);
pub const REQ_MAX_RC: u32 = 10;
pub const CNF_MAX_DELAY: Duration = secs(1);
pub const CNF_TIMEOUT: Duration = secs(1);
pub const CNF_MAX_RT: Duration = secs(4);
pub const CNF_MAX_RD: Duration = secs(10);
pub const REN_TIMEOUT: Duration = secs(10);
pub const REN_MAX_RT: Duration = secs(600);
pub const REB_TIMEOUT: Duration = secs(10);
pub const REB_MAX_RT: Duration = secs(600);
pub const INF_MAX_DELAY: Duration = secs(1);
pub const INF_TIMEOUT: Duration = secs(1);
pub const INF_MAX_RT: Duration = secs(3600);
pub const REL_TIMEOUT: Duration = secs(1);
pub const REL_MAX_RC: u32 = 4;
pub const DEC_TIMEOUT: Duration = secs(1);
pub const DEC_MAX_RC: u32 = 4;
pub const REC_TIMEOUT: Duration = secs(2);
pub const REC_MAX_RC: u32 = 8;
pub const HOP_COUNT_LIMIT: u8 = 8;
pub const IRT_DEFAULT: Duration = secs(86400);
pub const IRT_MINIMUM: Duration = secs(600);
pub const MAX_WAIT_TIME: Duration = secs(60);

/// The retransmission parameters of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub irt: Duration,
    /// Zero: no cap.
    pub mrt: Duration,
    /// Zero: no cap.
    pub mrc: u32,
    /// Zero: no cap.
    pub mrd: Duration,
    /// The first send waits a random time in [0, this].
    pub max_delay: Duration,
    /// The first RT is strictly above IRT (a SOLICIT collecting ADVERTISEs).
    pub first_above_irt: bool,
}

impl Timing {
    const fn new(irt: Duration, mrt: Duration, mrc: u32, mrd: Duration) -> Timing {
        Timing {
            irt,
            mrt,
            mrc,
            mrd,
            max_delay: Duration::ZERO,
            first_above_irt: false,
        }
    }

    /// SOLICIT (§18.2.1); `sol_max_rt` is the server's SOL_MAX_RT option
    /// (already checked to lie in 60-86400 s), which replaces the default.
    pub fn solicit(sol_max_rt: Option<u32>) -> Timing {
        let mrt = sol_max_rt.map_or(SOL_MAX_RT, |s| secs(s as u64));
        Timing {
            max_delay: SOL_MAX_DELAY,
            first_above_irt: true,
            ..Timing::new(SOL_TIMEOUT, mrt, 0, Duration::ZERO)
        }
    }

    /// REQUEST (§18.2.2).
    pub fn request() -> Timing {
        Timing::new(REQ_TIMEOUT, REQ_MAX_RT, REQ_MAX_RC, Duration::ZERO)
    }

    /// CONFIRM (§18.2.3).
    pub fn confirm() -> Timing {
        Timing {
            max_delay: CNF_MAX_DELAY,
            ..Timing::new(CNF_TIMEOUT, CNF_MAX_RT, 0, CNF_MAX_RD)
        }
    }

    /// RENEW (§18.2.4): `until_t2` is the time left until T2, when REBIND
    /// takes over.
    pub fn renew(until_t2: Duration) -> Timing {
        Timing::new(REN_TIMEOUT, REN_MAX_RT, 0, until_t2)
    }

    /// REBIND (§18.2.5): `until_expiry` is the time left until the valid
    /// lifetime of every address ends.
    pub fn rebind(until_expiry: Duration) -> Timing {
        Timing::new(REB_TIMEOUT, REB_MAX_RT, 0, until_expiry)
    }

    /// RELEASE (§18.2.7).
    pub fn release() -> Timing {
        Timing::new(REL_TIMEOUT, Duration::ZERO, REL_MAX_RC, Duration::ZERO)
    }

    /// DECLINE (§18.2.8).
    pub fn decline() -> Timing {
        Timing::new(DEC_TIMEOUT, Duration::ZERO, DEC_MAX_RC, Duration::ZERO)
    }

    /// INFORMATION-REQUEST (§18.2.6), with the server's INF_MAX_RT if any.
    pub fn information(inf_max_rt: Option<u32>) -> Timing {
        let mrt = inf_max_rt.map_or(INF_MAX_RT, |s| secs(s as u64));
        Timing {
            max_delay: INF_MAX_DELAY,
            ..Timing::new(INF_TIMEOUT, mrt, 0, Duration::ZERO)
        }
    }
}

/// RAND in thousandths, uniform over [-100, 100] (that is [-0.1, +0.1]).
pub fn rand_permille(r: u32) -> i32 {
    (r % 201) as i32 - 100
}

/// RAND in thousandths over [1, 100]: strictly positive.
pub fn rand_permille_positive(r: u32) -> i32 {
    (r % 100) as i32 + 1
}

/// `base + RAND*base`, RAND in thousandths.
fn jittered(base: Duration, permille: i32) -> Duration {
    let ns = base.as_nanos() * (1000 + permille as i128) as u128 / 1000;
    Duration::from_nanos(ns.min(u64::MAX as u128) as u64)
}

/// The random delay before the first send, in [0, max_delay].
pub fn initial_delay(max_delay: Duration, r: u32) -> Duration {
    let ns = max_delay.as_nanos() * (r as u128) / (u32::MAX as u128);
    Duration::from_nanos(ns.min(u64::MAX as u128) as u64)
}

/// The first timeout: `IRT + RAND*IRT` (RAND > 0 when `first_above_irt`).
pub fn first_rt(t: &Timing, r: u32) -> Duration {
    let p = if t.first_above_irt {
        rand_permille_positive(r)
    } else {
        rand_permille(r)
    };
    cap(jittered(t.irt, p), t, r)
}

/// The timeout after one of `prev`: `2*RTprev + RAND*RTprev`, capped.
pub fn next_rt(prev: Duration, t: &Timing, r: u32) -> Duration {
    let ns = prev.as_nanos() * (2000 + rand_permille(r) as i128) as u128 / 1000;
    cap(Duration::from_nanos(ns.min(u64::MAX as u128) as u64), t, r)
}

/// Past MRT (when there is one), `MRT + RAND*MRT`.
fn cap(rt: Duration, t: &Timing, r: u32) -> Duration {
    if !t.mrt.is_zero() && rt > t.mrt {
        jittered(t.mrt, rand_permille(r))
    } else {
        rt
    }
}

/// The retransmission state of one message: when it was first sent, how
/// often, the current RT and when the next send is due. Times are offsets
/// from any fixed origin the caller picks (the start of the exchange).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retransmit {
    pub timing: Timing,
    /// When the message was first sent.
    pub first_sent: Duration,
    /// Sends so far (1 after the first).
    pub sends: u32,
    pub rt: Duration,
    last_sent: Duration,
    next_at: Duration,
}

impl Retransmit {
    /// The message is sent for the first time at `now`.
    pub fn begin(timing: Timing, now: Duration, r: u32) -> Retransmit {
        let rt = first_rt(&timing, r);
        Retransmit {
            timing,
            first_sent: now,
            sends: 1,
            rt,
            last_sent: now,
            next_at: now.saturating_add(rt),
        }
    }

    /// When the caller must call `on_timeout`: the next send, or the end of
    /// MRD if that comes first.
    pub fn due(&self) -> Duration {
        if self.timing.mrd.is_zero() {
            self.next_at
        } else {
            self.next_at
                .min(self.first_sent.saturating_add(self.timing.mrd))
        }
    }

    /// Time to send again? At `now` (at or after `due`): true when the
    /// message must be sent again (RT doubled), false when the exchange has
    /// run out of sends (MRC) or time (MRD) and has failed.
    pub fn on_timeout(&mut self, now: Duration, r: u32) -> bool {
        let t = &self.timing;
        if t.mrc != 0 && self.sends >= t.mrc {
            return false;
        }
        if !t.mrd.is_zero() && now >= self.first_sent.saturating_add(t.mrd) {
            return false;
        }
        self.rt = next_rt(self.rt, t, r);
        self.sends += 1;
        self.last_sent = now;
        self.next_at = now.saturating_add(self.rt);
        true
    }

    /// Replace MRT (a server's SOL_MAX_RT or INF_MAX_RT, §18.2.9): the next
    /// timeouts are capped by it.
    pub fn set_mrt(&mut self, mrt: Duration) {
        self.timing.mrt = mrt;
        if !mrt.is_zero() && self.rt > mrt {
            self.rt = mrt;
            self.next_at = self.last_sent.saturating_add(mrt);
        }
    }

    /// Time since the first send, for the ELAPSED_TIME option.
    pub fn elapsed(&self, now: Duration) -> Duration {
        now.saturating_sub(self.first_sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn rand_covers_minus_to_plus_a_tenth_and_the_positive_one_excludes_zero() {
        let all: Vec<i32> = (0..201).map(rand_permille).collect();
        assert_eq!(
            (all.iter().min(), all.iter().max()),
            (Some(&-100), Some(&100))
        );
        assert!(
            (0..1000)
                .map(rand_permille_positive)
                .all(|p| (1..=100).contains(&p))
        );
        assert_eq!(rand_permille(u32::MAX), (u32::MAX % 201) as i32 - 100);
    }

    #[test]
    fn the_first_solicit_waits_strictly_longer_than_irt_and_at_most_a_tenth_more() {
        let t = Timing::solicit(None);
        for r in [0, 1, 99, 100, 12345, u32::MAX] {
            let rt = first_rt(&t, r);
            assert!(rt > SOL_TIMEOUT && ms(rt) <= 1100, "{rt:?}");
        }
    }

    #[test]
    fn the_first_request_waits_irt_give_or_take_a_tenth() {
        let t = Timing::request();
        assert_eq!(ms(first_rt(&t, 0)), 900);
        assert_eq!(ms(first_rt(&t, 100)), 1000);
        assert_eq!(ms(first_rt(&t, 200)), 1100);
    }

    #[test]
    fn rt_doubles_then_is_capped_at_mrt() {
        // RAND = 0 throughout (r = 100).
        let t = Timing::request();
        let mut rt = first_rt(&t, 100);
        let mut seen = vec![ms(rt)];
        for _ in 0..7 {
            rt = next_rt(rt, &t, 100);
            seen.push(ms(rt));
        }
        assert_eq!(
            seen,
            vec![1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        // Past MRT, RT is MRT + RAND*MRT: within [27 s, 33 s].
        for r in [0, 50, 150, 200, u32::MAX] {
            let capped = next_rt(Duration::from_secs(20), &t, r);
            assert!((27_000..=33_000).contains(&ms(capped)), "{capped:?}");
        }
    }

    #[test]
    fn a_request_is_sent_ten_times_then_fails() {
        let mut x = Retransmit::begin(Timing::request(), Duration::ZERO, 100);
        let mut sends = 1;
        loop {
            let now = x.due();
            if !x.on_timeout(now, 100) {
                break;
            }
            sends += 1;
        }
        assert_eq!(sends, REQ_MAX_RC);
    }

    #[test]
    fn a_release_is_sent_four_times_without_a_cap_on_rt() {
        let mut x = Retransmit::begin(Timing::release(), Duration::ZERO, 100);
        let mut rts = vec![ms(x.rt)];
        while x.on_timeout(x.due(), 100) {
            rts.push(ms(x.rt));
        }
        assert_eq!(rts, vec![1000, 2000, 4000, 8000]);
        assert_eq!(x.sends, REL_MAX_RC);
    }

    #[test]
    fn a_renew_stops_at_its_mrd_even_between_two_sends() {
        let mrd = Duration::from_secs(25);
        let start = Duration::from_secs(100);
        let mut x = Retransmit::begin(Timing::renew(mrd), start, 100);
        assert_eq!(x.due(), start + Duration::from_secs(10));
        assert!(x.on_timeout(x.due(), 100));
        // Next RT is 20 s, past the MRD: the timer fires at the MRD.
        assert_eq!(x.due(), start + mrd);
        assert!(!x.on_timeout(x.due(), 100));
    }

    #[test]
    fn a_confirm_gives_up_after_ten_seconds() {
        let mut x = Retransmit::begin(Timing::confirm(), Duration::ZERO, 100);
        let mut last = Duration::ZERO;
        while x.on_timeout(x.due(), 100) {
            last = x.due();
            assert!(ms(x.rt) <= 4400, "CNF_MAX_RT caps RT: {:?}", x.rt);
        }
        assert!(last <= CNF_MAX_RD);
        assert_eq!(x.due(), CNF_MAX_RD);
    }

    #[test]
    fn the_servers_sol_max_rt_replaces_the_default_cap() {
        assert_eq!(Timing::solicit(None).mrt, SOL_MAX_RT);
        assert_eq!(Timing::solicit(Some(120)).mrt, Duration::from_secs(120));
        assert_eq!(Timing::information(Some(600)).mrt, Duration::from_secs(600));
        let mut x = Retransmit::begin(Timing::solicit(None), Duration::ZERO, 100);
        for _ in 0..12 {
            x.on_timeout(x.due(), 100);
        }
        assert!(x.rt > Duration::from_secs(1000));
        x.set_mrt(Duration::from_secs(120));
        assert!(x.rt <= Duration::from_secs(120));
        assert!(x.on_timeout(x.due(), 100));
        assert!(ms(x.rt) <= 132_000);
    }

    #[test]
    fn the_initial_delay_lies_in_zero_to_the_maximum() {
        assert_eq!(initial_delay(SOL_MAX_DELAY, 0), Duration::ZERO);
        assert_eq!(initial_delay(SOL_MAX_DELAY, u32::MAX), SOL_MAX_DELAY);
        let mid = initial_delay(SOL_MAX_DELAY, u32::MAX / 2);
        assert!((499..=500).contains(&ms(mid)));
        assert_eq!(initial_delay(Duration::ZERO, 12345), Duration::ZERO);
    }

    #[test]
    fn the_elapsed_time_counts_from_the_first_send() {
        let x = Retransmit::begin(Timing::request(), Duration::from_secs(5), 0);
        assert_eq!(x.elapsed(Duration::from_secs(7)), Duration::from_secs(2));
        assert_eq!(x.elapsed(Duration::from_secs(1)), Duration::ZERO);
    }

    fn any_timing() -> impl Strategy<Value = Timing> {
        prop_oneof![
            Just(Timing::solicit(None)),
            Just(Timing::solicit(Some(60))),
            Just(Timing::request()),
            Just(Timing::confirm()),
            (0u64..100_000).prop_map(|s| Timing::renew(Duration::from_secs(s))),
            (0u64..100_000).prop_map(|s| Timing::rebind(Duration::from_secs(s))),
            Just(Timing::release()),
            Just(Timing::decline()),
            Just(Timing::information(None)),
        ]
    }

    proptest! {
        #[test]
        fn every_step_stays_within_its_bounds(t in any_timing(), rs in proptest::collection::vec(any::<u32>(), 1..40)) {
            let mut x = Retransmit::begin(t, Duration::ZERO, rs[0]);
            let irt = ms(t.irt);
            let first = ms(x.rt);
            prop_assert!((first + 1) * 10 >= irt * 9 && first * 10 <= irt * 11, "first {first} irt {irt}");
            if t.first_above_irt {
                prop_assert!(x.rt > t.irt);
            }
            for &r in &rs[1..] {
                let before = x.rt;
                let now = x.due();
                if !x.on_timeout(now, r) {
                    prop_assert!((t.mrc != 0 && x.sends >= t.mrc) || (!t.mrd.is_zero() && now >= t.mrd));
                    break;
                }
                let rt = x.rt.as_nanos();
                let prev = before.as_nanos();
                if t.mrt.is_zero() || rt * 10 < t.mrt.as_nanos() * 9 {
                    // Nanoseconds are truncated: allow one of slack.
                    prop_assert!((rt + 1) * 10 >= prev * 19 && rt * 10 <= prev * 21, "{prev} -> {rt}");
                } else {
                    let m = t.mrt.as_nanos();
                    prop_assert!((rt + 1) * 10 >= m * 9 && rt * 10 <= m * 11, "capped {rt} by {m}");
                }
                if t.mrc != 0 {
                    prop_assert!(x.sends <= t.mrc);
                }
                if !t.mrd.is_zero() {
                    prop_assert!(x.due() <= t.mrd);
                }
            }
        }

        #[test]
        fn the_initial_delay_never_exceeds_its_maximum(r in any::<u32>(), max_ms in 0u64..10_000) {
            let m = Duration::from_millis(max_ms);
            prop_assert!(initial_delay(m, r) <= m);
        }
    }
}
