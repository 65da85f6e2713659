//! `dhcpnet create NET --parent IFACE`: learn (or check) the LAN's subnet
//! from its DHCP server, then `docker network create -d macvlan` with labels
//! that lead dhcpnet back to the DHCP interface, and record the network.

use super::Ctx;
use crate::cli::CreateArgs;
use crate::error::Result;
use crate::network::Network;
use crate::network::create::{CreateRequest, Created, create};
use crate::output;

pub async fn run(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let req = CreateRequest {
        network: a.network.clone(),
        parent: a.parent.clone(),
        subnet: a.subnet,
        gateway: a.gateway,
        dhcp_interface: a.dhcp_interface.clone(),
        vlan: a.vlan,
        driver: a.driver,
        timeout: a.timeout,
        dry_run: a.dry_run,
    };
    match create(&ctx.store, &ctx.docker(), &req).await? {
        Created::DryRun(view) => output::emit(a.out.output, &view, || view.command.clone()),
        Created::Network(net) => {
            super::warn_without_daemon(ctx);
            output::emit(a.out.output, &net, || table(&net))
        }
    }
}

pub fn table(n: &Network) -> String {
    output::kv_table(&[
        ("network", n.name.clone()),
        ("id", crate::docker::short_id(&n.id)),
        ("parent", n.parent.clone()),
        ("driver", n.driver.to_string()),
        ("dhcp interface", n.dhcp_interface.clone()),
        ("subnet", n.subnet.to_string()),
        ("gateway", n.gateway.to_string()),
        ("vlan", output::opt(&n.vlan)),
    ])
}
