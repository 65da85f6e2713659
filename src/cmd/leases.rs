//! `dhcpnet leases`: what dhcpnet holds, with the time left on each lease.

use chrono::Utc;
use serde::Serialize;

use super::Ctx;
use crate::cli::ListArgs;
use crate::error::{Error, Result};
use crate::lease::{self, Lease};
use crate::output;

#[derive(Serialize)]
struct View {
    /// The record, with the status shown at this moment
    /// (`Lease::shown_status`): one truth in every format.
    #[serde(flatten)]
    lease: Lease,
    /// Seconds until expiry; negative once expired; null when infinite.
    seconds_left: Option<i64>,
}

pub fn run(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let (leases, aside) = lease::load_noting(&ctx.store)?;
    list(&leases, &a)?;
    // The listing above is whole for the other records; the exit status
    // says that some are missing from it (7), as for any damaged state.
    if aside.is_empty() {
        return Ok(());
    }
    super::note_set_aside(&aside, "is not listed");
    Err(Error::state(
        ctx.store.path(crate::store::table::QUARANTINE),
        format!(
            "{} lease record file(s) could not be read and are not listed (see above); the leases \
             listed are all the others. Repair a file and move it back into {}/, or remove it once \
             its lease is not needed: `dhcpnet leases` exits 7 while any is there",
            aside.len(),
            lease::DIR
        ),
    ))
}

fn list(leases: &[Lease], a: &ListArgs) -> Result<()> {
    let now = Utc::now();
    let views: Vec<View> = leases
        .iter()
        .map(|l| View {
            lease: Lease {
                status: l.shown_status(now),
                ..l.clone()
            },
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
        for l in leases {
            let status = match l.shown_status(now) {
                lease::Status::Lost => "lost (NAK)".to_string(),
                lease::Status::Moved => format!(
                    "moved (in use: {})",
                    l.in_use_ip.map(|a| a.to_string()).unwrap_or_default()
                ),
                lease::Status::Kept => "kept (container stopped)".to_string(),
                s => status_word(s),
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

/// The word for a status, as JSON and YAML spell it.
fn status_word(s: lease::Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
