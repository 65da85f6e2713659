//! `dhcpnet daemon`: renew every recorded lease on time, serve Docker's IPAM
//! plugin API, and follow Docker's events. See `crate::daemon`.

use super::{Ctx, secs};
use crate::cli::DaemonArgs;
use crate::daemon::service::{self, Settings};
use crate::error::Result;

pub async fn run(ctx: &Ctx, a: DaemonArgs) -> Result<()> {
    let settings = Settings {
        plugin_socket: a.plugin_socket,
        no_plugin: a.no_plugin,
        no_docker: a.no_docker,
        docker: a
            .docker
            .map(crate::docker::Docker::new)
            .unwrap_or_else(crate::docker::Docker::from_env),
        timeout: secs(a.timeout),
        default_interface: a.default_interface,
        ipvlan_plugin_socket: a.ipvlan_plugin_socket,
    };
    service::run(&ctx.store, &settings).await
}
