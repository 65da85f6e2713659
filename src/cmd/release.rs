//! `dhcpnet release`: DHCPRELEASE for recorded leases, then forget them.

use std::collections::BTreeMap;

use super::{Ctx, lease::table};
use crate::cli::ReleaseArgs;
use crate::dhcp::transport;
use crate::error::{Error, Result};
use crate::lease::{self, Lease, Selector};
use crate::net::iface::Interface;
use crate::output;

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
pub async fn release_leases(ctx: &Ctx, pick: impl Fn(&Lease) -> bool) -> Result<Vec<Lease>> {
    release_leases_or(ctx, pick, Unreachable::Keep).await
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
    ctx: &Ctx,
    pick: impl Fn(&Lease) -> bool,
    unreachable: Unreachable,
) -> Result<Vec<Lease>> {
    let lock = ctx.store.lock()?;
    let all = lease::load(&ctx.store)?;
    let (picked, mut kept): (Vec<Lease>, Vec<Lease>) = all.into_iter().partition(|l| pick(l));
    let mut by_iface: BTreeMap<String, Vec<Lease>> = BTreeMap::new();
    for l in picked {
        by_iface.entry(l.interface.clone()).or_default().push(l);
    }
    let mut released = Vec::new();
    let mut first_err = None;
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
            Ok(()) => released.extend(leases),
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
                log::error!(
                    "cannot release {} lease(s) on {name}: {e}; their records are kept",
                    leases.len()
                );
                first_err.get_or_insert(e);
                kept.extend(leases);
            }
        }
    }
    lease::save(&ctx.store, &lock, kept)?;
    drop(lock);
    let mut ifaces: Vec<&str> = released.iter().map(|l| l.interface.as_str()).collect();
    ifaces.sort_unstable();
    ifaces.dedup();
    for i in ifaces {
        super::shim::after_lease_change(&ctx.store, i).await;
    }
    match first_err {
        Some(e) if released.is_empty() => Err(e),
        Some(_) => Err(Error::Partial(format!(
            "released {} lease(s); some could not be released (see above)",
            released.len()
        ))),
        None => Ok(released),
    }
}

pub async fn run(ctx: &Ctx, a: ReleaseArgs) -> Result<()> {
    if let Some(i) = &a.target.interface {
        crate::net::iface::validate_name(i)?;
    }
    if a.target.network.is_some() && a.target.interface.is_some() {
        return Err(Error::Usage(
            "name either a NETWORK or --interface, not both".into(),
        ));
    }
    if a.all && a.target.network.is_none() && a.target.interface.is_none() {
        return Err(Error::Usage(
            "--all needs a NETWORK or --interface IFACE, so that it cannot release more than meant"
                .into(),
        ));
    }
    let sel = selector(a.mac, a.ip);
    let (iface, net) = (a.target.interface.as_deref(), a.target.network.as_deref());
    // Fail before touching anything when the selection is empty.
    let current = lease::load(&ctx.store)?;
    lease::select(&current, &sel, iface, net)?;
    let released = release_leases(ctx, |l| {
        sel.matches(l)
            && iface.is_none_or(|i| l.interface == i)
            && net.is_none_or(|n| l.network.as_deref() == Some(n))
    })
    .await?;
    for l in &released {
        log::info!("released {} ({}) to {}", l.ip, l.mac, l.server_id);
    }
    output::emit(a.out.output, &released, || {
        if released.is_empty() {
            "no leases to release".into()
        } else {
            format!("released:\n{}", table(&released))
        }
    })
}
