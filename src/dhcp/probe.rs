//! Probing a segment: DISCOVER from a throwaway MAC, collect the offers,
//! commit nothing (no REQUEST, so no server holds a lease for it).

use std::time::Duration;

use super::message::Identity;
use super::transport::{self, Offer};
use crate::error::{Error, Result};
use crate::net::iface::Interface;
use crate::net::mac::Mac;

/// Probe `iface` from `mac` (default: a throwaway locally administered
/// one): every server's OFFER, never a REQUEST. An error when none answers;
/// a warning naming each server when more than one does.
pub async fn probe(
    iface: &Interface,
    mac: Option<Mac>,
    timeout: f64,
    collect: f64,
    broadcast: bool,
) -> Result<Vec<Offer>> {
    let id = Identity::new(mac.unwrap_or_else(Mac::random_local));
    log::info!("probing {} from {}", iface.name, id.mac);
    let offers = transport::probe(
        iface,
        &id,
        Duration::from_secs_f64(timeout),
        Duration::from_secs_f64(collect),
        broadcast,
    )
    .await?;
    if offers.is_empty() {
        return Err(Error::NoAnswer(format!(
            "no DHCP server answered on {} within {timeout} s: check that a DHCP server serves this \
             segment (and VLAN), that {} is connected, or allow more time with --timeout",
            iface.name, iface.name
        )));
    }
    if offers.len() > 1 {
        let list: Vec<String> = offers
            .iter()
            .map(|o| format!("{} ({})", o.params.server_id, o.server_mac))
            .collect();
        log::warn!(
            "{} DHCP servers answered on {}: {}. More than one server on a segment is often a rogue \
             one (a home router, a misconfigured VM); dhcpnet leases from whichever answers first",
            offers.len(),
            iface.name,
            list.join(", ")
        );
    }
    Ok(offers)
}
