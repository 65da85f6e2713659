//! The renewal loop: sleep until the next deadline (or until another process
//! changes the records), then renew, rebind or reacquire what is due.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Shared;
use super::schedule::{self, Action, Backoff, Key, Seen};
use super::watch::Watch;
use crate::dhcp::client::Goal;
use crate::dhcp::transport::{self, Job, Options, Outcome};
use crate::error::Result;
use crate::lease::{self, FILE, Lease, Renewal, Status};
use crate::net::iface::Interface;

/// Longest single sleep. Tokio's timers run on CLOCK_MONOTONIC, which
/// stops while the machine is suspended: waking at least this often bounds
/// how late a renewal can be after a resume (the plan itself counts
/// suspended time, see `Clock`).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// How often to try again to watch the state directory after that failed.
const WATCH_RETRY: Duration = Duration::from_secs(60);

/// CLOCK_BOOTTIME: time since boot, suspend included, never stepped.
pub fn boottime() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call;
    // clock_gettime writes only into it and has no other precondition.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if r != 0 {
        // Linux has had CLOCK_BOOTTIME since 2.6.39; should it fail, time
        // since the daemon started still never steps.
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        return START.get_or_init(std::time::Instant::now).elapsed();
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Where the loop first saw each record (see `schedule::record_now`), and
/// the clocks at its last look, to notice the wall clock being stepped.
#[derive(Default)]
struct Clock {
    seen: HashMap<(Key, DateTime<Utc>), Seen>,
    last: Option<Seen>,
}

impl Clock {
    /// Note the records as they are now (forgetting those gone), and say so
    /// when the wall clock was stepped since the last look.
    fn observe(&mut self, leases: &[Lease]) {
        let here = Seen {
            wall: Utc::now(),
            boot: boottime(),
        };
        if let Some(last) = self.last
            && let Some(step) =
                schedule::clock_step(here.wall - last.wall, here.boot.saturating_sub(last.boot))
        {
            log::warn!(
                "the wall clock was stepped {}{} s; renewals keep to the time elapsed since each \
                 lease was seen (CLOCK_BOOTTIME), and leases dated after the new time are renewed now",
                if step > chrono::Duration::zero() {
                    "forward "
                } else {
                    "back "
                },
                step.num_seconds().unsigned_abs()
            );
        }
        self.last = Some(here);
        // Rebuilt each look: records gone (or renewed, with a new
        // `obtained_at`) are forgotten, in time linear in their number.
        self.seen = leases
            .iter()
            .map(|l| {
                let k = (schedule::key(l), l.obtained_at);
                let seen = self.seen.get(&k).copied().unwrap_or(here);
                (k, seen)
            })
            .collect();
    }

    /// The time to judge `l` by, now.
    fn now(&self, l: &Lease) -> DateTime<Utc> {
        self.judge()(l)
    }

    /// `now` with the clocks read once, for many leases.
    fn judge(&self) -> impl Fn(&Lease) -> DateTime<Utc> + '_ {
        let (wall, boot) = (Utc::now(), boottime());
        move |l| match self.seen.get(&(schedule::key(l), l.obtained_at)) {
            Some(s) => schedule::record_now(*s, wall, boot),
            None => wall,
        }
    }
}

/// Leases whose record file was set aside (unreadable, see
/// `store::table`) while this loop held them: nothing renews them any
/// more. Said as an error when that is seen, and as LEASE LOST when one
/// runs out.
#[derive(Default)]
struct Orphans {
    /// The records of the last look, by key.
    known: HashMap<lease::LeaseKey, Lease>,
    /// When the last look was.
    last: Option<std::time::SystemTime>,
    /// Set aside and not yet run out: the lease, and where its file is.
    lapsing: Vec<(Lease, std::path::PathBuf)>,
}

impl Orphans {
    fn observe(&mut self, store: &crate::store::Store, leases: &[Lease]) {
        let here = std::time::SystemTime::now();
        let keys: std::collections::HashSet<lease::LeaseKey> =
            leases.iter().map(Lease::key).collect();
        let vanished: Vec<&Lease> = self
            .known
            .values()
            .filter(|l| l.status.is_held() && !keys.contains(&l.key()))
            .collect();
        if !vanished.is_empty() {
            let t = store.table::<Lease>();
            let aside = t.set_aside().unwrap_or_default();
            // Set aside since the last look (a rename sets ctime), not a
            // file of the same name set aside long ago.
            let since = self
                .last
                .and_then(|l| l.checked_sub(Duration::from_secs(2)))
                .unwrap_or(std::time::UNIX_EPOCH);
            for l in vanished {
                let name = crate::store::Table::<Lease>::name_of(&l.key());
                let recent = aside.iter().rev().find(|a| {
                    use std::os::unix::fs::MetadataExt;
                    a.name == name
                        && std::fs::metadata(&a.path).is_ok_and(|m| {
                            std::time::UNIX_EPOCH
                                + Duration::from_secs(u64::try_from(m.ctime()).unwrap_or(0))
                                >= since
                        })
                });
                if let Some(a) = recent {
                    log::error!(
                        "{} ({}) on {}: its record was set aside ({}), so it is no longer renewed; \
                         the lease runs out {} unless the file is repaired and moved back into {}/",
                        l.ip,
                        l.mac,
                        l.interface,
                        a.path.display(),
                        fmt_expiry(l),
                        lease::DIR
                    );
                    self.lapsing.push(((*l).clone(), a.path.clone()));
                }
            }
        }
        // Moved back (or leased again): renewed as any other.
        self.lapsing.retain(|(l, _)| !keys.contains(&l.key()));
        self.known = leases.iter().map(|l| (l.key(), l.clone())).collect();
        self.last = Some(here);
    }

    /// Say LEASE LOST for those run out; how long until the next one does.
    fn lapse(&mut self, now: DateTime<Utc>) -> Option<Duration> {
        self.lapsing.retain(|(l, path)| {
            if !l.is_expired(now) {
                return true;
            }
            log::error!(
                "LEASE LOST: {} for {} on {} expired: its record was set aside as unreadable ({}) \
                 and nothing renewed it; the server may give the address to another client",
                l.ip,
                l.mac,
                l.interface,
                path.display()
            );
            false
        });
        self.lapsing
            .iter()
            .filter_map(|(l, _)| l.seconds_left(now))
            .min()
            .map(|s| Duration::from_secs(u64::try_from(s.max(0)).unwrap_or(0) + 1))
    }
}

/// What became of one due lease.
#[derive(Debug)]
enum Fate {
    /// Write this record (renewed, lost, or reacquired) over the one the
    /// exchange started from, if that is still recorded.
    Update(Box<Renewal>),
    /// Nothing answered: try again later.
    Retry(Backoff),
}

pub async fn run(shared: &Shared, opts: Options) -> Result<()> {
    let mut watch = None;
    let mut watch_at = tokio::time::Instant::now();
    let mut backoff: HashMap<Key, Backoff> = HashMap::new();
    let mut clock = Clock::default();
    let mut orphans = Orphans::default();
    let mut first = true;
    loop {
        // The watcher is (re)started here: at start-up, and a while after
        // it failed.
        if watch.is_none() && tokio::time::Instant::now() >= watch_at {
            match Watch::new(shared.store.dir(), FILE) {
                Ok(w) => {
                    if !first {
                        log::info!("watching the state directory again");
                    }
                    watch = Some(w);
                }
                Err(e) => {
                    log::warn!(
                        "{e}; leases added by other dhcpnet processes are seen within {} s; trying again in {} s",
                        MAX_SLEEP.as_secs(),
                        WATCH_RETRY.as_secs()
                    );
                    watch_at = tokio::time::Instant::now() + WATCH_RETRY;
                }
            }
        }
        let leases = match lease::load(&shared.store) {
            Ok(l) => l,
            Err(e) => {
                log::error!("{e}; renewals wait until the file can be read again");
                Vec::new()
            }
        };
        backoff.retain(|k, _| leases.iter().any(|l| schedule::key(l) == *k));
        clock.observe(&leases);
        orphans.observe(&shared.store, &leases);
        let lapse = orphans.lapse(Utc::now());
        let plan = schedule::plan_by(&leases, &backoff, clock.judge());
        if first {
            log::info!(
                "holding {} lease(s); {} due now",
                leases.len(),
                plan.due.len()
            );
            first = false;
        }
        if !plan.due.is_empty() {
            // A lease kept for a stopped container that can never be tied
            // to it again is released when it falls due, not renewed.
            let now = Utc::now();
            let window = chrono::Duration::from_std(super::plugin::PARK_REUSE)
                .unwrap_or(chrono::Duration::MAX);
            let (idle, mut due): (Vec<Due>, Vec<Due>) = plan
                .due
                .iter()
                .map(|&(i, a)| (leases[i].clone(), a))
                .partition(|(l, _)| super::plugin::kept_for_nobody(l, now, window));
            if !idle.is_empty() {
                // What could not be released is renewed as usual (with its
                // backoff), never retried in a tight loop.
                due.extend(release_idle(shared, idle).await);
            }
            if due.is_empty() {
                continue;
            }
            attend(shared, due, &opts, &mut backoff, &clock).await;
            continue;
        }
        let sleep = plan
            .wait
            .map(|w| w.to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP)
            .min(lapse.unwrap_or(MAX_SLEEP));
        log::debug!("next renewal in {:.1} s", sleep.as_secs_f64());
        match &mut watch {
            Some(w) => {
                tokio::select! {
                    _ = tokio::time::sleep(sleep) => {}
                    r = w.changed() => {
                        if let Err(e) = r {
                            log::warn!(
                                "{e}; not watching the state directory for {} s",
                                WATCH_RETRY.as_secs()
                            );
                            watch = None;
                            watch_at = tokio::time::Instant::now() + WATCH_RETRY;
                        } else {
                            log::debug!("the records changed; planning again");
                        }
                    }
                }
            }
            None => tokio::time::sleep(sleep).await,
        }
    }
}

/// A lease that needs attention now, and what it needs.
type Due = (Lease, Action);

/// Release leases kept for stopped containers that will get new ones when
/// they start (`plugin::kept_for_nobody`); returns those not released, to
/// be renewed as usual instead.
async fn release_idle(shared: &Shared, idle: Vec<Due>) -> Vec<Due> {
    let keys: Vec<lease::LeaseKey> = idle.iter().map(|(l, _)| l.key()).collect();
    let released = match shared
        .release(move |l| keys.iter().any(|k| l.has_key(k)))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            log::error!("could not release leases kept for stopped containers: {e}; renewing them");
            Vec::new()
        }
    };
    for l in &released {
        log::info!(
            "released {} ({}), kept since its container {} stopped: it has no fixed MAC and the \
             engine names no container, so it gets a new address when it starts",
            l.ip,
            l.mac,
            l.container()
                .map(crate::docker::short_id)
                .unwrap_or_else(|| "?".into())
        );
    }
    idle.into_iter()
        .filter(|(l, _)| !released.iter().any(|r| r.same_key(l)))
        .collect()
}

fn goal(l: &Lease, a: Action) -> Goal {
    match (a, l.server_mac) {
        (Action::Renew, Some(server_mac)) => Goal::Renew {
            ip: l.ip,
            server_id: l.server_id,
            server_mac,
        },
        (Action::Renew | Action::Rebind, _) => Goal::Rebind { ip: l.ip },
        (Action::Reacquire, _) => Goal::Reboot { ip: l.ip },
    }
}

async fn exchange(iface: &Interface, jobs: &[Job], opts: &Options) -> Vec<Outcome> {
    match transport::run(iface, jobs, opts, |_, _| {}).await {
        // A run that stopped on an error is retried like one nobody answered.
        Ok(o) => o
            .into_iter()
            .map(|o| match o {
                Outcome::Failed(msg) => {
                    log::error!("{msg}");
                    Outcome::NoAnswer
                }
                o => o,
            })
            .collect(),
        Err(e) => {
            log::error!("{e}");
            vec![Outcome::NoAnswer; jobs.len()]
        }
    }
}

/// Renew, rebind or reacquire `due` (one batch per interface and action)
/// and record the results.
async fn attend(
    shared: &Shared,
    due: Vec<(Lease, Action)>,
    opts: &Options,
    backoff: &mut HashMap<Key, Backoff>,
    clock: &Clock,
) {
    let mut by_iface: BTreeMap<(String, u8), Vec<(Lease, Action)>> = BTreeMap::new();
    for (l, a) in due {
        by_iface
            .entry((l.interface.clone(), a as u8))
            .or_default()
            .push((l, a));
    }
    let mut fates: Vec<(Key, Fate)> = Vec::new();
    for ((name, _), items) in by_iface {
        // A renewal gives up at T2 and a rebinding at expiry, so that the
        // next step starts on time even with short leases.
        let budget = items
            .iter()
            .map(|(l, a)| schedule::exchange_budget(l, *a, clock.now(l), opts.timeout))
            .min();
        let opts = &Options {
            timeout: budget.unwrap_or(opts.timeout),
            ..opts.clone()
        };
        let iface = match Interface::lookup(&name) {
            Ok(i) => i,
            Err(e) => {
                log::error!("cannot renew {} lease(s) on {name}: {e}", items.len());
                for (l, a) in items {
                    fates.push((
                        schedule::key(&l),
                        Fate::Retry(schedule::retry_after(&l, a, clock.now(&l))),
                    ));
                }
                continue;
            }
        };
        let jobs: Vec<Job> = items
            .iter()
            .map(|(l, a)| Job {
                id: l.identity(),
                goal: goal(l, *a),
            })
            .collect();
        let outcomes = exchange(&iface, &jobs, opts).await;
        // New records are dated by the wall clock; the old ones are judged
        // by their own clock (`Clock`).
        let now = Utc::now();
        let mut again: Vec<Lease> = Vec::new();
        for ((l, a), o) in items.into_iter().zip(outcomes) {
            let k = schedule::key(&l);
            let at = clock.now(&l);
            match o {
                Outcome::Bound(b) => {
                    let n = l.renewed(&b, now);
                    if l.status == Status::Lost || a == Action::Reacquire {
                        log::info!(
                            "{} ({}): got the address {} back from {}",
                            l.mac,
                            name,
                            n.ip,
                            n.server_id
                        );
                    } else {
                        log::info!(
                            "{} ({}): {} renewed until {}",
                            l.mac,
                            name,
                            n.ip,
                            fmt_expiry(&n)
                        );
                    }
                    moved(&l, &n);
                    fates.push((k, Fate::Update(Box::new(Renewal { was: l, new: n }))));
                }
                Outcome::Refused { server_id, message } => {
                    log::error!(
                        "LEASE LOST: the DHCP server {server_id} refused {} for {} on {name} (DHCPNAK{}); asking for the address again",
                        l.ip,
                        l.mac,
                        message.map(|m| format!(": {m}")).unwrap_or_default()
                    );
                    again.push(l);
                }
                Outcome::NoAnswer if a == Action::Reacquire => {
                    // A server that does not know the lease stays silent
                    // (RFC 2131 §4.3.2, not authoritative): ask for the
                    // address afresh.
                    log::info!(
                        "{} ({}): no answer to INIT-REBOOT for {}; sending DISCOVER asking for it (option 50)",
                        l.mac,
                        name,
                        l.ip
                    );
                    again.push(l);
                }
                Outcome::NoAnswer if l.is_expired(at) => {
                    if l.status != Status::Lost {
                        log::error!(
                            "LEASE LOST: {} for {} on {name} expired with no answer from any DHCP server; \
                             the server may give it to another client. Asking for it back now, then every {} s",
                            l.ip,
                            l.mac,
                            schedule::LOST_RETRY.num_seconds()
                        );
                    }
                    let mut lost = l.clone();
                    lost.status = Status::Lost;
                    if a == Action::Reacquire {
                        fates.push((
                            k.clone(),
                            Fate::Retry(schedule::retry_after(&lost, Action::Reacquire, at)),
                        ));
                    }
                    // Expired while renewing or rebinding: ask for the address
                    // back (broadcast INIT-REBOOT) at once.
                    if l.status != Status::Lost {
                        fates.push((k, Fate::Update(Box::new(Renewal { was: l, new: lost }))));
                    }
                }
                Outcome::NoAnswer | Outcome::Failed(_) => {
                    let b = schedule::retry_after(&l, a, at);
                    // The back-off, or the next step (T2, expiry) if sooner.
                    let next = schedule::next_due(&l, Some(&b), at).unwrap_or(b.until);
                    let secs = (next - at).num_seconds().max(0);
                    let then = match (a, schedule::phase(&l, next)) {
                        (Action::Renew, Some(Action::Rebind)) => {
                            format!("asking any server (rebinding) in {secs} s")
                        }
                        (Action::Rebind, Some(Action::Reacquire)) => {
                            format!("the lease runs out in {secs} s")
                        }
                        _ => format!("trying again in {secs} s"),
                    };
                    log::warn!(
                        "{} ({}): no answer to {} of {}; {then} (expires {})",
                        l.mac,
                        name,
                        if a == Action::Renew {
                            "renewing"
                        } else {
                            "rebinding"
                        },
                        l.ip,
                        fmt_expiry(&l)
                    );
                    fates.push((k, Fate::Retry(b)));
                }
            }
        }
        if again.is_empty() {
            continue;
        }
        // Refused: the address is not ours any more; DISCOVER asking for it.
        let jobs: Vec<Job> = again
            .iter()
            .inspect(|l| log::info!("{} ({}): DISCOVER asking for {}", l.mac, name, l.ip))
            .map(|l| Job {
                id: l.identity(),
                goal: Goal::Acquire {
                    requested: Some(l.ip),
                },
            })
            .collect();
        let outcomes = exchange(&iface, &jobs, opts).await;
        let now = Utc::now();
        for (l, o) in again.into_iter().zip(outcomes) {
            let k = schedule::key(&l);
            match o {
                Outcome::Bound(b) => {
                    let n = l.renewed(&b, now);
                    if n.ip == l.ip {
                        log::info!("{} ({}): got the address {} back", l.mac, name, n.ip);
                    } else {
                        log::info!(
                            "{} ({}): the server offered {} instead of {}",
                            l.mac,
                            name,
                            n.ip,
                            l.ip
                        );
                    }
                    moved(&l, &n);
                    fates.push((k, Fate::Update(Box::new(Renewal { was: l, new: n }))));
                }
                Outcome::Refused { .. } | Outcome::NoAnswer | Outcome::Failed(_) => {
                    log::error!(
                        "LEASE LOST: {} ({}) could not get {} or any address back; retrying later",
                        l.mac,
                        name,
                        l.ip
                    );
                    let mut lost = l.clone();
                    lost.status = Status::Lost;
                    let at = clock.now(&l);
                    fates.push((
                        k.clone(),
                        Fate::Retry(schedule::retry_after(&lost, Action::Reacquire, at)),
                    ));
                    fates.push((k, Fate::Update(Box::new(Renewal { was: l, new: lost }))));
                }
            }
        }
    }
    let mut updates: Vec<Renewal> = Vec::new();
    for (k, f) in fates {
        match f {
            Fate::Retry(b) => {
                backoff.insert(k, b);
            }
            Fate::Update(l) => {
                if l.new.status == Status::Bound {
                    backoff.remove(&k);
                }
                updates.push(*l);
            }
        }
    }
    if updates.is_empty() {
        return;
    }
    let mut ifaces: Vec<String> = updates.iter().map(|u| u.new.interface.clone()).collect();
    ifaces.sort_unstable();
    ifaces.dedup();
    // A lease released meanwhile (plugin, event, `dhcpnet release`) stays
    // released and a newer record is not overwritten; what the exchange
    // bound for a record that went away is given back.
    let mut keys: Vec<lease::LeaseKey> = updates
        .iter()
        .flat_map(|u| [u.was.key(), u.new.key()])
        .collect();
    keys.sort();
    keys.dedup();
    let r = shared
        .update_leases_of(keys, |all| Ok(lease::apply_renewals(all, updates)))
        .await;
    // Host shims route to every leased address: follow lost and moved ones.
    for i in &ifaces {
        shared.ledger.changed(i).await;
    }
    match r {
        Ok(stale) => crate::lease::give_back(&stale).await,
        Err(e) => {
            // Not recorded means due again at once: wait instead of asking
            // the server over and over.
            log::error!(
                "cannot record renewals: {e}; trying again in {} s",
                schedule::MIN_RETRY.num_seconds()
            );
            tokio::time::sleep(Duration::from_secs(schedule::MIN_RETRY.num_seconds() as u64)).await;
        }
    }
}

/// Say so loudly when the server moved a lease to another address, and
/// what fixes it: the record keeps the address still in use (`in_use_ip`,
/// shown as `moved`).
fn moved(old: &Lease, new: &Lease) {
    if new.ip == old.ip {
        return;
    }
    match &old.container {
        Some(c) => log::error!(
            "ADDRESS CHANGED: {} on {} now holds {} instead of {}, which container {c} still uses \
             unleased and cannot follow (`dhcpnet run` pinned it with --ip, so `docker restart` keeps it). Re-create \
             the container so it takes {}: `dhcpnet rm {c}`, then the same `dhcpnet run`; \
             `dhcpnet leases` shows the record as `moved` until then",
            old.mac,
            old.interface,
            new.ip,
            old.ip,
            new.ip
        ),
        None => log::error!(
            "ADDRESS CHANGED: {} on {} now holds {} instead of {}; a host or container configured \
             with {} cannot follow on its own: give it {} (for a `dhcpnet run` container: `dhcpnet \
             rm NAME`, then the same `dhcpnet run`)",
            old.mac,
            old.interface,
            new.ip,
            old.ip,
            old.ip,
            new.ip
        ),
    }
}

fn fmt_expiry(l: &Lease) -> String {
    l.expires_at
        .map(|e| e.to_rfc3339())
        .unwrap_or_else(|| "never".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::schedule::tests::lease;

    #[test]
    fn boottime_moves_forward() {
        let a = boottime();
        std::thread::sleep(Duration::from_millis(20));
        let b = boottime();
        assert!(
            a > Duration::ZERO && b >= a + Duration::from_millis(20),
            "{a:?} {b:?}"
        );
    }

    #[test]
    fn a_record_keeps_the_time_it_was_first_seen_until_it_is_renewed_or_gone() {
        let mut c = Clock::default();
        let (a, b) = (lease(1, 3600, None, None), lease(2, 3600, None, None));
        c.observe(&[a.clone(), b.clone()]);
        let first = c.seen[&(schedule::key(&a), a.obtained_at)];
        std::thread::sleep(Duration::from_millis(5));
        c.observe(&[a.clone(), b.clone()]);
        assert_eq!(c.seen[&(schedule::key(&a), a.obtained_at)], first);
        // Renewed (a new obtained_at): seen afresh; b gone: forgotten.
        let mut renewed = a.clone();
        renewed.obtained_at += chrono::Duration::seconds(1800);
        c.observe(std::slice::from_ref(&renewed));
        assert_eq!(c.seen.len(), 1);
        assert!(c.seen[&(schedule::key(&renewed), renewed.obtained_at)].boot > first.boot);
        // Judged by the later of the wall clock and the time since seen.
        assert!(c.now(&renewed) >= Utc::now() - chrono::Duration::seconds(1));
    }

    #[test]
    fn expiries_at_the_ends_of_the_calendar_are_printed_not_panicked_on() {
        let mut l = lease(1, 60, None, None);
        for t in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
            l.expires_at = Some(t);
            assert!(!fmt_expiry(&l).is_empty());
        }
    }
}
