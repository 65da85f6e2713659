//! `dhcpnet rm CONTAINER...`: `docker rm -f`, then DHCPRELEASE of the
//! container's leases. The container goes first so that the server never
//! hands out an address a running container still uses.

use super::Ctx;
use crate::cli::RmArgs;
use crate::error::{Result, conclude_batch};
use crate::network::container::remove;
use crate::output;

pub async fn run(ctx: &Ctx, a: RmArgs) -> Result<()> {
    let docker = ctx.docker();
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for c in &a.containers {
        match remove(&ctx.ledger(), &docker, c).await {
            Ok(r) => done.push(r),
            Err(e) => errors.push((c.clone(), e)),
        }
    }
    if done.is_empty() {
        // Nothing was removed: no (empty) table, only the error(s).
        return conclude_batch(errors, 0, |_, _| String::new());
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
    conclude_batch(errors, done.len(), |n, total| {
        format!("{n} of {total} containers could not be removed (see above)")
    })
}
