//! `dhcpnet create NET --parent IFACE`: learn (or check) the LAN's subnet
//! from its DHCP server, then `docker network create -d macvlan` with labels
//! that lead dhcpnet back to the DHCP interface, and record the network.

use chrono::{SubsecRound, Utc};
use serde::Serialize;

use super::{Ctx, probe::probe, step};
use crate::cli::CreateArgs;
use crate::docker::{LABEL_DHCP_INTERFACE, LABEL_MANAGED, LABEL_OWNED_LINK, LABEL_PARENT, LABEL_VLAN};
use crate::error::{Error, Result};
use crate::net::iface::{Interface, validate_name};
use crate::network::{self, Network, Subnet, vlan_of, vlan_needs_subnet};
use crate::output;

#[derive(Serialize)]
struct DryRun {
    dry_run: bool,
    command: String,
    argv: Vec<String>,
}

/// The `docker network create` arguments for a network.
pub fn docker_args(n: &Network) -> Vec<String> {
    let mut v: Vec<String> = ["network", "create", "--driver", "macvlan"].iter().map(|s| s.to_string()).collect();
    v.extend(["--subnet".into(), n.subnet.to_string(), "--gateway".into(), n.gateway.to_string()]);
    v.extend(["--opt".into(), format!("parent={}", n.parent)]);
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
async fn subnet_and_gateway(a: &CreateArgs, dhcp_iface: &str) -> Result<(Subnet, std::net::Ipv4Addr)> {
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
        step(&format!("the DHCP server {} on {dhcp_iface} serves {subnet}, gateway {gateway}", p.server_id));
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
                        p.gateway.map(|g| format!(" --gateway {g}")).unwrap_or_default()
                    )));
                }
                if let Some(g) = p.gateway.filter(|g| *g != gateway) {
                    log::warn!("the DHCP server {} names {g} as the router, not {gateway}", p.server_id);
                }
            }
            Err(Error::NoAnswer(m)) => log::warn!("{m}; creating the network anyway: containers cannot lease until a server answers"),
            Err(e) => return Err(e),
        },
    }
    Ok((subnet, gateway))
}

pub async fn run(ctx: &Ctx, a: CreateArgs) -> Result<()> {
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
    if a.vlan.is_some() {
        if parent_vlan.is_some() {
            return Err(Error::Usage(format!(
                "{} is already a VLAN sub-interface: give either --parent {} alone, or --parent BASE --vlan VID",
                a.parent, a.parent
            )));
        }
        return Err(Error::Kernel(
            "--vlan needs dhcpnet's own VLAN link support, which this build does not have yet. Use \
             --parent PARENT.VID instead (e.g. --parent eth0.10 --subnet ...): Docker then creates that \
             VLAN link itself and removes it with the network"
                .into(),
        ));
    }
    if let Some(n) = network::find(&ctx.store, &a.network)? {
        return Err(Error::Usage(format!(
            "dhcpnet already has a network named {} (parent {}, subnet {}){}",
            n.name,
            n.parent,
            n.subnet,
            if n.deleting { format!(": finish deleting it with `dhcpnet delete {}`", n.name) } else { String::new() }
        )));
    }
    let dhcp_iface = a.dhcp_interface.clone().unwrap_or_else(|| a.parent.clone());
    let (subnet, gateway) = subnet_and_gateway(&a, &dhcp_iface).await?;
    if !subnet.contains(gateway) {
        return Err(Error::Usage(format!("the gateway {gateway} is outside the subnet {subnet}")));
    }
    let mut net = Network {
        name: a.network.clone(),
        id: String::new(),
        parent: a.parent.clone(),
        dhcp_interface: dhcp_iface,
        subnet,
        gateway,
        vlan: parent_vlan,
        owned_link: None,
        created_at: Utc::now().trunc_subsecs(0),
        deleting: false,
        members: Vec::new(),
    };
    let docker = ctx.docker();
    let args = docker_args(&net);
    if a.dry_run {
        let view = DryRun { dry_run: true, command: docker.command_line(&args), argv: args.clone() };
        return output::emit(a.out.output, &view, || view.command.clone());
    }
    let out = docker.run(&args).await?;
    if !out.success() {
        return Err(Error::Docker(format!("`docker network create` failed: {}", out.message())));
    }
    net.id = out.stdout.trim().to_string();
    step(&format!("created Docker network {} ({} on {}, gateway {})", net.name, net.subnet, net.parent, net.gateway));
    let rec = net.clone();
    let saved = network::update(&ctx.store, |nets| {
        nets.retain(|n| n.name != rec.name);
        nets.push(rec);
        Ok(())
    });
    if let Err(e) = saved {
        let undo = docker.run(&["network", "rm", net.name.as_str()]).await;
        let undone = matches!(undo, Ok(ref o) if o.success());
        return Err(Error::state(
            ctx.store.path(network::FILE),
            format!(
                "{e}; {}",
                if undone { "the Docker network was removed again".to_string() } else { format!("remove the Docker network with `docker network rm {}`", net.name) }
            ),
        ));
    }
    output::emit(a.out.output, &net, || table(&net))
}

pub fn table(n: &Network) -> String {
    output::kv_table(&[
        ("network", n.name.clone()),
        ("id", crate::docker::short_id(&n.id)),
        ("parent", n.parent.clone()),
        ("dhcp interface", n.dhcp_interface.clone()),
        ("subnet", n.subnet.to_string()),
        ("gateway", n.gateway.to_string()),
        ("vlan", output::opt(&n.vlan)),
    ])
}
