//! Acquiring leases: full DORA exchanges for one or many identities on one
//! interface, each granted lease recorded (or given back when it cannot be).

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Ledger, Place};
use crate::dhcp::client::Goal;
use crate::dhcp::message::Identity;
use std::sync::Arc;

use super::intent::{self, IntentLog};
use crate::dhcp::transport::{self, IntentSink, Job, Options, Outcome};
use crate::error::{Error, Result};
use crate::lease::{self, Lease};

/// Run the exchanges and record every granted lease. Returns the recorded
/// leases and the failures, in job order.
pub async fn acquire(
    ledger: &Ledger,
    place: &Place,
    ids: Vec<Identity>,
    requested: Option<std::net::Ipv4Addr>,
    opts: &Options,
    progress: bool,
) -> Result<(Vec<Lease>, Vec<(Identity, Error)>)> {
    let jobs: Vec<Job> = ids
        .into_iter()
        .map(|id| Job {
            id,
            goal: Goal::Acquire { requested },
        })
        .collect();
    let bar = if progress {
        let b = ProgressBar::new(jobs.len() as u64);
        if let Ok(s) =
            ProgressStyle::with_template("{spinner} {pos}/{len} leases {wide_bar} {elapsed}")
        {
            b.set_style(s);
        }
        Some(b)
    } else {
        None
    };
    // Every REQUEST's intent is on disk before it goes out; SIGINT,
    // SIGTERM, SIGHUP and SIGQUIT end the exchanges, then what was granted
    // is recorded and the rest released (`intent`).
    let signals = opts.stop.is_none().then(on_signals);
    let intent_log = Arc::new(IntentLog::new(
        ledger.store.clone(),
        place.iface.name.clone(),
        place.network.clone(),
    ));
    let opts = &Options {
        intents: Some(IntentSink(intent_log.clone())),
        stop: opts
            .stop
            .clone()
            .or_else(|| signals.as_ref().map(|s| s.stop.clone())),
        ..opts.clone()
    };
    let interrupted = || opts.stop.as_ref().is_some_and(|s| *s.borrow());
    let ids_keys: Vec<lease::LeaseKey> = jobs
        .iter()
        .map(|j| lease::LeaseKey::of(&place.iface.name, &j.id))
        .collect();
    // Until this returns, its intents are its own: `release` leaves them.
    let _in_flight = intent::InFlight::new(&ids_keys);
    let mut granted = Vec::new();
    let mut failed = Vec::new();
    let mut jobs = jobs;
    // Rounds: an address found in use (ARP check) is declined and the
    // client starts over (RFC 2131 §3.1.5), at most MAX_DECLINES times.
    // A failure in a later step (a send, the ARP check, a DECLINE) must not
    // lose what the server already granted: that is recorded first.
    let outcome: Result<()> = async {
        for round in 0..=MAX_DECLINES {
            if jobs.is_empty() || interrupted() {
                break;
            }
            let outcomes = transport::run(&place.iface, &jobs, opts, |_, _| {
                if let Some(b) = &bar {
                    b.inc(1);
                }
            })
            .await?;
            let now = Utc::now();
            // The server answered others of this run: silence towards the
            // rest means it has nothing left to offer, not a cabling fault.
            let answered = outcomes.iter().any(|o| matches!(o, Outcome::Bound(_)));
            let mut bound = Vec::new();
            for (job, out) in jobs.drain(..).zip(outcomes) {
                match out {
                    Outcome::Bound(b) => bound.push((job, b)),
                    Outcome::NoAnswer if answered => failed.push((job.id, exhausted(place))),
                    other => failed.push((job.id, outcome_error(other, place, opts))),
                }
            }
            let conflicts = match opts.arp_check {
                Some(wait) if !interrupted() => {
                    let pairs: Vec<_> = bound.iter().map(|(j, b)| (j.id.mac, b.params.ip)).collect();
                    transport::arp_probe(&place.iface, &pairs, wait).await.unwrap_or_else(|e| {
                            // The server granted these: keeping them unchecked
                            // beats holding them with no record.
                            log::warn!("the ARP check failed ({e}); keeping the addresses unchecked");
                            vec![None; pairs.len()]
                        })
                }
                _ => vec![None; bound.len()],
            };
            for ((job, b), conflict) in bound.into_iter().zip(conflicts) {
                let Some(other) = conflict else {
                    granted.push(Lease::from_bound(&b, &job.id, &place.iface.name, place.network.as_deref(), now));
                    continue;
                };
                let ip = b.params.ip;
                log::warn!("{ip} offered to {} is already in use by {other} (ARP); declining it", job.id.mac);
                if let Err(e) = transport::decline(&place.iface, &job.id, ip, b.params.server_id).await {
                    log::error!("could not DECLINE {ip} ({e}); the server may hold it for {} until it expires", job.id.mac);
                }
                if round < MAX_DECLINES {
                    if let Some(bar) = &bar {
                        bar.inc_length(1);
                    }
                    jobs.push(job);
                } else {
                    failed.push((
                        job.id,
                        Error::Refused(format!(
                            "every address the server offered was already in use (last: {ip}, by {other}); \
                             the server's pool overlaps hosts with static addresses"
                        )),
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if granted.iter().any(|l| l.key().client_id.is_some()) {
        keep_distinct(ledger, place, &mut granted, &mut failed)?;
    }
    if !granted.is_empty() {
        refuse_unloadable(place, &mut granted, &mut failed).await;
    }
    if !granted.is_empty() {
        record(ledger, place, &mut granted, &mut failed).await?;
        ledger.changed(&place.iface.name).await;
    }
    // Intents that did not become leases: NAKed, unanswered, interrupted.
    let released = match intent::settle(ledger, &place.iface, &ids_keys).await {
        Ok(r) => r,
        Err(e) => {
            log::error!(
                "cannot release the addresses requested but not granted: {e}; `dhcpnet release --all` or the daemon will"
            );
            Vec::new()
        }
    };
    // The intents could not be written, so those REQUESTs were never sent:
    // that is the error (a state error, say).
    if let Some(e) = intent_log.take_failure() {
        if !granted.is_empty() {
            log::error!(
                "{e}; the {} lease(s) granted before that are recorded",
                granted.len()
            );
        }
        return Err(e);
    }
    if interrupted() {
        let sig = signals
            .as_ref()
            .map(|s| s.got.load(std::sync::atomic::Ordering::SeqCst))
            .unwrap_or(libc::SIGINT);
        let ips = |l: &[Lease]| {
            l.iter()
                .map(|l| l.ip.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::Passthrough {
            code: 128 + sig,
            msg: format!(
                "interrupted ({}): {} lease(s) granted are recorded{}; {} address(es) requested but \
                 not granted were released{}; nothing else is held for this run",
                signal_name(sig),
                granted.len(),
                if granted.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", ips(&granted))
                },
                released.len(),
                if released.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", ips(&released))
                },
            ),
        });
    }
    if let Err(e) = outcome {
        if !granted.is_empty() {
            log::error!(
                "{e}; the {} lease(s) granted before that are recorded",
                granted.len()
            );
        }
        return Err(e);
    }
    Ok((granted, failed))
}

/// Move to `failed` the leases the server gave an address it already gave
/// another client id on the same MAC (it ignores option 61: ipvlan cannot
/// work with it), and drop their intents without a RELEASE: at such a
/// server the RELEASE would end the other client's lease.
fn keep_distinct(
    ledger: &Ledger,
    place: &Place,
    granted: &mut Vec<Lease>,
    failed: &mut Vec<(Identity, Error)>,
) -> Result<()> {
    let existing: Vec<Lease> = lease::load(&ledger.store)?
        .into_iter()
        .filter(|l| l.interface == place.iface.name)
        .collect();
    let found = lease::same_address_elsewhere(&existing, granted);
    if found.iter().all(Option::is_none) {
        return Ok(());
    }
    let mut dropped = Vec::new();
    for (l, other) in std::mem::take(granted).into_iter().zip(found) {
        let Some(other) = other else {
            granted.push(l);
            continue;
        };
        failed.push((
            l.identity(),
            Error::Refused(format!(
                "the DHCP server {} gave {} to client id {}, but it holds that address for client \
                 id {} with the same MAC {} already: it tells clients apart by MAC only and \
                 ignores the client identifier (option 61). ipvlan networks (one MAC for every \
                 container) need a server that keys leases on the client id (dnsmasq and kea do \
                 by default); use macvlan with this server. Nothing was recorded or released",
                l.server_id, l.ip, l.client_id, other.client_id, l.mac
            )),
        ));
        dropped.push(l.key());
    }
    let lock = ledger.store.lock()?;
    lease::update_keys(&ledger.store, &lock, &dropped, |all| {
        all.retain(|o| !(o.status == lease::Status::Requesting && dropped.contains(&o.key())));
        Ok(())
    })
}

/// DECLINE-and-retry rounds after an ARP conflict.
const MAX_DECLINES: usize = 2;

fn outcome_error(o: Outcome, place: &Place, opts: &Options) -> Error {
    match o {
        Outcome::Bound(_) => Error::Other("internal: a bound outcome is not an error".into()),
        Outcome::Refused { server_id, message } => Error::Refused(format!(
            "the DHCP server {server_id} refused the lease (DHCPNAK{}); it may have no free \
             address, or a reservation for another client",
            message.map(|m| format!(": {m}")).unwrap_or_default()
        )),
        Outcome::Failed(msg) => Error::Other(msg),
        Outcome::NoAnswer => Error::NoAnswer(format!(
            "no DHCP server answered on {} within {} s: check the server and the cabling/VLAN, \
             or allow more time with --timeout",
            place.iface.name,
            opts.timeout.as_secs_f64()
        )),
    }
}

/// The error of an exchange that got no offer while the server granted
/// others of the same run. Every such MAC gets the same message, so that
/// the command reports them once, together.
fn exhausted(place: &Place) -> Error {
    Error::NoAnswer(format!(
        "the DHCP server on {} granted other leases of this batch but offered no address to \
         these MACs: its pool is probably exhausted (free some leases, widen the range, or \
         shorten the lease time)",
        place.iface.name
    ))
}

/// Give back the granted leases whose records would fail their own checks
/// (a reply the parser let through that the record refuses: a bug, never a
/// reason to hold an address nobody records), each failed with why.
async fn refuse_unloadable(
    place: &Place,
    granted: &mut Vec<Lease>,
    failed: &mut Vec<(Identity, Error)>,
) {
    let (bad, good): (Vec<Lease>, Vec<Lease>) = std::mem::take(granted)
        .into_iter()
        .partition(|l| l.check().is_err());
    *granted = good;
    if bad.is_empty() {
        return;
    }
    let all: Vec<_> = bad.iter().map(Lease::release_of).collect();
    let released = transport::release_all(&place.iface, &all).await;
    for l in bad {
        let why = l.check().err().unwrap_or_default();
        failed.push((
            l.identity(),
            Error::Refused(format!(
                "the DHCP server {} granted {}, but its reply makes a record that fails dhcpnet's \
                 checks ({why}); {}",
                l.server_id,
                l.ip,
                match &released {
                    Ok(()) => "the address was released again".to_string(),
                    Err(e) => format!(
                        "releasing it failed too ({e}): the server holds it until it expires"
                    ),
                }
            )),
        ));
    }
}

/// Store the leases, each only while its intent is still recorded (this
/// process's `requesting` record, or the lease it replaces): a `release`
/// may have removed it meanwhile, and the server then holds an address
/// nobody asked for any more. Those are released again and failed
/// (Conflict). If the write fails, give them all back so that no address
/// is held at the server without dhcpnet knowing.
async fn record(
    ledger: &Ledger,
    place: &Place,
    granted: &mut Vec<Lease>,
    failed: &mut Vec<(Identity, Error)>,
) -> Result<()> {
    let me = std::process::id();
    // Only the granted leases' records are read and written: the cost does
    // not grow with the number of leases recorded.
    let keys: Vec<lease::LeaseKey> = granted.iter().map(Lease::key).collect();
    let res = ledger.store.lock().and_then(|lock| {
        lease::update_keys(&ledger.store, &lock, &keys, |some| {
            let (mut gone, mut theirs) = (Vec::new(), Vec::new());
            for l in granted.iter() {
                let key = l.key();
                match some.iter().find(|o| o.has_key(&key)) {
                    Some(o)
                        if o.status.is_held()
                            || (o.status == lease::Status::Requesting && o.pid == Some(me)) => {}
                    // Another acquisition of the same client (one lease at
                    // the server): its to record; a RELEASE would end it.
                    Some(o) if o.status == lease::Status::Requesting => {
                        theirs.push(l.clone());
                        continue;
                    }
                    _ => {
                        gone.push(l.clone());
                        continue;
                    }
                }
                some.retain(|o| !o.has_key(&key));
                some.push(l.clone());
            }
            Ok((gone, theirs))
        })
    });
    let (gone, theirs) = match res {
        Ok(x) => x,
        Err(e) => {
            let all: Vec<_> = granted.iter().map(Lease::release_of).collect();
            if let Err(re) = transport::release_all(&place.iface, &all).await {
                log::error!("could not release the leases just granted either: {re}");
            }
            return Err(Error::state(
                ledger.store.path(lease::FILE),
                format!(
                    "{e}; the {} lease(s) just granted were released again",
                    granted.len()
                ),
            ));
        }
    };
    granted.retain(|l| !gone.iter().chain(&theirs).any(|g| g.same_key(l)));
    for l in theirs {
        failed.push((
            l.identity(),
            Error::Conflict(format!(
                "{} was granted to {}, but another dhcpnet process is asking for the same lease \
                 (same MAC and client id) and records it; `dhcpnet leases` shows it",
                l.ip, l.mac
            )),
        ));
    }
    if gone.is_empty() {
        return Ok(());
    }
    let all: Vec<_> = gone.iter().map(Lease::release_of).collect();
    let released = transport::release_all(&place.iface, &all).await;
    for l in gone {
        failed.push((
            l.identity(),
            Error::Conflict(format!(
                "{} was granted to {}, but its request was released meanwhile (`dhcpnet release`, \
                 or the daemon for a removed container), so it is not recorded; {}",
                l.ip,
                l.mac,
                match &released {
                    Ok(()) => {
                        "the address was released again: ask for a lease again if it is still wanted"
                            .to_string()
                    }
                    Err(e) => format!(
                        "releasing it failed too ({e}): the server holds it until it expires"
                    ),
                }
            )),
        ));
    }
    Ok(())
}

/// The signals that end an acquisition cleanly: Ctrl-C, a stop, the
/// terminal going away (an ssh session closed under a `dhcpnet lease`) and
/// Ctrl-\. Left to their default action, SIGHUP and SIGQUIT would kill the
/// process between a REQUEST and its record, leaving the server holding
/// addresses only the next `release --all` or daemon start gives back.
const STOP_SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

fn signal_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        _ => "SIGINT",
    }
}

/// Handle `STOP_SIGNALS`: the first turns `stop` true and is noted in
/// `got` (the exit code is 128 + it); later ones are swallowed, so that a
/// second signal does not kill the process while it records.
fn on_signals() -> intent::Signals {
    use std::sync::atomic::{AtomicI32, Ordering};
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::watch::channel(false);
    let got = Arc::new(AtomicI32::new(0));
    let mut streams = Vec::new();
    for sig in STOP_SIGNALS {
        match signal(SignalKind::from_raw(sig)) {
            Ok(s) => streams.push((sig, s)),
            Err(e) => log::debug!(
                "cannot handle {}: {e}; it ends the process at once",
                signal_name(sig)
            ),
        }
    }
    if !streams.is_empty() {
        let g = got.clone();
        // Ends when the receiver goes (the operation finished).
        tokio::spawn(async move {
            let mut noted = false;
            loop {
                let next = futures::future::select_all(
                    streams
                        .iter_mut()
                        .map(|(sig, s)| Box::pin(async move { s.recv().await.map(|_| *sig) })),
                );
                let sig = tokio::select! {
                    (r, _, _) = next => r,
                    _ = tx.closed() => return,
                };
                // None: the runtime's signal driver is gone; nothing more comes.
                let Some(sig) = sig else { return };
                if !noted {
                    noted = true;
                    g.store(sig, Ordering::SeqCst);
                    let _ = tx.send(true);
                }
            }
        });
    }
    intent::Signals { stop: rx, got }
}
