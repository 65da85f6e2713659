//! `dhcpnet delete NET [--force]`: refuse while containers are attached
//! (unless --force: then `rm` each), release every lease on NET, `docker
//! network rm`, delete the links dhcpnet created for NET, forget NET.
//!
//! The record is marked `deleting` before the first change; every step
//! reports; a failure midway leaves the record, and a second `delete`
//! skips what is already done and finishes.

use super::Ctx;
use crate::cli::DeleteArgs;
use crate::error::Result;
use crate::network::delete::delete;
use crate::output;

pub async fn run(ctx: &Ctx, a: DeleteArgs) -> Result<()> {
    let done = delete(&ctx.ledger(), &ctx.docker(), &a.network, a.force).await?;
    output::emit(a.out.output, &done, || {
        output::kv_table(&[
            ("network", done.network.clone()),
            ("containers removed", output::list(&done.containers_removed)),
            ("leases released", output::list(&done.leases_released)),
            (
                "docker network removed",
                if done.docker_network_removed {
                    "yes".into()
                } else {
                    "no (was gone)".into()
                },
            ),
            ("links deleted", output::list(&done.links_deleted)),
        ])
    })
}
