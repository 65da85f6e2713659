//! Containers on dhcpnet's networks: removing one and giving back its
//! leases. The container goes first so that the server never hands out an
//! address a running container still uses.

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::docker::{ContainerInfo, Docker};
use crate::error::{Error, Result};
use crate::lease::{self, ContainerRef, Lease, Ledger};
use crate::net::mac::Mac;
use crate::network::{self, Network};
use crate::output::step;

#[derive(Debug, Serialize)]
pub struct Removed {
    pub container: String,
    pub id: Option<String>,
    /// Whether a Docker container was removed (false: Docker had none).
    pub removed: bool,
    pub released: Vec<Ipv4Addr>,
}

/// Which leases belong to a container: when Docker knows it, those recorded
/// for it (`Lease::belongs_to`: id, short id or name, as the event follower
/// decides); when it does not, those whose recorded id starts with `what`
/// (4 or more hex digits). And either way those held for its MAC on one of
/// dhcpnet's networks (from the network's member record when Docker no
/// longer knows it).
fn picker(
    what: &str,
    info: Option<&ContainerInfo>,
    nets: &[Network],
) -> impl Fn(&Lease) -> bool + use<> {
    let known = info.map(|c| (c.id.clone(), c.name.clone()));
    let prefix =
        (what.len() >= 4 && what.bytes().all(|b| b.is_ascii_hexdigit())).then(|| what.to_string());
    let name = info
        .map(|c| c.name.clone())
        .unwrap_or_else(|| what.to_string());
    let mut macs: Vec<(String, Mac)> = Vec::new();
    // On ipvlan networks every container has the parent's MAC: a lease is
    // the container's by the client id its name gives.
    let mut named: Vec<String> = Vec::new();
    for n in nets {
        if n.driver == network::Driver::Ipvlan {
            named.push(n.name.clone());
            continue;
        }
        if let Some(ep) = info.and_then(|c| c.networks.get(&n.name))
            && let Some(m) = ep.mac
        {
            macs.push((n.name.clone(), m));
        }
        if info.is_none()
            && let Some(m) = n.member(&name)
        {
            macs.push((n.name.clone(), m.mac));
        }
    }
    move |l: &Lease| {
        let by_id = match (&known, &prefix) {
            (Some((id, name)), _) => l.belongs_to(&ContainerRef {
                id,
                name: Some(name),
            }),
            (None, Some(p)) => l.container().is_some_and(|c| c.starts_with(p.as_str())),
            _ => false,
        };
        // The id it has now, or the one an older dhcpnet cut with FNV-1a.
        let by_client_id = || {
            l.network.as_ref().is_some_and(|n| named.contains(n))
                && network::ipvlan_client_ids(
                    l.network.as_deref().unwrap_or_default(),
                    l.mac,
                    &name,
                )
                .iter()
                .any(|id| l.client_id == crate::dhcp::message::format_client_id(id))
        };
        by_id
            || macs
                .iter()
                .any(|(n, m)| l.mac == *m && l.network.as_deref() == Some(n.as_str()))
            || by_client_id()
    }
}

/// Remove one container and release its leases.
pub async fn remove(ledger: &Ledger, docker: &Docker, what: &str) -> Result<Removed> {
    let info = docker.inspect_container(what).await?;
    let nets = network::load(&ledger.store)?;
    let pick = picker(what, info.as_ref(), &nets);
    let held: Vec<Lease> = lease::load(&ledger.store)?
        .into_iter()
        .filter(|l| pick(l))
        .collect();
    if info.is_none() && held.is_empty() {
        return Err(Error::NotFound(format!(
            "Docker has no container {what}, and dhcpnet holds no lease for one: `docker ps -a` and `dhcpnet leases` list what there is"
        )));
    }
    let mut removed = false;
    if let Some(c) = &info {
        docker.check(&["rm", "-f", c.id.as_str()]).await?;
        removed = true;
        step(&format!("removed container {}", c.name));
    } else {
        log::warn!("Docker has no container {what}; releasing the leases dhcpnet recorded for it");
    }
    let mut released = if held.is_empty() {
        Vec::new()
    } else {
        lease::release_leases(ledger, &pick).await?
    };
    for l in &released {
        step(&format!("released {} ({}) to {}", l.ip, l.mac, l.server_id));
    }
    // A running `dhcpnet daemon` sees the container's destroy event too and
    // may have released its leases first: say so, and count them.
    if released.len() < held.len() {
        let left = lease::load(&ledger.store)?;
        for l in held {
            if !released.iter().any(|r| r.same_key(&l)) && !left.iter().any(|r| r.same_key(&l)) {
                step(&format!(
                    "{} ({}) was released by the running dhcpnet daemon",
                    l.ip, l.mac
                ));
                released.push(l);
            }
        }
    }
    if let Some(c) = &info {
        network::forget_container(&ledger.store, &c.id)?;
    }
    Ok(Removed {
        container: info
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| what.to_string()),
        id: info.map(|c| c.id),
        removed,
        released: released.iter().map(|l| l.ip).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, driver: &str) -> Network {
        serde_json::from_value(serde_json::json!({
            "name": name, "id": "x", "parent": "eth0", "driver": driver, "dhcp_interface": "eth0",
            "subnet": "10.0.0.0/24", "gateway": "10.0.0.1", "created_at": "2026-01-01T00:00:00Z"
        }))
        .expect("a network record")
    }

    fn lease_for(network: &str, id: &crate::dhcp::message::Identity, ip: u8) -> Lease {
        serde_json::from_value(serde_json::json!({
            "ip": format!("10.0.0.{ip}"), "prefix_len": 24, "subnet": "10.0.0.0/24",
            "mac": id.mac.to_string(), "gateway": null, "dns": [], "domain": null,
            "server_id": "10.0.0.1", "lease_time": 100, "renewal_time": 50, "rebinding_time": 87,
            "obtained_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:01:40Z",
            "hostname": null, "client_id": crate::dhcp::message::format_client_id(&id.client_id),
            "interface": "eth0", "network": network
        }))
        .expect("a lease record")
    }

    #[test]
    fn on_an_ipvlan_network_a_container_s_leases_are_found_by_its_client_id_not_the_shared_mac() {
        let parent = Mac([2, 0x42, 0, 0, 0, 1]);
        let nets = vec![net("lan", "ipvlan")];
        let web = lease_for(
            "lan",
            &network::ipvlan_identity("lan", parent, Some("web")),
            5,
        );
        let db = lease_for(
            "lan",
            &network::ipvlan_identity("lan", parent, Some("db")),
            6,
        );
        let pick = picker("web", None, &nets);
        assert!(pick(&web));
        assert!(!pick(&db), "db shares the MAC but is another container");
        // On a macvlan network of that name the client id means nothing.
        let pick = picker("web", None, &[net("lan", "macvlan")]);
        assert!(!pick(&web));
    }
}
