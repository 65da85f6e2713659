//! Intents: what the server may hold before dhcpnet knows that it does.
//!
//! Before a round of DHCPREQUESTs (SELECTING) goes out, one record per
//! REQUEST is written (fsynced) with status `requesting`: MAC, client id,
//! interface, server id, the offered address, when it was asked, and the
//! process asking. An ACK turns it into a `bound` record; a NAK, no answer,
//! or an interruption (SIGINT, SIGTERM) ends with a DHCPRELEASE and the
//! record dropped. A process killed with SIGKILL (or a power loss) leaves
//! the records, so `dhcpnet leases` shows them, `dhcpnet release` frees
//! them and the daemon resolves them at start (`resolve`).
//!
//! An intent whose process is alive is that process's to resolve: nothing
//! else releases it (`in_flight`), and the acquirer records the ACK only if
//! its intent is still there (`acquire::record`), else it gives the address
//! back. Within one process (the daemon's plugin) the intents in flight are
//! known by key; across processes by the live pid.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicI32;
use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::Ledger;
use crate::dhcp::client::Bound;
use crate::dhcp::transport::{self, Intents, Requested};
use crate::error::Result;
use crate::lease::{self, Lease, Status};
use crate::net::iface::Interface;
use crate::store::Store;

/// The keys of the acquisitions running in this process (how many for
/// each: the plugin may run two for one key at once).
static IN_FLIGHT: Mutex<BTreeMap<lease::LeaseKey, usize>> = Mutex::new(BTreeMap::new());

/// Whether the `requesting` record `l` belongs to an acquisition still
/// running: in a live dhcpnet process, or in this one (by key: a pid of a
/// dead process may come back as this one's after a reboot).
pub fn in_flight(l: &Lease) -> bool {
    if l.status != Status::Requesting {
        return false;
    }
    match l.pid {
        Some(p) if p == std::process::id() => IN_FLIGHT
            .lock()
            .map(|s| s.contains_key(&l.key()))
            .unwrap_or(true),
        Some(p) => alive(p),
        None => false,
    }
}

/// Holds this process's intents of one acquisition as in flight until
/// dropped.
pub struct InFlight {
    keys: Vec<lease::LeaseKey>,
}

impl InFlight {
    pub fn new(keys: &[lease::LeaseKey]) -> InFlight {
        if let Ok(mut s) = IN_FLIGHT.lock() {
            for k in keys {
                *s.entry(k.clone()).or_default() += 1;
            }
        }
        InFlight {
            keys: keys.to_vec(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut s) = IN_FLIGHT.lock() {
            for k in &self.keys {
                if let Some(n) = s.get_mut(k) {
                    *n -= 1;
                    if *n == 0 {
                        s.remove(k);
                    }
                }
            }
        }
    }
}

/// Writes the intents of one acquisition on one interface.
pub struct IntentLog {
    pub store: Store,
    pub interface: String,
    pub network: Option<String>,
    /// The first write that failed (the REQUESTs were not sent): the
    /// acquisition's error.
    pub failed: std::sync::Mutex<Option<crate::error::Error>>,
}

impl IntentLog {
    pub fn new(store: Store, interface: String, network: Option<String>) -> IntentLog {
        IntentLog {
            store,
            interface,
            network,
            failed: std::sync::Mutex::new(None),
        }
    }

    /// The error of the first failed write, once.
    pub fn take_failure(&self) -> Option<crate::error::Error> {
        self.failed.lock().ok()?.take()
    }
}

impl Intents for IntentLog {
    fn requesting(&self, batch: &[Requested]) -> Result<()> {
        self.write(batch).map_err(|e| {
            let msg = e.to_string();
            if let Ok(mut f) = self.failed.lock() {
                f.get_or_insert(e);
            }
            crate::error::Error::Other(msg)
        })
    }
}

impl IntentLog {
    fn write(&self, batch: &[Requested]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let me = std::process::id();
        let keys: Vec<lease::LeaseKey> = batch
            .iter()
            .map(|r| lease::LeaseKey::of(&self.interface, &r.id))
            .collect();
        let lock = self.store.lock()?;
        lease::update_keys(&self.store, &lock, &keys, |all| {
            for (r, key) in batch.iter().zip(&keys) {
                // A lease already recorded for this client covers what the
                // server holds for it; the ACK replaces it.
                if all.iter().any(|o| o.has_key(key) && o.status.is_held()) {
                    continue;
                }
                all.retain(|o| !o.has_key(key));
                let b = Bound {
                    params: r.offer.clone(),
                    server_mac: r.server_mac,
                    server_hostname: None,
                    warnings: vec![],
                    requested_at: Some(r.at),
                };
                let mut l =
                    Lease::from_bound(&b, &r.id, &self.interface, self.network.as_deref(), now);
                l.status = Status::Requesting;
                l.pid = Some(me);
                all.push(l);
            }
            Ok(())
        })
    }
}

/// SIGINT and SIGTERM, as a stop for `transport::Options::stop`, and which
/// of them came (0: none yet). Once installed, the signals no longer end
/// the process: the caller ends it after recording what it must.
pub struct Signals {
    pub stop: tokio::sync::watch::Receiver<bool>,
    pub got: Arc<AtomicI32>,
}

/// Whether process `pid` is a live dhcpnet (other than this one).
fn alive(pid: u32) -> bool {
    pid != std::process::id()
        && std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim_end() == "dhcpnet")
}

/// This process's intents on `interface` for `macs` that did not become
/// leases: DHCPRELEASE each (the server may have ACKed after the exchange
/// stopped listening; a RELEASE for what it does not hold is ignored) and
/// drop the records of those sent. Returns the released records.
pub async fn settle(
    ledger: &Ledger,
    iface: &Interface,
    keys: &[lease::LeaseKey],
) -> Result<Vec<Lease>> {
    let me = std::process::id();
    // Only this run's records are read: the cost does not grow with the
    // number of leases recorded.
    let mut left: Vec<Lease> = Vec::new();
    for k in keys {
        if let Some(l) = lease::get(&ledger.store, k)?
            && l.status == Status::Requesting
            && l.pid == Some(me)
            && l.interface == iface.name
        {
            left.push(l);
        }
    }
    release_and_drop(ledger, Some(iface), left).await
}

/// RELEASE `left` (on `iface`, or each on its own interface) and drop the
/// records of those sent, if they are still the same records.
async fn release_and_drop(
    ledger: &Ledger,
    iface: Option<&Interface>,
    left: Vec<Lease>,
) -> Result<Vec<Lease>> {
    if left.is_empty() {
        return Ok(left);
    }
    let mut by_iface: BTreeMap<String, Vec<Lease>> = BTreeMap::new();
    for l in left {
        by_iface.entry(l.interface.clone()).or_default().push(l);
    }
    let mut sent = Vec::new();
    for (name, leases) in by_iface {
        let i = match iface.filter(|i| i.name == name) {
            Some(i) => Ok(i.clone()),
            None => Interface::lookup(&name),
        };
        let each = match i {
            Ok(i) => {
                transport::release(
                    &i,
                    &leases.iter().map(Lease::release_of).collect::<Vec<_>>(),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match each {
            Ok(each) => {
                for (l, e) in leases.into_iter().zip(each) {
                    match e {
                        None => sent.push(l),
                        Some(e) => log::error!(
                            "cannot release {} ({}) on {name}: {e}; its record stays `{}`",
                            l.ip,
                            l.mac,
                            if l.status == Status::Releasing {
                                "releasing"
                            } else {
                                "requesting"
                            }
                        ),
                    }
                }
            }
            Err(e) => log::error!(
                "cannot release {} requested or releasing address(es) on {name}: {e}; their records stay",
                leases.len()
            ),
        }
    }
    let keys: Vec<lease::LeaseKey> = sent.iter().map(Lease::key).collect();
    let lock = ledger.store.lock()?;
    lease::update_keys(&ledger.store, &lock, &keys, |all| {
        all.retain(|o| {
            !sent
                .iter()
                .any(|s| s.key() == o.key() && s.ip == o.ip && s.status == o.status)
        });
        Ok(())
    })?;
    Ok(sent)
}

/// At daemon start (and in `release`): finish what a dead process left:
/// `requesting` records (the server may hold them; nobody uses them) and
/// `releasing` ones are released and dropped. Records of a live dhcpnet
/// are left to it.
pub async fn resolve(ledger: &Ledger) -> Result<Vec<Lease>> {
    let left: Vec<Lease> = lease::load(&ledger.store)?
        .into_iter()
        .filter(|l| match l.status {
            Status::Requesting => !l.pid.is_some_and(alive),
            Status::Releasing => true,
            _ => false,
        })
        .collect();
    for l in &left {
        log::info!(
            "{} ({}): {} was left `{}` by a process that ended; releasing it",
            l.mac,
            l.interface,
            l.ip,
            if l.status == Status::Releasing {
                "releasing"
            } else {
                "requesting"
            }
        );
    }
    release_and_drop(ledger, None, left).await
}
