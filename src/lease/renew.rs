//! Renewing leases now (RENEWING, or REBINDING for a record without the
//! server's MAC), and giving back what was bound for records that changed
//! meanwhile.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Serialize;

use super::Ledger;
use crate::dhcp::client::Goal;
use crate::dhcp::transport::{self, Job, Options, Outcome};
use crate::error::{Error, Result};
use crate::lease::{self, Lease, Renewal, Status};
use crate::net::iface::Interface;

/// How one renewal ended (JSON: "renewed", "refused", "no-answer" or
/// "failed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenewOutcome {
    Renewed,
    Refused,
    NoAnswer,
    Failed,
}

impl RenewOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RenewOutcome::Renewed => "renewed",
            RenewOutcome::Refused => "refused",
            RenewOutcome::NoAnswer => "no-answer",
            RenewOutcome::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RenewOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Serialize)]
pub struct RenewResult {
    pub ip: std::net::Ipv4Addr,
    pub mac: crate::net::mac::Mac,
    pub interface: String,
    pub result: RenewOutcome,
    pub expires_at: Option<chrono::DateTime<Utc>>,
    pub message: Option<String>,
}

/// Renew `targets` (grouped by interface); returns the per-lease results and
/// writes every renewal (or loss) to the store.
pub async fn renew(
    ledger: &Ledger,
    targets: Vec<Lease>,
    opts: &Options,
) -> Result<Vec<(RenewResult, Option<Error>)>> {
    let mut by_iface: BTreeMap<String, Vec<Lease>> = BTreeMap::new();
    for l in targets {
        by_iface.entry(l.interface.clone()).or_default().push(l);
    }
    let mut results = Vec::new();
    let mut updates: Vec<Renewal> = Vec::new();
    for (name, leases) in by_iface {
        let iface = match Interface::lookup(&name) {
            Ok(i) => i,
            Err(e) => {
                for l in leases {
                    results.push((
                        res(&l, RenewOutcome::NoAnswer, None, Some(e.to_string())),
                        Some(Error::Interface(e.to_string())),
                    ));
                }
                continue;
            }
        };
        let jobs: Vec<Job> = leases
            .iter()
            .map(|l| Job {
                id: l.identity(),
                goal: match l.server_mac {
                    Some(server_mac) => Goal::Renew {
                        ip: l.ip,
                        server_id: l.server_id,
                        server_mac,
                    },
                    None => Goal::Rebind { ip: l.ip },
                },
            })
            .collect();
        let outcomes = transport::run(&iface, &jobs, opts, |_, _| {}).await?;
        let now = Utc::now();
        for (l, o) in leases.into_iter().zip(outcomes) {
            match o {
                Outcome::Bound(b) => {
                    let n = l.renewed(&b, now);
                    if n.ip != l.ip {
                        log::warn!(
                            "{}: the server moved this lease from {} to {}",
                            l.mac,
                            l.ip,
                            n.ip
                        );
                    }
                    results.push((res(&n, RenewOutcome::Renewed, n.expires_at, None), None));
                    updates.push(Renewal { was: l, new: n });
                }
                Outcome::Refused { server_id, message } => {
                    let msg = format!(
                        "the DHCP server {server_id} refused to renew {} for {} (DHCPNAK{}): the address \
                         is no longer this client's; release it and lease again",
                        l.ip,
                        l.mac,
                        message
                            .as_ref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                    let mut lost = l.clone();
                    lost.status = Status::Lost;
                    results.push((
                        res(&l, RenewOutcome::Refused, l.expires_at, Some(msg.clone())),
                        Some(Error::Refused(msg)),
                    ));
                    updates.push(Renewal { was: l, new: lost });
                }
                Outcome::Failed(msg) => {
                    results.push((
                        res(&l, RenewOutcome::Failed, l.expires_at, Some(msg.clone())),
                        Some(Error::Other(msg)),
                    ));
                }
                Outcome::NoAnswer => {
                    let msg = format!(
                        "no answer from the DHCP server {} for {} ({}) within {} s; the lease stays as it was",
                        l.server_id,
                        l.ip,
                        l.mac,
                        opts.timeout.as_secs_f64()
                    );
                    results.push((
                        res(&l, RenewOutcome::NoAnswer, l.expires_at, Some(msg.clone())),
                        Some(Error::NoAnswer(msg)),
                    ));
                }
            }
        }
    }
    if !updates.is_empty() {
        let mut ifaces: Vec<String> = updates.iter().map(|u| u.new.interface.clone()).collect();
        ifaces.sort_unstable();
        ifaces.dedup();
        // Only a record that is still the lease renewed is updated: one
        // released or replaced meanwhile stays as it is.
        let stale = {
            let lock = ledger.store.lock()?;
            lease::record_renewals(&ledger.store, &lock, updates)?
        };
        give_back(&stale).await;
        for s in &stale {
            if let Some(r) = results
                .iter_mut()
                .find(|(r, _)| s.is_of(r.mac, &r.interface))
            {
                let msg = format!(
                    "{} ({}) was released or leased again while it was being renewed; the renewed {} was given back",
                    s.mac, s.interface, s.ip
                );
                *r = (
                    res(s, RenewOutcome::Failed, None, Some(msg.clone())),
                    Some(Error::Other(msg)),
                );
            }
        }
        // A lease lost to a NAK must not stay routed through a shim.
        for i in &ifaces {
            ledger.changed(i).await;
        }
    }
    Ok(results)
}

/// DHCPRELEASE addresses an exchange bound that no record reflects any more
/// (`lease::apply_renewals`), so that the server does not hold them for
/// nobody. Failures are only logged: the server frees them at expiry.
pub async fn give_back(stale: &[Lease]) {
    let mut by_iface: BTreeMap<&str, Vec<&Lease>> = BTreeMap::new();
    for l in stale {
        log::warn!(
            "{} ({}): {} was bound while its record was released or replaced; giving it back to {}",
            l.mac,
            l.interface,
            l.ip,
            l.server_id
        );
        by_iface.entry(l.interface.as_str()).or_default().push(l);
    }
    for (name, leases) in by_iface {
        let all: Vec<_> = leases.iter().map(|l| l.release_of()).collect();
        let sent = match Interface::lookup(name) {
            Ok(iface) => transport::release(&iface, &all).await,
            Err(e) => Err(e),
        };
        match sent {
            Err(e) => log::error!(
                "could not give back {} address(es) on {name}: {e}; the server frees them when they expire",
                all.len()
            ),
            Ok(each) => {
                for (l, e) in all.iter().zip(each) {
                    if let Some(e) = e {
                        log::error!(
                            "could not give back {} ({}): {e}; the server frees it when it expires",
                            l.ip,
                            l.id.mac
                        );
                    }
                }
            }
        }
    }
}

fn res(
    l: &Lease,
    result: RenewOutcome,
    expires_at: Option<chrono::DateTime<Utc>>,
    message: Option<String>,
) -> RenewResult {
    RenewResult {
        ip: l.ip,
        mac: l.mac,
        interface: l.interface.clone(),
        result,
        expires_at,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renew_outcomes_serialize_as_the_strings_they_replaced() {
        let all = [
            (RenewOutcome::Renewed, "renewed"),
            (RenewOutcome::Refused, "refused"),
            (RenewOutcome::NoAnswer, "no-answer"),
            (RenewOutcome::Failed, "failed"),
        ];
        for (o, text) in all {
            assert_eq!(serde_json::to_value(o).unwrap(), text);
            assert_eq!(o.to_string(), text);
        }
    }
}
