//! `dhcpnet rm CONTAINER...`: `docker rm -f`, then DHCPRELEASE of the
//! container's leases. The container goes first so that the server never
//! hands out an address a running container still uses.

use super::Ctx;
use crate::cli::RmArgs;
use crate::error::{Error, Result};
use crate::network::container::remove;
use crate::output;

pub async fn run(ctx: &Ctx, a: RmArgs) -> Result<()> {
    let docker = ctx.docker();
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for c in &a.containers {
        match remove(&ctx.ledger(), &docker, c).await {
            Ok(r) => done.push(r),
            Err(e) => {
                log::error!("{c}: {e}");
                errors.push(e);
            }
        }
    }
    output::emit(a.out.output, &done, || {
        let mut t = output::table(&["CONTAINER", "REMOVED", "RELEASED"]);
        for r in &done {
            t.add_row(vec![
                r.container.clone(),
                if r.removed {
                    "yes".into()
                } else {
                    "no (gone)".into()
                },
                output::list(&r.released),
            ]);
        }
        t.to_string()
    })?;
    match (errors.len(), done.len()) {
        (0, _) => Ok(()),
        (_, 0) if errors.len() == 1 => Err(errors.remove(0)),
        (_, 0) => Err(errors.remove(0)),
        (n, k) => Err(Error::Partial(format!(
            "{n} of {} containers could not be removed (see above)",
            n + k
        ))),
    }
}
