//! When each recorded lease needs attention, free of I/O and clocks.
//!
//! RFC 2131 §4.4.5: at T1 the client REQUESTs from the server that granted
//! the lease (RENEWING, unicast); at T2 from any server (REBINDING,
//! broadcast); at expiry the lease is gone. After an attempt that got no
//! answer, the next one waits half the time left until the next boundary
//! (T2, or expiry), but at least `MIN_RETRY` (the RFC's 60 s), and never
//! past that boundary. A lease that was lost (NAK or expiry) is retried
//! every `LOST_RETRY`. Nothing is due sooner than `MIN_RENEW_AFTER` after
//! the lease was obtained, whatever the server's timers say.
//!
//! The daemon keeps the retry times in memory only: after a restart every
//! overdue lease is due at once, which is what "kill -9 loses nothing" needs.
//!
//! Clocks: the records hold wall-clock times, and the wall clock can be
//! stepped. Each record is judged by `record_now`: the wall clock, but never
//! earlier than the wall time the daemon first saw the record plus the time
//! elapsed since on CLOCK_BOOTTIME (which counts suspend and is never
//! stepped). A clock stepped back cannot delay a renewal; one stepped
//! forward can only make it early. A record obtained after "now" (the clock
//! went back since it was written) is renewed at once.
//!
//! No arithmetic here can panic, whatever dates a record holds: sums
//! saturate at chrono's limits (a deadline past year 262143 is "never"),
//! differences of two instants always fit.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::dhcp::message::{INFINITE, timers};
use crate::lease::{Lease, Status};
use crate::net::mac::Mac;

pub const MIN_RETRY: Duration = Duration::seconds(60);
pub const LOST_RETRY: Duration = Duration::seconds(60);

/// The soonest a lease is renewed, rebound or asked back after it was
/// obtained, whatever the server's T1, T2 and lease time say: a server that
/// sends T1 = 0, or leases of a second or two, must not make the daemon
/// renew in a tight loop. A successful renewal records a new `obtained_at`
/// (the time of its ACK), so this is also the least gap between two
/// renewals of one lease.
pub const MIN_RENEW_AFTER: Duration = Duration::seconds(10);

/// How far the wall clock may drift from CLOCK_BOOTTIME, or a record be
/// dated after now, before it counts as a step.
pub const STEP_TOLERANCE: Duration = Duration::seconds(5);

/// `t + d`, saturating at the earliest and latest instants chrono knows.
pub fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(if d < Duration::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// `d` as a chrono duration, saturating at chrono's largest.
fn from_std(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

/// When and where the daemon first saw a record: the wall clock and
/// CLOCK_BOOTTIME (time since boot, suspend included) at that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub wall: DateTime<Utc>,
    pub boot: std::time::Duration,
}

/// The time a record seen at `seen` is judged by when the wall clock reads
/// `wall` and CLOCK_BOOTTIME `boot`: the later of the wall clock and the
/// time elapsed since the record was seen (a clock stepped back cannot make
/// a lease look younger than it is).
pub fn record_now(seen: Seen, wall: DateTime<Utc>, boot: std::time::Duration) -> DateTime<Utc> {
    let elapsed = from_std(boot.saturating_sub(seen.boot));
    wall.max(add(seen.wall, elapsed))
}

/// How far the wall clock was stepped between two looks, if more than
/// `STEP_TOLERANCE`: it moved by `wall` while CLOCK_BOOTTIME moved by `boot`
/// (positive: forward).
pub fn clock_step(wall: Duration, boot: std::time::Duration) -> Option<Duration> {
    let step = wall
        .checked_sub(&from_std(boot))
        .unwrap_or(if wall < Duration::zero() {
            Duration::MIN
        } else {
            Duration::MAX
        });
    (step.abs() > STEP_TOLERANCE).then_some(step)
}

/// A lease's identity in the records (one lease per MAC and interface).
pub type Key = (Mac, String);

pub fn key(l: &Lease) -> Key {
    (l.mac, l.interface.clone())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Past T1: DHCPREQUEST to the granting server (unicast).
    Renew,
    /// Past T2: DHCPREQUEST to any server (broadcast).
    Rebind,
    /// Past expiry, or refused: the address is no longer ours; ask for it back.
    Reacquire,
}

/// The instants that matter for one lease, as scheduled: none sooner than
/// `MIN_RENEW_AFTER` after `obtained_at` (a lease shorter than that is asked
/// back once it has passed, not the moment it runs out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub t1: DateTime<Utc>,
    pub t2: DateTime<Utc>,
    pub expiry: DateTime<Utc>,
}

/// T1, T2 and expiry of a lease; None for an infinite one.
pub fn deadlines(l: &Lease) -> Option<Deadlines> {
    let lease = l.lease_time?;
    let expiry = l.expires_at?;
    let (t1, t2) = timers(lease, l.renewal_time, l.rebinding_time);
    if t1 == INFINITE {
        return None;
    }
    let floor = add(l.obtained_at, MIN_RENEW_AFTER);
    let at = |s: u32| add(l.obtained_at, Duration::seconds(s as i64)).max(floor);
    Some(Deadlines {
        t1: at(t1),
        t2: at(t2),
        expiry: expiry.max(floor),
    })
}

/// An attempt that got no answer: do not try again before `until`. It only
/// applies to the lease as it was (`obtained_at`); a renewed record starts
/// afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub obtained_at: DateTime<Utc>,
    /// The phase it was for: crossing into the next phase (T2, expiry)
    /// acts at once.
    pub action: Action,
    pub until: DateTime<Utc>,
}

/// Whether the record was obtained after `now` (beyond `STEP_TOLERANCE`):
/// the clock was stepped back since, and how old the lease is is unknown.
pub fn from_the_future(l: &Lease, now: DateTime<Utc>) -> bool {
    l.obtained_at > add(now, STEP_TOLERANCE)
}

/// What the lease needs at `now`, ignoring back-off.
pub fn phase(l: &Lease, now: DateTime<Utc>) -> Option<Action> {
    // Intents and releases on their way are resolved at start
    // (`lease::intent::resolve`), never renewed.
    if !l.status.is_held() {
        return None;
    }
    if l.status == Status::Lost {
        return Some(Action::Reacquire);
    }
    let d = deadlines(l)?;
    if from_the_future(l, now) {
        // Its age is unknown: renew it now rather than wait up to the step.
        return Some(if now >= d.expiry {
            Action::Reacquire
        } else {
            Action::Renew
        });
    }
    if now >= d.expiry {
        Some(Action::Reacquire)
    } else if now >= d.t2 {
        Some(Action::Rebind)
    } else if now >= d.t1 {
        Some(Action::Renew)
    } else {
        None
    }
}

/// When the lease next needs attention (None: never, e.g. infinite).
pub fn next_due(l: &Lease, backoff: Option<&Backoff>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !l.status.is_held() {
        return None;
    }
    let backoff = backoff
        .filter(|b| b.obtained_at == l.obtained_at && Some(b.action) == phase(l, now))
        .map(|b| b.until);
    if l.status == Status::Lost {
        return Some(backoff.unwrap_or(now));
    }
    let d = deadlines(l)?;
    let boundary = match phase(l, now) {
        None => return Some(d.t1),
        // Renewing a record from the future: each retry in its back-off.
        Some(Action::Renew) if from_the_future(l, now) => None,
        Some(Action::Renew) => Some(d.t2),
        Some(Action::Rebind) => Some(d.expiry),
        Some(Action::Reacquire) => None,
    };
    Some(match (backoff, boundary) {
        (Some(b), Some(x)) => b.min(x),
        (Some(b), None) => b,
        (None, _) => now,
    })
}

/// When to try again after an attempt at `now` for `action` got no answer.
pub fn retry_after(l: &Lease, action: Action, now: DateTime<Utc>) -> Backoff {
    let until = match (action, deadlines(l)) {
        (Action::Renew, Some(d)) => add(now, ((d.t2 - now) / 2).max(MIN_RETRY)),
        (Action::Rebind, Some(d)) => add(now, ((d.expiry - now) / 2).max(MIN_RETRY)),
        _ => add(now, LOST_RETRY),
    };
    Backoff {
        obtained_at: l.obtained_at,
        action,
        until,
    }
}

/// The shortest time one exchange is given, however close the boundary.
pub const MIN_EXCHANGE: std::time::Duration = std::time::Duration::from_secs(2);

/// How long an exchange for `action` may run from `now`: at most `max`, and
/// a renewal no later than T2, a rebinding no later than expiry (each then
/// moves on to the next step), but never less than `MIN_EXCHANGE`.
pub fn exchange_budget(
    l: &Lease,
    action: Action,
    now: DateTime<Utc>,
    max: std::time::Duration,
) -> std::time::Duration {
    let until = match (action, deadlines(l)) {
        (Action::Renew, Some(d)) => Some(d.t2),
        (Action::Rebind, Some(d)) => Some(d.expiry),
        _ => None,
    };
    let left = until.and_then(|u| (u - now).to_std().ok()).unwrap_or(max);
    left.min(max).max(MIN_EXCHANGE)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Indices into the leases given, with what each needs now.
    pub due: Vec<(usize, Action)>,
    /// The earliest instant something is due after now, if any (on the
    /// clock of the lease it is for, see `plan_by`).
    pub next: Option<DateTime<Utc>>,
    /// How long until then.
    pub wait: Option<Duration>,
}

/// How early a lease may be taken along with others that are due now: 1%
/// of its lease time, at most 5 s. Leases taken in a batch fall due within
/// moments of each other; renewing them together saves wake-ups and record
/// writes, and is well inside what RFC 2131 allows.
pub fn slack(l: &Lease) -> Duration {
    let lease = l.lease_time.unwrap_or(0) as i64;
    Duration::milliseconds((lease * 10).min(5000))
}

/// Which leases need attention at `now`, and when to wake up next.
pub fn plan(leases: &[Lease], backoff: &HashMap<Key, Backoff>, now: DateTime<Utc>) -> Plan {
    plan_by(leases, backoff, |_| now)
}

/// `plan` with each lease judged at a time of its own (`record_now`).
pub fn plan_by(
    leases: &[Lease],
    backoff: &HashMap<Key, Backoff>,
    now_of: impl Fn(&Lease) -> DateTime<Utc>,
) -> Plan {
    let mut due = Vec::new();
    let mut next: Option<(Duration, DateTime<Utc>)> = None;
    for (i, l) in leases.iter().enumerate() {
        let now = now_of(l);
        let Some(at) = next_due(l, backoff.get(&key(l)), now) else {
            continue;
        };
        // The slack never takes a lease before its floor.
        let floor = add(l.obtained_at, MIN_RENEW_AFTER);
        let early = slack(l).min((at - floor).max(Duration::zero()));
        if at <= add(now, early) {
            // What it needs when it falls due (now, or within the slack).
            if let Some(a) = phase(l, at.max(now)) {
                due.push((i, a));
            }
        } else {
            let wait = at - now;
            if next.is_none_or(|(w, _)| wait < w) {
                next = Some((wait, at));
            }
        }
    }
    Plan {
        due,
        next: next.map(|(_, at)| at),
        wait: next.map(|(w, _)| w),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    pub(crate) fn lease(mac_last: u8, lease_time: u32, t1: Option<u32>, t2: Option<u32>) -> Lease {
        Lease {
            ip: std::net::Ipv4Addr::new(10, 0, 0, mac_last),
            prefix_len: 24,
            subnet: "10.0.0.0/24".parse().unwrap(),
            mac: Mac([2, 0, 0, 0, 0, mac_last]),
            gateway: None,
            dns: vec![],
            domain: None,
            search: vec![],
            server_id: std::net::Ipv4Addr::new(10, 0, 0, 1),
            server_mac: None,
            lease_time: Some(lease_time),
            renewal_time: t1,
            rebinding_time: t2,
            obtained_at: t(0),
            expires_at: Some(t(lease_time as i64)),
            hostname: None,
            client_id: "01:02:00:00:00:00:01".into(),
            interface: "eth0".into(),
            network: None,
            container: None,
            mtu: None,
            routes: vec![],
            status: Status::Bound,
            in_use_ip: None,
            kept_since: None,
            mac_fixed: false,
            pid: None,
        }
    }

    #[test]
    fn phases_follow_t1_t2_and_expiry() {
        let l = lease(1, 100, Some(50), Some(87));
        assert_eq!(phase(&l, t(49)), None);
        assert_eq!(phase(&l, t(50)), Some(Action::Renew));
        assert_eq!(phase(&l, t(86)), Some(Action::Renew));
        assert_eq!(phase(&l, t(87)), Some(Action::Rebind));
        assert_eq!(phase(&l, t(100)), Some(Action::Reacquire));
    }

    #[test]
    fn missing_or_insane_timers_default_to_half_and_seven_eighths() {
        let l = lease(1, 1000, None, None);
        let d = deadlines(&l).unwrap();
        assert_eq!((d.t1, d.t2, d.expiry), (t(500), t(875), t(1000)));
        // T1 after T2 and T2 after the lease are ignored.
        let l = lease(1, 1000, Some(900), Some(2000));
        let d = deadlines(&l).unwrap();
        assert_eq!((d.t1, d.t2), (t(500), t(875)));
    }

    #[test]
    fn infinite_leases_are_never_due() {
        let mut l = lease(1, 100, None, None);
        l.lease_time = None;
        l.expires_at = None;
        let p = plan(&[l], &HashMap::new(), t(1_000_000));
        assert_eq!(
            p,
            Plan {
                due: vec![],
                next: None,
                wait: None
            }
        );
    }

    #[test]
    fn plan_sleeps_until_the_earliest_t1() {
        let a = lease(1, 100, None, None); // T1 at 50
        let mut b = lease(2, 40, None, None); // T1 at 20
        b.obtained_at = t(10);
        b.expires_at = Some(t(50));
        let p = plan(&[a, b], &HashMap::new(), t(10));
        assert!(p.due.is_empty());
        assert_eq!(p.next, Some(t(30)));
        assert_eq!(p.wait, Some(Duration::seconds(20)));
    }

    #[test]
    fn overdue_leases_are_due_at_once_after_a_restart() {
        let leases = [
            lease(1, 100, None, None),
            lease(2, 100, None, None),
            lease(3, 100, None, None),
        ];
        // No back-off remembered (a fresh daemon): each is due in its phase.
        assert_eq!(
            plan(&leases, &HashMap::new(), t(60)).due,
            vec![(0, Action::Renew), (1, Action::Renew), (2, Action::Renew)]
        );
        assert_eq!(
            plan(&leases[..1], &HashMap::new(), t(90)).due,
            vec![(0, Action::Rebind)]
        );
        assert_eq!(
            plan(&leases[..1], &HashMap::new(), t(500)).due,
            vec![(0, Action::Reacquire)]
        );
    }

    #[test]
    fn no_answer_backs_off_half_the_time_to_the_next_boundary_but_not_past_it() {
        let l = lease(1, 10_000, None, None); // T1 5000, T2 8750
        let b = retry_after(&l, Action::Renew, t(5000));
        assert_eq!(b.until, t(5000 + 1875));
        let mut m = HashMap::new();
        m.insert(key(&l), b);
        let p = plan(std::slice::from_ref(&l), &m, t(5001));
        assert!(p.due.is_empty());
        assert_eq!(p.next, Some(t(6875)));
        // Close to T2 the 60 s minimum applies, but T2 still wins.
        let b = retry_after(&l, Action::Renew, t(8740));
        assert_eq!(b.until, t(8800));
        m.insert(key(&l), b);
        assert_eq!(
            plan(std::slice::from_ref(&l), &m, t(8741)).next,
            Some(t(8750))
        );
        assert_eq!(
            plan(std::slice::from_ref(&l), &m, t(8750)).due,
            vec![(0, Action::Rebind)]
        );
    }

    #[test]
    fn a_renewed_record_forgets_the_old_back_off() {
        let l = lease(1, 100, None, None);
        let mut m = HashMap::new();
        m.insert(key(&l), retry_after(&l, Action::Renew, t(50)));
        let mut renewed = l.clone();
        renewed.obtained_at = t(55);
        renewed.expires_at = Some(t(155));
        assert_eq!(plan(&[renewed], &m, t(60)).next, Some(t(105)));
    }

    #[test]
    fn exchanges_stop_at_the_next_boundary() {
        use std::time::Duration as D;
        let l = lease(1, 20, None, None); // T1 10, T2 17.5 (17), expiry 20
        let max = D::from_secs(10);
        assert_eq!(
            exchange_budget(&l, Action::Renew, t(10), max),
            D::from_secs(7)
        );
        assert_eq!(
            exchange_budget(&l, Action::Rebind, t(17), max),
            D::from_secs(3)
        );
        assert_eq!(
            exchange_budget(&l, Action::Rebind, t(19), max),
            MIN_EXCHANGE
        );
        assert_eq!(exchange_budget(&l, Action::Reacquire, t(30), max), max);
        let long = lease(2, 3600, None, None);
        assert_eq!(exchange_budget(&long, Action::Renew, t(1800), max), max);
    }

    #[test]
    fn leases_falling_due_within_the_slack_go_together() {
        let a = lease(1, 3600, None, None); // T1 at 1800
        let mut b = lease(2, 3600, None, None);
        b.obtained_at = t(4);
        b.expires_at = Some(t(3604)); // T1 at 1804: within 5 s
        let mut c = lease(3, 3600, None, None);
        c.obtained_at = t(6);
        c.expires_at = Some(t(3606)); // T1 at 1806: not
        let p = plan(&[a, b, c], &HashMap::new(), t(1800));
        assert_eq!(p.due, vec![(0, Action::Renew), (1, Action::Renew)]);
        assert_eq!(p.next, Some(t(1806)));
        // Short leases get 1% of their time: 0.2 s for 20 s.
        assert_eq!(
            slack(&lease(1, 20, None, None)),
            Duration::milliseconds(200)
        );
    }

    #[test]
    fn lost_leases_are_retried_every_minute() {
        let mut l = lease(1, 100, None, None);
        l.status = Status::Lost;
        assert_eq!(
            plan(std::slice::from_ref(&l), &HashMap::new(), t(10)).due,
            vec![(0, Action::Reacquire)]
        );
        let mut m = HashMap::new();
        m.insert(key(&l), retry_after(&l, Action::Reacquire, t(10)));
        let p = plan(std::slice::from_ref(&l), &m, t(11));
        assert!(p.due.is_empty());
        assert_eq!(p.next, Some(t(70)));
    }

    #[test]
    fn ten_thousand_leases_plan_quickly() {
        let leases: Vec<Lease> = (0..10_000u32)
            .map(|i| {
                let mut l = lease((i % 250) as u8 + 1, 36_000, None, None);
                l.mac = Mac([2, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
                l.obtained_at = t(-(i as i64));
                l.expires_at = Some(t(36_000 - i as i64));
                l
            })
            .collect();
        let p = plan(&leases, &HashMap::new(), t(0));
        assert!(p.due.is_empty());
        assert_eq!(p.next, Some(t(18_000 - 9_999)));
    }

    /// Drive `plan` like the renewal loop does, with every exchange answered
    /// at once by a server sending `t1`/`lease_time`: the number of
    /// renewals in `secs` seconds.
    fn renewals_in(lease_time: u32, t1: Option<u32>, t2: Option<u32>, secs: i64) -> usize {
        let mut l = lease(1, lease_time, t1, t2);
        let mut now = t(0);
        let mut count = 0;
        while now < t(secs) {
            let p = plan(std::slice::from_ref(&l), &HashMap::new(), now);
            if p.due.is_empty() {
                // Never a wake-up in the past or at the same instant.
                let next = p.next.expect("a finite lease is due again some time");
                assert!(next > now, "next {next} is not after now {now}");
                now = next;
                continue;
            }
            count += 1;
            // The ACK comes back at once (obtained_at is kept in whole seconds).
            l.obtained_at = now;
            l.expires_at = Some(now + Duration::seconds(lease_time as i64));
            assert!(count < 10_000, "tight renewal loop");
        }
        count
    }

    #[test]
    fn a_server_t1_of_zero_does_not_make_a_tight_loop() {
        let l = lease(1, 3600, Some(0), Some(0));
        let d = deadlines(&l).unwrap();
        assert_eq!((d.t1, d.t2), (t(10), t(10)));
        // Right after the ACK (and within the 5 s slack) nothing is due.
        for s in 0..10 {
            let p = plan(std::slice::from_ref(&l), &HashMap::new(), t(s));
            assert!(p.due.is_empty(), "due at {s} s");
            assert_eq!(p.next, Some(t(10)));
        }
        assert_eq!(
            plan(std::slice::from_ref(&l), &HashMap::new(), t(10)).due,
            vec![(0, Action::Rebind)]
        );
        // An hour of a server answering at once: one renewal per 10 s (at 10, 20, .. 3590 s).
        assert_eq!(renewals_in(3600, Some(0), Some(0), 3600), 359);
        assert_eq!(renewals_in(3600, Some(0), None, 3600), 359);
    }

    #[test]
    fn a_lease_of_one_second_is_asked_back_every_ten_seconds_not_in_a_loop() {
        let l = lease(1, 1, None, None);
        let d = deadlines(&l).unwrap();
        assert_eq!((d.t1, d.t2, d.expiry), (t(10), t(10), t(10)));
        assert_eq!(phase(&l, t(1)), None);
        assert_eq!(phase(&l, t(10)), Some(Action::Reacquire));
        let p = plan(std::slice::from_ref(&l), &HashMap::new(), t(1));
        assert!(p.due.is_empty());
        assert_eq!(p.next, Some(t(10)));
        assert_eq!(renewals_in(1, None, None, 600), 59);
        assert_eq!(renewals_in(2, Some(0), Some(1), 600), 59);
        // Leases long enough keep the server's timers.
        assert_eq!(renewals_in(20, None, None, 600), 59);
        assert_eq!(renewals_in(100, None, None, 1000), 19);
    }

    fn boot(s: u64) -> std::time::Duration {
        std::time::Duration::from_secs(s)
    }

    #[test]
    fn a_clock_stepped_back_does_not_delay_a_renewal() {
        let l = lease(1, 3600, None, None); // T1 at 1800
        let seen = Seen {
            wall: t(0),
            boot: boot(100),
        };
        // 2000 s later by CLOCK_BOOTTIME, the wall clock was set back 1500 s
        // (a step of more than the lease's age is caught by the wall
        // clock itself: see the next test).
        let wall = t(2000 - 1500);
        assert!(
            plan(std::slice::from_ref(&l), &HashMap::new(), wall)
                .due
                .is_empty()
        );
        let now = record_now(seen, wall, boot(2100));
        assert_eq!(now, t(2000));
        let p = plan_by(std::slice::from_ref(&l), &HashMap::new(), |_| now);
        assert_eq!(p.due, vec![(0, Action::Renew)]);
        // Before T1 the wait is the time left by CLOCK_BOOTTIME, not the wall.
        let now = record_now(seen, t(1000 - 500), boot(1100));
        let p = plan_by(std::slice::from_ref(&l), &HashMap::new(), |_| now);
        assert_eq!(p.wait, Some(Duration::seconds(800)));
    }

    #[test]
    fn a_clock_stepped_forward_makes_a_renewal_early_never_late() {
        let seen = Seen {
            wall: t(0),
            boot: boot(100),
        };
        assert_eq!(record_now(seen, t(5000), boot(200)), t(5000));
        // CLOCK_BOOTTIME counts suspend: 3000 s suspended, the wall clock
        // not yet corrected, the later one wins.
        assert_eq!(record_now(seen, t(10), boot(3100)), t(3000));
        // A boot clock that went backwards (it cannot) changes nothing.
        assert_eq!(record_now(seen, t(10), boot(0)), t(10));
    }

    #[test]
    fn a_record_obtained_after_now_is_renewed_at_once_then_backed_off() {
        // The daemon started after the clock went back (nothing seen before).
        let mut l = lease(1, 3600, None, None);
        l.obtained_at = t(600);
        l.expires_at = Some(t(4200));
        // Within the tolerance: an ordinary young lease.
        assert_eq!(phase(&l, t(596)), None);
        // An hour earlier than the lease was obtained: the clock went back.
        let now = t(600 - 3600);
        assert!(from_the_future(&l, now));
        let p = plan(std::slice::from_ref(&l), &HashMap::new(), now);
        assert_eq!(p.due, vec![(0, Action::Renew)]);
        let mut m = HashMap::new();
        m.insert(key(&l), retry_after(&l, Action::Renew, now));
        let p = plan(std::slice::from_ref(&l), &m, add(now, Duration::seconds(1)));
        assert!(p.due.is_empty());
        assert!(
            p.wait
                .is_some_and(|w| w >= MIN_RETRY - Duration::seconds(1))
        );
    }

    #[test]
    fn clock_steps_are_told_from_drift() {
        assert_eq!(clock_step(Duration::seconds(100), boot(100)), None);
        assert_eq!(clock_step(Duration::seconds(104), boot(100)), None);
        assert_eq!(
            clock_step(Duration::seconds(-3500), boot(100)),
            Some(Duration::seconds(-3600))
        );
        assert_eq!(
            clock_step(Duration::seconds(3700), boot(100)),
            Some(Duration::seconds(3600))
        );
        assert!(clock_step(Duration::MIN, boot(u64::MAX)).is_some());
        assert!(clock_step(Duration::MAX, std::time::Duration::ZERO).is_some());
    }

    #[test]
    fn deadlines_past_the_calendar_saturate_instead_of_panicking() {
        let mut l = lease(1, u32::MAX - 1, None, None);
        l.obtained_at = DateTime::<Utc>::MAX_UTC;
        l.expires_at = Some(DateTime::<Utc>::MAX_UTC);
        let d = deadlines(&l).expect("finite");
        assert_eq!(d.t1, DateTime::<Utc>::MAX_UTC);
        assert_eq!(phase(&l, DateTime::<Utc>::MAX_UTC), Some(Action::Reacquire));
        l.obtained_at = DateTime::<Utc>::MIN_UTC;
        l.expires_at = Some(DateTime::<Utc>::MIN_UTC);
        assert_eq!(phase(&l, t(0)), Some(Action::Reacquire));
        let b = retry_after(&l, Action::Rebind, DateTime::<Utc>::MAX_UTC);
        assert_eq!(b.until, DateTime::<Utc>::MAX_UTC);
    }

    fn instant() -> impl proptest::strategy::Strategy<Value = DateTime<Utc>> {
        use proptest::prelude::*;
        let (lo, hi) = (
            DateTime::<Utc>::MIN_UTC.timestamp(),
            DateTime::<Utc>::MAX_UTC.timestamp(),
        );
        prop_oneof![
            // Anywhere chrono can go ...
            (lo..=hi, 0u32..1_000_000_000),
            // ... its very edges ...
            prop_oneof![Just(lo), Just(hi), Just(lo + 1), Just(hi - 1)].prop_map(|s| (s, 0u32)),
            // ... and around today.
            (1_700_000_000i64..1_900_000_000, 0u32..1_000_000_000),
        ]
        .prop_map(|(s, n)| {
            DateTime::<Utc>::from_timestamp(s, n).unwrap_or(DateTime::<Utc>::MAX_UTC)
        })
    }

    fn seconds() -> impl proptest::strategy::Strategy<Value = Option<u32>> {
        use proptest::prelude::*;
        proptest::option::of(prop_oneof![
            Just(0u32),
            Just(u32::MAX),
            Just(u32::MAX - 1),
            any::<u32>(),
            0u32..100_000,
        ])
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100_000))]
        #[test]
        fn scheduling_never_panics_on_extreme_dates_and_never_wakes_in_the_past(
            obtained in instant(),
            expires in proptest::option::of(instant()),
            now in instant(),
            seen_wall in instant(),
            seen_boot in proptest::prelude::any::<u64>(),
            boot_now in proptest::prelude::any::<u64>(),
            lease_time in seconds(),
            t1 in seconds(),
            t2 in seconds(),
            lost in proptest::prelude::any::<bool>(),
            until in proptest::option::of(instant()),
            same in proptest::prelude::any::<bool>(),
            act in 0u8..3,
        ) {
            let mut l = lease(1, 100, t1, t2);
            l.lease_time = lease_time;
            l.obtained_at = obtained;
            l.expires_at = expires;
            if lost {
                l.status = Status::Lost;
            }
            let action = [Action::Renew, Action::Rebind, Action::Reacquire][act as usize];
            let mut m = HashMap::new();
            if let Some(u) = until {
                m.insert(key(&l), Backoff {
                    obtained_at: if same { l.obtained_at } else { now },
                    action,
                    until: u,
                });
            }
            let _ = deadlines(&l);
            let _ = phase(&l, now);
            let _ = next_due(&l, m.get(&key(&l)), now);
            let _ = retry_after(&l, action, now);
            let _ = exchange_budget(&l, action, now, std::time::Duration::from_secs(10));
            let _ = slack(&l);
            let p = plan(std::slice::from_ref(&l), &m, now);
            if let Some(w) = p.wait {
                proptest::prop_assert!(w > Duration::zero(), "a wake-up in the past: {p:?}");
            }
            let seen = Seen { wall: seen_wall, boot: std::time::Duration::from_secs(seen_boot) };
            let rn = record_now(seen, now, std::time::Duration::from_secs(boot_now));
            proptest::prop_assert!(rn >= now);
            let _ = plan_by(std::slice::from_ref(&l), &m, |_| rn);
            let _ = clock_step(now - seen_wall, std::time::Duration::from_secs(boot_now));
        }
    }
}
