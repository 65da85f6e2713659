//! `dhcpnet renew`: one DHCPREQUEST in RENEWING state per selected lease,
//! now, updating each record with the server's answer.

use chrono::Utc;

use super::{Ctx, secs};
use crate::cli::RenewArgs;
use crate::dhcp::transport::Options;
use crate::error::{Error, Result};
use crate::lease::{self, Lease, release::selector, renew::RenewResult};
use crate::output;

pub async fn run(ctx: &Ctx, a: RenewArgs) -> Result<()> {
    let sel = selector(a.mac, a.ip);
    let (all, aside) = lease::load_noting(&ctx.store)?;
    if matches!(sel, lease::Selector::All) {
        super::note_set_aside(&aside, "is not renewed");
    }
    let targets: Vec<Lease> = lease::select(&all, &sel, None, None)?
        .into_iter()
        // Intents and releases on their way are not leases to renew.
        .filter(|l| l.status.is_held())
        .cloned()
        .collect();
    if targets.is_empty() {
        return output::emit(a.out.output, &Vec::<RenewResult>::new(), || {
            "no leases recorded".into()
        });
    }
    let opts = Options {
        timeout: secs(a.timeout),
        ..Options::default()
    };
    let results = lease::renew::renew(&ctx.ledger(), targets, &opts).await?;
    let view: Vec<&RenewResult> = results.iter().map(|(r, _)| r).collect();
    output::emit(a.out.output, &view, || {
        let mut t = output::table(&["IP", "MAC", "INTERFACE", "RESULT", "EXPIRES IN"]);
        let now = Utc::now();
        for r in &view {
            t.add_row(vec![
                r.ip.to_string(),
                r.mac.to_string(),
                r.interface.clone(),
                r.result.to_string(),
                output::duration(r.expires_at.map(|e| (e - now).num_seconds())),
            ]);
        }
        t.to_string()
    })?;
    let ok = results.iter().filter(|(_, e)| e.is_none()).count();
    let errs: Vec<(String, Error)> = results
        .into_iter()
        // Each message names its lease already.
        .filter_map(|(_, e)| e.map(|e| (String::new(), e)))
        .collect();
    crate::error::conclude_batch(errs, ok, |n, total| {
        format!("{n} of {total} renewals failed (see above)")
    })
}
