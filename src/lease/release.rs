//! Releasing leases: DHCPRELEASE for recorded leases, then forgetting them.

use std::collections::BTreeMap;

use super::Ledger;
use crate::dhcp::transport;
use crate::error::{Error, Result};
use crate::lease::{self, Lease, Selector, Status};
use crate::net::iface::Interface;

pub fn selector(mac: Option<crate::net::mac::Mac>, ip: Option<std::net::Ipv4Addr>) -> Selector {
    match (mac, ip) {
        (Some(m), _) => Selector::Mac(m),
        (None, Some(ip)) => Selector::Ip(ip),
        (None, None) => Selector::All,
    }
}

/// Send RELEASE for each picked lease and drop its record, with the lock
/// held so no other process renews what is being released. One socket per
/// interface. Leases whose interface is gone (or whose send failed) are
/// reported and kept.
pub async fn release_leases(ledger: &Ledger, pick: impl Fn(&Lease) -> bool) -> Result<Vec<Lease>> {
    release_leases_or(ledger, pick, Unreachable::Keep).await
}

/// What to do with leases whose interface is gone or down, so that no
/// RELEASE can be sent for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// Keep the records (and report an error): `release` can be run again.
    Keep,
    /// Drop the records with a warning: the server frees the addresses when
    /// the leases expire. For tearing down a network whose link is gone,
    /// where waiting for the interface would block the teardown for good.
    Forget,
}

pub async fn release_leases_or(
    ledger: &Ledger,
    pick: impl Fn(&Lease) -> bool,
    unreachable: Unreachable,
) -> Result<Vec<Lease>> {
    let lock = ledger.store.lock()?;
    let all = lease::load(&ledger.store)?;
    let (picked, mut kept): (Vec<Lease>, Vec<Lease>) = all.into_iter().partition(|l| pick(l));
    // A request still on its way is its acquirer's: released here, the
    // server would free an address the acquirer then records and uses.
    let (busy, picked): (Vec<Lease>, Vec<Lease>) =
        picked.into_iter().partition(super::intent::in_flight);
    for l in &busy {
        log::warn!(
            "left {} ({}) on {} alone: dhcpnet process {} is requesting it right now (`dhcpnet \
             lease`, or the daemon's plugin for a starting container); release it once that has \
             finished",
            l.ip,
            l.mac,
            l.interface,
            l.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
        );
    }
    kept.extend(busy);
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    // Marked `releasing` before anything is sent: killed midway, the
    // records say so, and the next `release` or the daemon finishes.
    let marked: Vec<Lease> = picked
        .iter()
        .map(|l| Lease {
            status: Status::Releasing,
            ..l.clone()
        })
        .collect();
    let mut on_disk_releasing = true;
    if let Err(e) = lease::save(
        &ledger.store,
        &lock,
        kept.iter().chain(&marked).cloned().collect(),
    ) {
        log::warn!("cannot mark the leases `releasing` ({e}); releasing them all the same");
        on_disk_releasing = false;
    }
    let mut by_iface: BTreeMap<String, Vec<Lease>> = BTreeMap::new();
    for l in picked {
        by_iface.entry(l.interface.clone()).or_default().push(l);
    }
    let mut released = Vec::new();
    let mut first_err = None;
    // Said once at the end: alone, the error is the result and is not
    // also logged (it would be printed twice).
    let mut failures: Vec<String> = Vec::new();
    for (name, leases) in by_iface {
        let sent = match Interface::lookup(&name) {
            Ok(iface) => {
                transport::release(
                    &iface,
                    &leases.iter().map(Lease::release_of).collect::<Vec<_>>(),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match sent {
            Ok(each) => {
                for (l, e) in leases.into_iter().zip(each) {
                    match e {
                        None => released.push(l),
                        Some(e) => {
                            failures.push(format!(
                                "cannot release {} ({}) on {name}: {e}; its record is kept",
                                l.ip, l.mac
                            ));
                            first_err.get_or_insert(e);
                            kept.push(l);
                        }
                    }
                }
            }
            Err(e @ Error::Interface(_)) if unreachable == Unreachable::Forget => {
                let latest = leases.iter().filter_map(|l| l.expires_at).max();
                log::warn!(
                    "cannot send DHCPRELEASE on {name} ({e}); forgetting {} lease(s): the DHCP server frees \
                     the addresses when they expire{}",
                    leases.len(),
                    latest.map(|t| format!(" (by {t})")).unwrap_or_default()
                );
            }
            Err(e) => {
                failures.push(format!(
                    "cannot release {} lease(s) on {name}: {e}; their records are kept",
                    leases.len()
                ));
                first_err.get_or_insert(e);
                kept.extend(leases);
            }
        }
    }
    if let Err(e) = lease::save(&ledger.store, &lock, kept) {
        for f in &failures {
            log::error!("{f}");
        }
        // Sent, so the server frees them: never leave that unsaid.
        let n = released.len();
        return Err(Error::state(
            ledger.store.path(lease::FILE),
            format!(
                "{e}; DHCPRELEASE was sent for {n} lease(s), so the server frees them{}, but their \
                 records could not be removed: {}",
                if n > 0 {
                    format!(
                        " ({})",
                        released
                            .iter()
                            .map(|l| l.ip.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    String::new()
                },
                if on_disk_releasing {
                    "they show `releasing`, and the next `dhcpnet release` or the daemon removes them"
                } else {
                    "they still show `bound`; run the same `dhcpnet release` again once the state \
                     directory can be written (a second RELEASE is harmless)"
                }
            ),
        ));
    }
    drop(lock);
    let mut ifaces: Vec<&str> = released.iter().map(|l| l.interface.as_str()).collect();
    ifaces.sort_unstable();
    ifaces.dedup();
    for i in ifaces {
        ledger.changed(i).await;
    }
    match first_err {
        Some(e) if released.is_empty() => {
            for f in failures.iter().skip(1) {
                log::error!("{f}");
            }
            Err(e)
        }
        Some(_) => {
            for f in &failures {
                log::error!("{f}");
            }
            Err(Error::Partial(format!(
                "released {} lease(s); some could not be released (see above)",
                released.len()
            )))
        }
        None => Ok(released),
    }
}
