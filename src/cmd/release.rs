//! `dhcpnet release`: DHCPRELEASE for recorded leases, then forget them.

use super::{Ctx, lease_table};
use crate::cli::ReleaseArgs;
use crate::error::{Error, Result};
use crate::lease::{self, release::selector};
use crate::output;

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
    let released = lease::release_leases(&ctx.ledger(), |l| {
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
            format!("released:\n{}", lease_table(&released))
        }
    })
}
