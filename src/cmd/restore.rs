//! `dhcpnet restore`: rebuild the links dhcpnet owns after a reboot, then
//! put the shims' addresses and routes back. Running it again changes
//! nothing.

use super::Ctx;
use crate::cli::ListArgs;
use crate::error::{Error, Result};
use crate::links::{self, Restored};
use crate::output;

pub async fn run(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let rows = links::restore(&ctx.store).await?;
    let shims = crate::links::shim::restore_shims(&ctx.store).await;
    output::emit(a.out.output, &rows, || table(&rows))?;
    shims?;
    let bad: Vec<&Restored> = rows.iter().filter(|r| r.failed()).collect();
    for r in &bad {
        log::error!(
            "{}: {}",
            r.name,
            r.message.as_deref().unwrap_or(r.action.as_str())
        );
    }
    match (bad.len(), rows.len()) {
        (0, _) => Ok(()),
        (b, n) if b == n => Err(Error::Other(format!(
            "no link could be restored ({b} failed, see above)"
        ))),
        (b, n) => Err(Error::Partial(format!(
            "{b} of {n} links could not be restored (see above)"
        ))),
    }
}

fn table(rows: &[Restored]) -> String {
    if rows.is_empty() {
        return "no links recorded: nothing to restore".into();
    }
    let mut t = output::table(&["NAME", "KIND", "PARENT", "ACTION", "MESSAGE"]);
    for r in rows {
        t.add_row(vec![
            r.name.clone(),
            r.kind.to_string(),
            r.parent.clone(),
            r.action.to_string(),
            output::opt(&r.message),
        ]);
    }
    t.to_string()
}
