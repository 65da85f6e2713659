//! `dhcpnet lease`: full DORA exchanges for one or many MACs, recorded in the
//! store.

use super::{Ctx, lease_table, resolve, secs, show_progress};
use crate::cli::LeaseArgs;
use crate::dhcp::message::Identity;
use crate::dhcp::transport::Options;
use crate::error::{Error, Result};
use crate::lease;
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

/// On an ipvlan network every lease has the parent's MAC and a client id
/// of its own: the one given (`--client-id`), else a random one of the
/// form `network::ipvlan_identity` gives unnamed containers.
fn on_ipvlan(net: &crate::network::Network, a: &LeaseArgs, ids: &mut [Identity]) -> Result<()> {
    if a.mac.is_some() {
        return Err(Error::Usage(format!(
            "{} is an ipvlan network: every lease on it has the parent's MAC, so --mac cannot be given \
             (use --client-id to name the client)",
            net.name
        )));
    }
    let parent = crate::net::iface::Interface::lookup(&net.parent)
        .or_else(|_| crate::net::iface::Interface::lookup(&net.dhcp_interface))?;
    for id in ids {
        id.mac = parent.mac;
        id.client_id = match &a.client_id {
            Some(c) => c.0.clone(),
            None => crate::network::ipvlan_client_id(&net.name, parent.mac, None),
        };
    }
    Ok(())
}

pub async fn run(ctx: &Ctx, a: LeaseArgs) -> Result<()> {
    let place = resolve(ctx, &a.target).await?;
    let mut ids = identities(&a)?;
    if let Some(n) = &place.network
        && let Some(net) = crate::network::find(&ctx.store, n)?
        && net.driver == crate::network::Driver::Ipvlan
    {
        on_ipvlan(&net, &a, &mut ids)?;
    }
    let opts = Options {
        timeout: secs(a.timeout),
        broadcast_flag: !a.no_broadcast,
        arp_check: a.arp_check.map(secs),
        ..Options::default()
    };
    let progress = a.count > 1 && show_progress();
    let (granted, failed) =
        lease::acquire(&ctx.ledger(), &place, ids, a.request_ip, &opts, progress).await?;
    if !granted.is_empty() {
        super::warn_without_daemon(ctx);
    }
    if let Some(ip) = a.request_ip
        && let Some(l) = granted.first().filter(|l| l.ip != ip)
    {
        log::warn!("asked for {ip}, the server gave {}", l.ip);
    }
    if a.count == 1 {
        if let Some(l) = granted.first() {
            output::emit(a.out.output, l, || lease_table(std::slice::from_ref(l)))?;
        }
    } else if !granted.is_empty() || failed.is_empty() {
        output::emit(a.out.output, &granted, || lease_table(&granted))?;
    }
    conclude(failed, granted.len())
}

/// Turn failures into the command's result: all failed with one cause, that
/// cause; some failed, a Partial error that counts them.
pub fn conclude(failed: Vec<(Identity, Error)>, succeeded: usize) -> Result<()> {
    let total = failed.len();
    // One line per distinct cause, naming its MACs (a full pool is one
    // message, not thirty), each printed once.
    let mut causes: Vec<(String, Vec<String>, Error)> = Vec::new();
    for (id, e) in failed {
        let text = e.to_string();
        match causes.iter_mut().find(|(t, _, _)| *t == text) {
            Some((_, macs, _)) => macs.push(id.mac.to_string()),
            None => causes.push((text, vec![id.mac.to_string()], e)),
        }
    }
    let grouped = causes
        .into_iter()
        .map(|(_, macs, e)| (macs.join(", "), e))
        .collect();
    crate::error::conclude_batch(grouped, succeeded, |_, _| {
        format!("{total} of {} leases failed (see above)", total + succeeded)
    })
}
