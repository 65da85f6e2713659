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
    Ok(survey(iface, mac, timeout, collect, broadcast)
        .await?
        .offers)
}

/// What a probe heard, and for how long it listened.
#[derive(Debug, Clone)]
pub struct Survey {
    pub offers: Vec<Offer>,
    pub listened: Duration,
}

/// `probe`, with how long it listened.
pub async fn survey(
    iface: &Interface,
    mac: Option<Mac>,
    timeout: f64,
    collect: f64,
    broadcast: bool,
) -> Result<Survey> {
    let offers = survey_quiet(iface, mac, timeout, collect, broadcast).await?;
    if offers.offers.is_empty() {
        return Err(Error::NoAnswer(format!(
            "no DHCP server answered on {} within {timeout} s: check that a DHCP server serves this \
             segment (and VLAN), that {} is connected, or allow more time with --timeout",
            iface.name, iface.name
        )));
    }
    if offers.offers.len() > 1 {
        log::warn!(
            "{} DHCP servers answered on {}: {}. More than one server on a segment is often a rogue \
             one (a home router, a misconfigured VM); dhcpnet leases from whichever answers first",
            offers.offers.len(),
            iface.name,
            servers(&offers.offers)
        );
    }
    Ok(offers)
}

/// "10.0.0.1 (02:..), 10.0.0.9 (02:..)": each server by address and MAC.
pub fn servers(offers: &[Offer]) -> String {
    offers
        .iter()
        .map(|o| format!("{} ({})", o.params.server_id, o.server_mac))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A probe that neither fails when nobody answers nor warns about several
/// servers: the caller (doctor) judges what was heard.
pub async fn survey_quiet(
    iface: &Interface,
    mac: Option<Mac>,
    timeout: f64,
    collect: f64,
    broadcast: bool,
) -> Result<Survey> {
    let id = Identity::new(mac.unwrap_or_else(Mac::random_local));
    log::info!("probing {} from {}", iface.name, id.mac);
    let (offers, listened) = transport::probe_listening(
        iface,
        &id,
        Duration::from_secs_f64(timeout),
        Duration::from_secs_f64(collect),
        broadcast,
    )
    .await?;
    Ok(Survey { offers, listened })
}
