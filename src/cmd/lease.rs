//! `dhcpnet lease`: full DORA exchanges for one or many MACs, recorded in the
//! store.

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Ctx, Place, resolve, secs, stderr_is_tty};
use crate::cli::LeaseArgs;
use crate::dhcp::client::Goal;
use crate::dhcp::message::Identity;
use crate::dhcp::transport::{self, Job, Options, Outcome};
use crate::error::{Error, Result};
use crate::lease::{self, Lease};
use crate::net::mac::Mac;
use crate::output;

/// What to lease: one identity per address.
pub fn identities(a: &LeaseArgs) -> Result<Vec<Identity>> {
    if a.count > 1 && a.mac.is_some() {
        return Err(Error::Usage(
            "--mac names one MAC; with --count N every lease gets a new random MAC".into(),
        ));
    }
    if a.count > 1 && a.client_id.is_some() {
        return Err(Error::Usage(
            "--client-id names one client; it cannot be combined with --count".into(),
        ));
    }
    let mut macs: Vec<Mac> = Vec::with_capacity(a.count as usize);
    while macs.len() < a.count as usize {
        let m = if macs.is_empty() {
            a.mac.unwrap_or_else(Mac::random_local)
        } else {
            Mac::random_local()
        };
        if !macs.contains(&m) {
            macs.push(m);
        }
    }
    Ok(macs
        .into_iter()
        .enumerate()
        .map(|(i, mac)| {
            let mut id = Identity::new(mac);
            if let Some(c) = &a.client_id {
                id.client_id = c.0.clone();
            }
            id.hostname = a.hostname.as_ref().map(|h| {
                if a.count > 1 {
                    format!("{h}-{}", i + 1)
                } else {
                    h.clone()
                }
            });
            id.vendor_class = a.vendor_class.clone();
            id
        })
        .collect())
}

/// Run the exchanges and record every granted lease. Returns the recorded
/// leases and the failures, in job order.
pub async fn acquire(
    ctx: &Ctx,
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
    let mut granted = Vec::new();
    let mut failed = Vec::new();
    let mut jobs = jobs;
    // Rounds: an address found in use (ARP check) is declined and the
    // client starts over (RFC 2131 §3.1.5), at most MAX_DECLINES times.
    // A failure in a later step (a send, the ARP check, a DECLINE) must not
    // lose what the server already granted: that is recorded first.
    let outcome: Result<()> = async {
        for round in 0..=MAX_DECLINES {
            if jobs.is_empty() {
                break;
            }
            let outcomes = transport::run(&place.iface, &jobs, opts, |_, _| {
                if let Some(b) = &bar {
                    b.inc(1);
                }
            })
            .await?;
            let now = Utc::now();
            let mut bound = Vec::new();
            for (job, out) in jobs.drain(..).zip(outcomes) {
                match out {
                    Outcome::Bound(b) => bound.push((job, b)),
                    other => failed.push((job.id, outcome_error(other, place, opts))),
                }
            }
            let conflicts = match opts.arp_check {
                Some(wait) => {
                    let pairs: Vec<_> = bound.iter().map(|(j, b)| (j.id.mac, b.params.ip)).collect();
                    transport::arp_probe(&place.iface, &pairs, wait).await.unwrap_or_else(|e| {
                            // The server granted these: keeping them unchecked
                            // beats holding them with no record.
                            log::warn!("the ARP check failed ({e}); keeping the addresses unchecked");
                            vec![None; pairs.len()]
                        })
                }
                None => vec![None; bound.len()],
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
    if !granted.is_empty() {
        record(ctx, place, &granted).await?;
        super::shim::after_lease_change(&ctx.store, &place.iface.name).await;
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

/// Store the leases; if that fails, give them back so that no address is
/// held at the server without dhcpnet knowing.
async fn record(ctx: &Ctx, place: &Place, granted: &[Lease]) -> Result<()> {
    let res = lease::update(&ctx.store, |all| {
        for l in granted {
            all.retain(|o| !(o.mac == l.mac && o.interface == l.interface));
            all.push(l.clone());
        }
        Ok(())
    });
    if let Err(e) = res {
        let all: Vec<_> = granted.iter().map(Lease::release_of).collect();
        if let Err(re) = transport::release(&place.iface, &all).await {
            log::error!("could not release the leases just granted either: {re}");
        }
        return Err(Error::state(
            ctx.store.path(lease::FILE),
            format!(
                "{e}; the {} lease(s) just granted were released again",
                granted.len()
            ),
        ));
    }
    Ok(())
}

pub async fn run(ctx: &Ctx, a: LeaseArgs) -> Result<()> {
    let place = resolve(ctx, &a.target).await?;
    let ids = identities(&a)?;
    let opts = Options {
        timeout: secs(a.timeout),
        broadcast_flag: !a.no_broadcast,
        arp_check: a.arp_check.map(secs),
        ..Options::default()
    };
    let progress = a.count > 1 && stderr_is_tty();
    let (granted, failed) = acquire(ctx, &place, ids, a.request_ip, &opts, progress).await?;
    if let Some(ip) = a.request_ip
        && let Some(l) = granted.first().filter(|l| l.ip != ip)
    {
        log::warn!("asked for {ip}, the server gave {}", l.ip);
    }
    if a.count == 1 {
        if let Some(l) = granted.first() {
            output::emit(a.out.output, l, || table(std::slice::from_ref(l)))?;
        }
    } else if !granted.is_empty() || failed.is_empty() {
        output::emit(a.out.output, &granted, || table(&granted))?;
    }
    conclude(failed, granted.len())
}

/// Turn failures into the command's result: all failed with one cause, that
/// cause; some failed, a Partial error that counts them.
pub fn conclude(failed: Vec<(Identity, Error)>, succeeded: usize) -> Result<()> {
    let failed = failed
        .into_iter()
        .map(|(id, e)| (id.mac.to_string(), e))
        .collect();
    crate::error::conclude_batch(failed, succeeded, |n, total| {
        format!("{n} of {total} leases failed (see above)")
    })
}

pub fn table(leases: &[Lease]) -> String {
    let now = Utc::now();
    let mut t = output::table(&[
        "IP",
        "MAC",
        "HOSTNAME",
        "GATEWAY",
        "DNS",
        "SERVER",
        "EXPIRES IN",
    ]);
    for l in leases {
        t.add_row(vec![
            format!("{}/{}", l.ip, l.prefix_len),
            l.mac.to_string(),
            output::opt(&l.hostname),
            output::opt(&l.gateway),
            output::list(&l.dns),
            l.server_id.to_string(),
            output::duration(l.seconds_left(now)),
        ]);
    }
    t.to_string()
}
