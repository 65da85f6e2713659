//! `dhcpnet doctor [IFACE | --network NET]`: run the checks, print one row
//! each; exit 13 when one fails.

use super::Ctx;
use crate::cli::DoctorArgs;
use crate::doctor::{self, Check, Scope, Status};
use crate::error::{Error, Result};
use crate::output;

#[derive(serde::Serialize)]
struct Report<'a> {
    checks: &'a [Check],
}

pub async fn run(ctx: &Ctx, a: DoctorArgs) -> Result<()> {
    if a.interface.is_none() && a.network.is_none() {
        return Err(Error::Usage(
            "name what to check: an interface (e.g. `dhcpnet doctor eth0`) or --network NET".into(),
        ));
    }
    let scope = Scope {
        iface: a.interface.clone(),
        parent: None,
        network: a.network.clone(),
        probe_timeout: a.timeout,
        plugin_socket: a.plugin_socket.clone(),
    };
    let bar = super::spinner("checking");
    let checks = doctor::run(&ctx.store, &ctx.docker(), &scope).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    output::emit(a.out.output, &Report { checks: &checks }, || table(&checks))?;
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name.as_str())
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::Unhealthy(format!(
        "{} check(s) failed: {}",
        failed.len(),
        failed.join(", ")
    )))
}

fn table(checks: &[Check]) -> String {
    let mut t = output::table(&["CHECK", "STATUS", "DETAIL", "FIX"]);
    for c in checks {
        t.add_row(vec![
            c.name.clone(),
            c.status.to_string(),
            c.detail.clone(),
            if c.fix.is_empty() {
                "-".into()
            } else {
                c.fix.clone()
            },
        ]);
    }
    t.to_string()
}
