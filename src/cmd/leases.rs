//! `dhcpnet leases`: what dhcpnet holds, with the time left on each lease.

use chrono::Utc;
use serde::Serialize;

use super::Ctx;
use crate::cli::ListArgs;
use crate::error::Result;
use crate::lease::{self, Lease};
use crate::output;

#[derive(Serialize)]
struct View<'a> {
    #[serde(flatten)]
    lease: &'a Lease,
    /// Seconds until expiry; negative once expired; null when infinite.
    seconds_left: Option<i64>,
}

pub fn run(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let leases = lease::load(&ctx.store)?;
    let now = Utc::now();
    let views: Vec<View<'_>> = leases
        .iter()
        .map(|l| View {
            lease: l,
            seconds_left: l.seconds_left(now),
        })
        .collect();
    output::emit(a.out.output, &views, || {
        if leases.is_empty() {
            return "no leases recorded".into();
        }
        let mut t = output::table(&[
            "IP",
            "MAC",
            "HOSTNAME",
            "INTERFACE",
            "NETWORK",
            "SERVER",
            "EXPIRES IN",
            "STATUS",
        ]);
        for l in &leases {
            let status = match l.status {
                lease::Status::Lost => "lost (NAK)".to_string(),
                _ if l.is_expired(now) => "expired".to_string(),
                _ => "bound".to_string(),
            };
            t.add_row(vec![
                format!("{}/{}", l.ip, l.prefix_len),
                l.mac.to_string(),
                output::opt(&l.hostname),
                l.interface.clone(),
                output::opt(&l.network),
                l.server_id.to_string(),
                output::duration(l.seconds_left(now)),
                status,
            ]);
        }
        t.to_string()
    })
}
