//! `dhcpnet shim add|del|list`: the host shim (see `links::shim`).

use super::{Ctx, secs};
use crate::cli::{LinkDelArgs, ListArgs, ShimAddArgs, ShimCommand};
use crate::error::Result;
use crate::links::shim::{self, ShimRequest, ShimView};
use crate::output;

pub async fn run(ctx: &Ctx, c: ShimCommand) -> Result<()> {
    match c {
        ShimCommand::Add(a) => add(ctx, a).await,
        ShimCommand::Del(a) => del(ctx, a).await,
        ShimCommand::List(a) => list(ctx, a).await,
    }
}

fn table(rows: &[ShimView]) -> String {
    if rows.is_empty() {
        return "no shims recorded".into();
    }
    let mut t = output::table(&[
        "NAME", "PARENT", "MAC", "IP", "ROUTES", "EXISTS", "UP", "STATE",
    ]);
    for v in rows {
        let r = &v.status.record;
        t.add_row(vec![
            r.name.clone(),
            r.parent.clone(),
            output::opt(&r.mac),
            output::opt(&v.ip),
            output::list(&v.routes),
            if v.status.exists { "yes" } else { "no" }.into(),
            if v.status.up { "yes" } else { "no" }.into(),
            v.status.state.to_string(),
        ]);
    }
    t.to_string()
}

async fn add(ctx: &Ctx, a: ShimAddArgs) -> Result<()> {
    let req = ShimRequest {
        parent: a.parent.clone(),
        name: a.name.clone(),
        mac: a.mac,
        hostname: a.hostname.clone(),
        timeout: secs(a.timeout),
    };
    let v = shim::add(&ctx.ledger(), &req).await?;
    output::emit(a.out.output, &v, || table(std::slice::from_ref(&v)))
}

async fn del(ctx: &Ctx, a: LinkDelArgs) -> Result<()> {
    shim::delete(&ctx.ledger(), &a.name, a.force).await
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let rows = shim::view(&ctx.store, "").await?;
    output::emit(a.out.output, &rows, || table(&rows))
}
