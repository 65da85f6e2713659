//! `dhcpnet watch IFACE`: print the DHCP messages seen on a segment, one
//! line (or one JSON object) each, until a limit or Ctrl-C.

use super::Ctx;
use crate::cli::WatchArgs;
use crate::dhcp::watch::{self, Limits, Seen};
use crate::error::{Error, Result};
use crate::net::iface::Interface;
use crate::output::{self, Format};

pub async fn run(_ctx: &Ctx, a: WatchArgs) -> Result<()> {
    let iface = Interface::lookup(&a.interface)?;
    let limits = Limits {
        timeout: a.timeout.map(super::secs),
        count: a.count,
    };
    let format = a.out.output;
    log::info!(
        "watching DHCP on {} (Ctrl-C to stop); nothing is sent",
        iface.name
    );
    let seen = watch::watch(&iface, &limits, |s| print(format, s));
    tokio::select! {
        r = seen => r.map(|_| ()),
        _ = stop() => Ok(()),
    }
}

/// Ctrl-C or SIGTERM: a clean end.
async fn stop() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn print(format: Format, s: &Seen) -> Result<()> {
    let text = match format {
        Format::Table => line(s),
        Format::Json => serde_json::to_string(s)
            .map_err(|e| Error::Other(format!("cannot encode JSON: {e}")))?,
        Format::Yaml => format!(
            "---\n{}",
            serde_yaml_ng::to_string(s)
                .map_err(|e| Error::Other(format!("cannot encode YAML: {e}")))?
                .trim_end()
        ),
    };
    output::write_stdout(format!("{text}\n").as_bytes())
}

/// One line for a person: time, type, xid, client MAC, then what is known.
fn line(s: &Seen) -> String {
    let time = s.time.get(11..23).unwrap_or(&s.time);
    let mut out = format!(
        "{time} {:<8} {} {} {}",
        s.kind,
        s.xid,
        output::opt(&s.client_mac),
        if s.from == "server" {
            format!("<- {}", s.src_ip)
        } else {
            "->".to_string()
        }
    );
    let mut add = |k: &str, v: String| out.push_str(&format!(" {k}={v}"));
    if let Some(ip) = s.requested_ip {
        add("requested", ip.to_string());
    }
    if let Some(ip) = s.offered_ip {
        add("offered", ip.to_string());
    }
    if let Some(ip) = s.server_id {
        add("server", ip.to_string());
    }
    if let Some(h) = &s.hostname {
        add("hostname", h.clone());
    }
    if let Some(t) = s.lease_time {
        add("lease", format!("{t}s"));
    }
    if let Some(m) = &s.message {
        add("message", format!("{m:?}"));
    }
    if s.new_server {
        out.push_str("  [another server]");
    }
    out
}
