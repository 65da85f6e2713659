//! `dhcpnet release`: DHCPRELEASE for recorded leases, then forget them.

use super::{Ctx, lease_table};
use crate::cli::ReleaseArgs;
use crate::error::{Error, Result};
use crate::lease::{self, release::selector};
use crate::output;

/// The lease keys of the recorded shims, with the shims' names.
fn shim_leases(store: &crate::store::Store) -> Result<Vec<(lease::LeaseKey, String)>> {
    Ok(crate::links::load(store)?
        .into_iter()
        .filter(|r| r.shim)
        .filter_map(|r| crate::links::shim::lease_key(&r).map(|k| (k, r.name)))
        .collect())
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
    let (current, aside) = lease::load_noting(&ctx.store)?;
    if a.all {
        super::note_set_aside(&aside, "is not released");
    }
    let picked = lease::select(&current, &sel, iface, net)?;
    // Named on purpose, but still being requested: say so rather than
    // report "nothing to release".
    if !a.all && !picked.is_empty() && picked.iter().all(|l| lease::intent::in_flight(l)) {
        let l = picked[0];
        return Err(Error::Conflict(format!(
            "{} ({}) is being requested right now by dhcpnet process {} (`dhcpnet lease`, or the \
             daemon's plugin for a starting container): release it once that has finished",
            l.ip,
            l.mac,
            l.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
        )));
    }
    // A shim's own lease goes with the shim: released under a broad
    // selection (an ipvlan shim's sits on the parent, with the parent's MAC,
    // beside the containers'), the link would keep an address the server
    // hands to someone else. --ip names it on purpose.
    let shims = if a.ip.is_some() {
        Vec::new()
    } else {
        shim_leases(&ctx.store)?
    };
    for l in &picked {
        if let Some((_, name)) = shims.iter().find(|(k, _)| l.has_key(k)) {
            log::warn!(
                "kept {} ({}), the lease of shim {name}: `dhcpnet shim del {name}` gives it back with the \
                 shim, `dhcpnet release --ip {}` alone",
                l.ip,
                l.mac,
                l.ip
            );
        }
    }
    let released = lease::release_leases(&ctx.ledger(), |l| {
        sel.matches(l)
            && iface.is_none_or(|i| l.interface == i)
            && net.is_none_or(|n| l.network.as_deref() == Some(n))
            && !shims.iter().any(|(k, _)| l.has_key(k))
    })
    .await?;
    for l in &released {
        log::info!("released {} ({}) to {}", l.ip, l.mac, l.server_id);
    }
    output::emit(a.out.output, &released, || {
        if released.is_empty() {
            "no leases to release".into()
        } else {
            format!("released:\n{}", lease_table(&released))
        }
    })
}
