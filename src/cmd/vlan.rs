//! `dhcpnet vlan add|del|list`: 802.1Q sub-interfaces dhcpnet owns.

use super::Ctx;
use crate::cli::{LinkDelArgs, ListArgs, VlanAddArgs, VlanCommand};
use crate::error::Result;
use crate::lease;
use crate::links::{self, Kind, LinkRecord, LinkStatus};
use crate::output;

pub async fn run(ctx: &Ctx, c: VlanCommand) -> Result<()> {
    match c {
        VlanCommand::Add(a) => add(ctx, a).await,
        VlanCommand::Del(a) => del(ctx, a).await,
        VlanCommand::List(a) => list(ctx, a).await,
    }
}

async fn add(ctx: &Ctx, a: VlanAddArgs) -> Result<()> {
    let rec = links::add_vlan(&ctx.store, &a.parent, a.vid, a.name.as_deref()).await?;
    output::emit(a.out.output, &rec, || record_table(&rec))
}

async fn del(ctx: &Ctx, a: LinkDelArgs) -> Result<()> {
    links::delete_kind(&ctx.store, &a.name, a.force, Some(Kind::Vlan)).await?;
    let held = lease::load(&ctx.store)?
        .into_iter()
        .filter(|l| l.interface == a.name)
        .count();
    if held > 0 {
        log::warn!(
            "{held} lease(s) recorded on {} remain; give them back with `dhcpnet release --interface {} --all` \
             before deleting, or they expire at the server",
            a.name,
            a.name
        );
    }
    log::info!("deleted {}", a.name);
    Ok(())
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let rows: Vec<LinkStatus> = links::status(&ctx.store)
        .await?
        .into_iter()
        .filter(|s| s.record.kind == Kind::Vlan)
        .collect();
    output::emit(a.out.output, &rows, || {
        status_table(&rows, "no VLAN links recorded")
    })
}

pub fn record_table(r: &LinkRecord) -> String {
    output::kv_table(&[
        ("name", r.name.clone()),
        ("kind", r.kind.to_string()),
        ("parent", r.parent.clone()),
        ("vid", output::opt(&r.vid)),
        ("mac", output::opt(&r.mac)),
        ("ifindex", r.ifindex.to_string()),
        ("created", r.created_at.to_rfc3339()),
    ])
}

pub fn status_table(rows: &[LinkStatus], empty: &str) -> String {
    if rows.is_empty() {
        return empty.into();
    }
    let mut t = output::table(&[
        "NAME", "KIND", "PARENT", "VID", "EXISTS", "UP", "STATE", "CREATED",
    ]);
    for s in rows {
        let r = &s.record;
        t.add_row(vec![
            r.name.clone(),
            r.kind.to_string(),
            r.parent.clone(),
            output::opt(&r.vid),
            if s.exists { "yes" } else { "no" }.into(),
            if s.up { "yes" } else { "no" }.into(),
            s.state.to_string(),
            r.created_at.to_rfc3339(),
        ]);
    }
    t.to_string()
}
