//! Creating a network: learn (or check) the LAN's subnet from its DHCP
//! server, then `docker network create -d macvlan` with labels that lead
//! dhcpnet back to the DHCP interface, and record the network.

use chrono::{SubsecRound, Utc};
use serde::Serialize;

use crate::dhcp::probe::probe;
use crate::docker::{
    Docker, LABEL_DHCP_INTERFACE, LABEL_MANAGED, LABEL_OWNED_LINK, LABEL_PARENT, LABEL_VLAN,
};
use crate::error::{Error, Result};
use crate::links;
use crate::net::iface::{Interface, validate_name};
use crate::network::{self, Network, Subnet, vlan_needs_subnet, vlan_of};
use crate::output::step;
use crate::store::Store;

/// What `create` asks for.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub network: String,
    pub parent: String,
    pub subnet: Option<Subnet>,
    pub gateway: Option<std::net::Ipv4Addr>,
    pub dhcp_interface: Option<String>,
    pub vlan: Option<u16>,
    pub driver: network::Driver,
    /// Seconds to wait for the DHCP server's offer.
    pub timeout: f64,
    pub dry_run: bool,
}

/// The `docker network create` command a dry run would run.
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub dry_run: bool,
    pub command: String,
    pub argv: Vec<String>,
}

/// What `create` did.
#[derive(Debug)]
pub enum Created {
    DryRun(DryRun),
    Network(Network),
}

/// The `docker network create` arguments for a network.
pub fn docker_args(n: &Network) -> Vec<String> {
    let mut v: Vec<String> = ["network", "create", "--driver", n.driver.as_str()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // Docker's own IPAM must never pick an address: the DHCP server does
    // not know it, and it may be a LAN device's. The range it picks from
    // holds the gateway alone, which Docker reserves for itself, so a
    // container started without an address (plain `docker run --network`)
    // is refused ("no available IPv4 addresses"); `dhcpnet run` passes
    // --ip with the address the server leased (Docker accepts any address
    // of the subnet then).
    v.extend([
        "--subnet".into(),
        n.subnet.to_string(),
        "--gateway".into(),
        n.gateway.to_string(),
        "--ip-range".into(),
        format!("{}/32", n.gateway),
    ]);
    v.extend(["--opt".into(), format!("parent={}", n.parent)]);
    if n.driver == network::Driver::Ipvlan {
        // L2: the containers are on the LAN's segment (broadcast DHCP, ARP)
        // and share the parent's MAC; L3 would route, with no DHCP at all.
        v.extend(["--opt".into(), "ipvlan_mode=l2".into()]);
    }
    let mut labels = vec![
        format!("{LABEL_MANAGED}=true"),
        format!("{LABEL_DHCP_INTERFACE}={}", n.dhcp_interface),
        format!("{LABEL_PARENT}={}", n.parent),
    ];
    if let Some(vid) = n.vlan {
        labels.push(format!("{LABEL_VLAN}={vid}"));
    }
    if let Some(l) = &n.owned_link {
        labels.push(format!("{LABEL_OWNED_LINK}={l}"));
    }
    for l in labels {
        v.extend(["--label".into(), l]);
    }
    v.push(n.name.clone());
    v
}

/// Subnet and gateway: from the server's offer, or from the flags checked
/// against the server.
async fn subnet_and_gateway(
    a: &CreateRequest,
    dhcp_iface: &str,
) -> Result<(Subnet, std::net::Ipv4Addr)> {
    let Some(subnet) = a.subnet else {
        let iface = Interface::lookup(dhcp_iface)?;
        let offers = probe(&iface, None, a.timeout, 0.3, true).await?;
        let p = &offers[0].params;
        let subnet = Subnet::new(p.ip, p.prefix_len);
        let gateway = match (a.gateway, p.gateway) {
            (Some(g), _) => g,
            (None, Some(g)) => g,
            (None, None) => {
                log::warn!(
                    "the DHCP server {} names no router; using {} as the gateway (set --gateway to change it)",
                    p.server_id,
                    subnet.first_usable()
                );
                subnet.first_usable()
            }
        };
        step(&format!(
            "the DHCP server {} on {dhcp_iface} serves {subnet}, gateway {gateway}",
            p.server_id
        ));
        return Ok((subnet, gateway));
    };
    let gateway = a.gateway.unwrap_or_else(|| subnet.first_usable());
    match Interface::lookup(dhcp_iface) {
        Err(e) => log::warn!("cannot check {subnet} against the DHCP server: {e}"),
        Ok(iface) => match probe(&iface, None, a.timeout, 0.3, true).await {
            Ok(offers) => {
                let p = &offers[0].params;
                let theirs = Subnet::new(p.ip, p.prefix_len);
                if !subnet.contains(p.ip) {
                    return Err(Error::Refused(format!(
                        "the DHCP server {} on {dhcp_iface} hands out addresses in {theirs} (it offered {}), \
                         outside --subnet {subnet}: containers would get addresses Docker refuses. Use \
                         --subnet {theirs}{}, or check --dhcp-interface/--parent",
                        p.server_id,
                        p.ip,
                        p.gateway
                            .map(|g| format!(" --gateway {g}"))
                            .unwrap_or_default()
                    )));
                }
                if let Some(g) = p.gateway.filter(|g| *g != gateway) {
                    log::warn!(
                        "the DHCP server {} names {g} as the router, not {gateway}",
                        p.server_id
                    );
                }
            }
            Err(Error::NoAnswer(m)) => log::warn!(
                "{m}; creating the network anyway: containers cannot lease until a server answers"
            ),
            Err(e) => return Err(e),
        },
    }
    Ok((subnet, gateway))
}

/// Create the Docker macvlan (or ipvlan L2) network `a.network` on `a.parent` with the
/// DHCP server's subnet and gateway (or the given ones, checked against the
/// server), with the links it needs, and record it. A failure undoes what
/// this made.
pub async fn create(store: &Store, docker: &Docker, a: &CreateRequest) -> Result<Created> {
    validate_name(&a.parent)?;
    if let Some(i) = &a.dhcp_interface {
        validate_name(i)?;
    }
    let parent_vlan = vlan_of(&a.parent);
    if a.subnet.is_none() && (a.vlan.is_some() || parent_vlan.is_some()) {
        let shown = match a.vlan {
            Some(v) => format!("{}.{v}", a.parent),
            None => a.parent.clone(),
        };
        return Err(vlan_needs_subnet(&shown));
    }
    if a.vlan.is_some() && parent_vlan.is_some() {
        return Err(Error::Usage(format!(
            "{} is already a VLAN sub-interface: give either --parent {} alone, or --parent BASE --vlan VID",
            a.parent, a.parent
        )));
    }
    if let Some(n) = network::find(store, &a.network)? {
        return Err(Error::Conflict(format!(
            "dhcpnet already has a network named {} (parent {}, subnet {}){}",
            n.name,
            n.parent,
            n.subnet,
            if n.deleting {
                format!(": finish deleting it with `dhcpnet delete {}`", n.name)
            } else {
                String::new()
            }
        )));
    }
    // --vlan: dhcpnet creates PARENT.VID, owned by the network and deleted
    // with it. A link of that name that dhcpnet already owned (`vlan add`)
    // is used but stays the user's; one that someone else made is refused
    // by the links rules. --dry-run only works out the name.
    let (parent, owned_link, created_link) = match a.vlan {
        None => (a.parent.clone(), None, None),
        Some(vid) => {
            let name = links::link_name(None, &format!("{}.{vid}", a.parent))?;
            let existed = std::path::Path::new("/sys/class/net").join(&name).exists();
            if a.dry_run {
                (name.clone(), (!existed).then_some(name), None)
            } else {
                let rec = links::add_vlan(store, &a.parent, vid, None).await?;
                if existed {
                    step(&format!(
                        "using {} ({}), which dhcpnet already owned",
                        rec.name,
                        rec.describe()
                    ));
                    (rec.name, None, None)
                } else {
                    step(&format!(
                        "created {} ({}), owned by network {}",
                        rec.name,
                        rec.describe(),
                        a.network
                    ));
                    (rec.name.clone(), Some(rec.name.clone()), Some(rec.name))
                }
            }
        }
    };
    // Undo what this command created, then report `e`.
    let made = async |store: &Store, e: Error| -> Error {
        if let Some(l) = &created_link {
            match links::delete_owned(store, l, false).await {
                Ok(()) => step(&format!("deleted {l} again")),
                Err(de) => log::error!(
                    "cannot delete {l} again: {de}; remove it with `dhcpnet vlan del {l}`"
                ),
            }
        }
        e
    };
    let dhcp_iface = a.dhcp_interface.clone().unwrap_or_else(|| parent.clone());
    let (subnet, gateway) = match subnet_and_gateway(a, &dhcp_iface).await {
        Ok(v) => v,
        Err(e) => return Err(made(store, e).await),
    };
    if !subnet.contains(gateway) {
        return Err(made(
            store,
            Error::Usage(format!(
                "the gateway {gateway} is outside the subnet {subnet}"
            )),
        )
        .await);
    }
    let mut net = Network {
        name: a.network.clone(),
        id: String::new(),
        parent,
        driver: a.driver,
        dhcp_interface: dhcp_iface,
        subnet,
        gateway,
        vlan: a.vlan.or(parent_vlan),
        owned_link: owned_link.clone(),
        created_at: Utc::now().trunc_subsecs(0),
        deleting: false,
        members: Vec::new(),
    };
    let args = docker_args(&net);
    if a.dry_run {
        return Ok(Created::DryRun(DryRun {
            dry_run: true,
            command: docker.command_line(&args),
            argv: args.clone(),
        }));
    }
    let out = match docker.run(&args).await {
        Ok(o) => o,
        Err(e) => return Err(made(store, e).await),
    };
    if !out.success() {
        return Err(made(
            store,
            Error::Docker(format!("`docker network create` failed: {}", out.message())),
        )
        .await);
    }
    net.id = out.stdout.trim().to_string();
    step(&format!(
        "created Docker network {} ({} on {}, gateway {})",
        net.name, net.subnet, net.parent, net.gateway
    ));
    let rec = net.clone();
    let saved = network::update(store, |nets| {
        nets.retain(|n| n.name != rec.name);
        nets.push(rec);
        Ok(())
    });
    if let Err(e) = saved {
        let undo = docker.run(&["network", "rm", net.name.as_str()]).await;
        let undone = matches!(undo, Ok(ref o) if o.success());
        return Err(made(
            store,
            Error::state(
                store.path(network::FILE),
                format!(
                    "{e}; {}",
                    if undone {
                        "the Docker network was removed again".to_string()
                    } else {
                        format!(
                            "remove the Docker network with `docker network rm {}`",
                            net.name
                        )
                    }
                ),
            ),
        )
        .await);
    }
    Ok(Created::Network(net))
}
