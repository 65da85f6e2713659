//! The lease record: what dhcpnet remembers about every address it holds,
//! and the table that keeps them (`leases.d/`, one file per lease, keyed by
//! `Lease::key`: interface, MAC and a client id other than the MAC's default).
//!
//! Field names are a public interface (JSON and YAML output); tests pin them.

use std::net::Ipv4Addr;
use std::sync::Arc;

use futures::future::BoxFuture;
use std::path::Path;

use chrono::{DateTime, Duration as ChronoDuration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::dhcp::client::Bound;
use crate::dhcp::message::{self, INFINITE, Identity, Route};
use crate::error::{Error, Result};
use crate::net::mac::Mac;
use crate::store::{Lock, Record, Store, check, check_records};

pub mod acquire;
pub mod intent;
pub mod place;
pub mod release;
pub mod renew;

pub use acquire::acquire;
pub use place::Place;
pub use release::{Unreachable, release_leases, release_leases_or};
pub use renew::give_back;

/// Told when the leases on an interface changed (acquired, released, renewed
/// or lost). The links layer keeps the host shim's routes in line through
/// it; the lease layer cannot call the shim itself, because the shim's own
/// address is a lease (links -> lease, never lease -> links).
pub trait LeasesChanged: Send + Sync {
    fn leases_changed<'a>(&'a self, store: &'a Store, interface: &'a str) -> BoxFuture<'a, ()>;
}

/// The lease layer's handle: the records, and who is told of changes.
#[derive(Clone)]
pub struct Ledger {
    pub store: Store,
    hook: Option<Arc<dyn LeasesChanged>>,
}

impl Ledger {
    pub fn new(store: Store) -> Ledger {
        Ledger { store, hook: None }
    }

    pub fn with_hook(mut self, hook: Arc<dyn LeasesChanged>) -> Ledger {
        self.hook = Some(hook);
        self
    }

    /// Say that the leases on `interface` changed. Never fails: what it
    /// keeps in line (routes) can be put right later (`dhcpnet restore`).
    pub async fn changed(&self, interface: &str) {
        if let Some(h) = &self.hook {
            h.leases_changed(&self.store, interface).await;
        }
    }
}

/// The table's directory in the state directory.
pub const DIR: &str = "leases.d";
/// What messages name as the leases' file: the table's directory.
pub const FILE: &str = DIR;
/// The single file older dhcpnet kept every lease in (converted at first
/// use, see `store::table`).
pub const LEGACY: &str = "leases.json";
/// How far past `obtained_at + lease_time` a recorded expiry may be (s).
const EXPIRY_SLACK: i64 = 86_400;
/// The longest list (dns, routes, search) a record may hold: far above
/// what dhcpnet keeps from a reply (`dhcp::reply::MAX_DNS` ...), so that a
/// record an older dhcpnet wrote still loads.
const MAX_LIST: usize = 255;
/// The longest domain or search domain a record may hold (bytes).
const MAX_NAME: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The server acknowledged the lease and it has not expired.
    #[default]
    Bound,
    /// The server refused to extend it (NAK): the address is no longer ours.
    Lost,
    /// An intent: a DHCPREQUEST for this offered address is (or was) on
    /// its way, and the server may hold it. Written (fsynced) before the
    /// REQUEST goes out; turned into `bound` on the ACK, dropped on a NAK
    /// or after a RELEASE. One left by a process that died is released by
    /// the next `release` or by the daemon at start (`lease::intent`).
    Requesting,
    /// A DHCPRELEASE for it is (or was) on its way; the record goes when it
    /// is sent. One left by a process that died is released again (which
    /// is harmless) by the next `release` or by the daemon at start.
    Releasing,
    /// Never stored: what every output shows for a `bound` record past its
    /// expiry (a stored one loads as `bound`).
    Expired,
    /// Never stored: what every output shows for a `bound` record whose
    /// address changed while a container still uses the old one
    /// (`in_use_ip`).
    Moved,
    /// Never stored: what every output shows for a `bound` record the
    /// engine gave back at its container's stop (IPAM plugin,
    /// `kept_since`): kept and renewed for the container's next start,
    /// released when the container is removed.
    Kept,
}

impl Status {
    /// Whether the record is a lease dhcpnet holds (or lost and asks back),
    /// as opposed to an intent or a release on its way.
    pub fn is_held(self) -> bool {
        matches!(self, Status::Bound | Status::Lost)
    }
}

/// What identifies a lease: one record per interface, MAC and client id.
///
/// A server tells clients apart by option 61 when it is sent (RFC 2131
/// §4.2), so leases that share a MAC (ipvlan, `lease --client-id`) are
/// distinct clients. The client id is part of the key only when it is not
/// a hardware address (type 1 + 6 octets: the MAC's own id, or the id of
/// an earlier MAC that the IPAM plugin carries over to a restarted
/// container's new endpoint): those records keep the key and the file name
/// they always had, and are the container's by their MAC.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseKey {
    pub interface: String,
    pub mac: Mac,
    /// The client id as recorded (`00:64:...`, normalised), when it is not
    /// a hardware address.
    pub client_id: Option<String>,
}

impl LeaseKey {
    /// The key of the lease `id` holds (or will hold) on `interface`.
    pub fn of(interface: &str, id: &Identity) -> LeaseKey {
        LeaseKey {
            interface: interface.to_string(),
            mac: id.mac,
            client_id: (!is_hardware_id(&id.client_id))
                .then(|| message::format_client_id(&id.client_id)),
        }
    }
}

/// Whether option 61 holds an Ethernet address (type 1 + 6 octets).
fn is_hardware_id(id: &[u8]) -> bool {
    id.len() == 7 && id[0] == 1
}

impl std::fmt::Display for LeaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.mac, self.interface)?;
        if let Some(c) = &self.client_id {
            write!(f, " (client id {c})")?;
        }
        Ok(())
    }
}

/// A container as Docker knows it: its full id and, when known, its name.
#[derive(Debug, Clone, Copy)]
pub struct ContainerRef<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The network address, as "10.77.0.0/24" (`check` holds it to that).
    pub subnet: ipnet::Ipv4Net,
    pub mac: Mac,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    #[serde(default)]
    pub search: Vec<String>,
    pub server_id: Ipv4Addr,
    #[serde(default)]
    pub server_mac: Option<Mac>,
    /// Seconds; null for an infinite lease.
    pub lease_time: Option<u32>,
    pub renewal_time: Option<u32>,
    pub rebinding_time: Option<u32>,
    pub obtained_at: DateTime<Utc>,
    /// Null for an infinite lease.
    pub expires_at: Option<DateTime<Utc>>,
    pub hostname: Option<String>,
    pub client_id: String,
    pub interface: String,
    pub network: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub mtu: Option<u16>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub status: Status,
    /// The address a container still uses when the server moved the lease
    /// to `ip` (status shown as `moved`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_use_ip: Option<Ipv4Addr>,
    /// For a `requesting` record: the process that sent the REQUEST (while
    /// it lives, nobody else resolves the intent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When the engine gave the address back at the container's stop (IPAM
    /// plugin): the lease is kept for the container's next start. Stored,
    /// so that a daemon restart (a host reboot) does not forget it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_since: Option<DateTime<Utc>>,
    /// The container was given this MAC (`--mac-address`; noted by the
    /// event follower from `docker inspect`): it comes back with it, so its
    /// kept lease is its own and never handed to another endpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mac_fixed: bool,
}

fn finite(v: u32) -> Option<u32> {
    (v != INFINITE).then_some(v)
}

impl Lease {
    /// The record's key: its interface, MAC and (when not the MAC's
    /// default) client id.
    pub fn key(&self) -> LeaseKey {
        match message::parse_client_id(&self.client_id) {
            Ok(_) => LeaseKey::of(&self.interface, &self.identity()),
            // Refused by `check`; kept apart from every valid key.
            Err(_) => LeaseKey {
                interface: self.interface.clone(),
                mac: self.mac,
                client_id: Some(self.client_id.clone()),
            },
        }
    }

    /// Whether this is the record of `key`.
    pub fn has_key(&self, key: &LeaseKey) -> bool {
        self.key() == *key
    }

    /// Whether this is the record of `mac` on `interface` (its key, given
    /// by parts).
    pub fn is_of(&self, mac: Mac, interface: &str) -> bool {
        self.mac == mac && self.interface == interface
    }

    /// The container the record is held for, if any (an empty field is
    /// none).
    pub fn container(&self) -> Option<&str> {
        self.container.as_deref().filter(|c| !c.is_empty())
    }

    /// Whether the record is held for container `c`: its `container` field
    /// is `c`'s full id, a short id of 12 or more characters, or its name.
    pub fn belongs_to(&self, c: &ContainerRef) -> bool {
        match self.container() {
            None => false,
            Some(r) => r == c.id || (r.len() >= 12 && c.id.starts_with(r)) || c.name == Some(r),
        }
    }

    /// Whether `other` has this record's key (another version of the same
    /// record).
    pub fn same_key(&self, other: &Lease) -> bool {
        self.key() == other.key()
    }

    /// A record for what the server acknowledged at `now`.
    pub fn from_bound(
        b: &Bound,
        id: &Identity,
        interface: &str,
        network: Option<&str>,
        now: DateTime<Utc>,
    ) -> Lease {
        let p = &b.params;
        // The lease runs from when the REQUEST went out (RFC 2131 §4.4.1),
        // which may be up to a batch's timeout before `now`.
        let now = b
            .requested_at
            .map(DateTime::<Utc>::from)
            .filter(|t| *t <= now)
            .unwrap_or(now)
            .trunc_subsecs(0);
        Lease {
            ip: p.ip,
            prefix_len: p.prefix_len,
            subnet: message::subnet_of(p.ip, p.prefix_len),
            mac: id.mac,
            gateway: p.gateway,
            dns: p.dns.clone(),
            domain: p.domain.clone(),
            search: p.search.clone(),
            server_id: p.server_id,
            server_mac: Some(b.server_mac),
            lease_time: finite(p.lease_time),
            renewal_time: finite(p.renewal_time),
            rebinding_time: finite(p.rebinding_time),
            obtained_at: now,
            expires_at: finite(p.lease_time).map(|t| now + ChronoDuration::seconds(t as i64)),
            hostname: id.hostname.clone(),
            client_id: message::format_client_id(&id.client_id),
            interface: interface.to_string(),
            network: network.map(str::to_string),
            container: None,
            mtu: p.mtu,
            routes: p.routes.clone(),
            status: Status::Bound,
            in_use_ip: None,
            pid: None,
            kept_since: None,
            mac_fixed: false,
        }
    }

    /// Fold in a renewal's ACK, keeping who the lease belongs to.
    pub fn renewed(&self, b: &Bound, now: DateTime<Utc>) -> Lease {
        let id = self.identity();
        let mut l = Lease::from_bound(b, &id, &self.interface, self.network.as_deref(), now);
        l.container = self.container.clone();
        l.kept_since = self.kept_since;
        l.mac_fixed = self.mac_fixed;
        // A container pinned to the old address keeps using it: remember
        // which, until the lease comes back to it or the container goes.
        l.in_use_ip = self
            .in_use_ip
            .or((self.container.is_some() && self.ip != l.ip).then_some(self.ip))
            .filter(|a| *a != l.ip);
        l
    }

    /// The identity to use on the wire for this lease: same MAC, same option
    /// 61, same hostname, or the server would see another client.
    pub fn identity(&self) -> Identity {
        let mut id = Identity::new(self.mac);
        if let Ok(cid) = message::parse_client_id(&self.client_id) {
            id.client_id = cid;
        }
        id.hostname = self.hostname.clone();
        id
    }

    /// What a DHCPRELEASE of this lease needs.
    pub fn release_of(&self) -> crate::dhcp::transport::ReleaseOf {
        crate::dhcp::transport::ReleaseOf {
            id: self.identity(),
            ip: self.ip,
            server_id: self.server_id,
            server_mac: self.server_mac,
        }
    }

    /// Seconds until expiry (negative once expired); None when infinite.
    /// Never overflows, whatever the two instants (chrono's whole range
    /// fits in an i64 of seconds).
    pub fn seconds_left(&self, now: DateTime<Utc>) -> Option<i64> {
        self.expires_at
            .map(|e| e.signed_duration_since(now).num_seconds())
    }

    /// The instant `secs` seconds after the lease was obtained (T1, T2),
    /// or None past chrono's range.
    pub fn after_obtained(&self, secs: u32) -> Option<DateTime<Utc>> {
        self.obtained_at
            .checked_add_signed(ChronoDuration::seconds(i64::from(secs)))
    }

    /// Whether the record is one dhcpnet could have written: dates within
    /// `check::YEARS` (so that the schedule's arithmetic cannot overflow),
    /// expiry not before it was obtained nor past its lease time, a subnet
    /// that holds the address, a unicast MAC, a valid client id and
    /// interface name, text without control characters. Returns why not.
    pub fn check(&self) -> std::result::Result<(), String> {
        check::host_ip("ip", self.ip)?;
        if self.prefix_len > 32 {
            return Err(format!("prefix_len {} is over 32", self.prefix_len));
        }
        if self.subnet != message::subnet_of(self.ip, self.prefix_len) {
            return Err(format!(
                "subnet {:?} is not the subnet of {}/{}",
                self.subnet.to_string(),
                self.ip,
                self.prefix_len
            ));
        }
        if self.mac.is_multicast() || self.mac.is_zero() {
            return Err(format!("mac {} is not a unicast address", self.mac));
        }
        check::date("obtained_at", &self.obtained_at)?;
        match (self.lease_time, self.expires_at) {
            (None, None) => {}
            (Some(t), Some(e)) => {
                check::date("expires_at", &e)?;
                let span = e.signed_duration_since(self.obtained_at).num_seconds();
                if span < 0 {
                    return Err(format!(
                        "expires_at {e} is before obtained_at {}",
                        self.obtained_at
                    ));
                }
                // Slack: obtained_at may be when the request went out and
                // expires_at counted from the answer.
                if span > i64::from(t) + EXPIRY_SLACK {
                    return Err(format!(
                        "expires_at {e} is {span} s after obtained_at, more than lease_time {t} s \
                         (+ {EXPIRY_SLACK} s)"
                    ));
                }
            }
            (Some(_), None) => return Err("lease_time is set but expires_at is null".into()),
            (None, Some(_)) => {
                return Err("expires_at is set but lease_time is null (infinite)".into());
            }
        }
        check::text("client_id", &self.client_id, 3 * 255)?;
        message::parse_client_id(&self.client_id).map_err(|e| format!("client_id: {e}"))?;
        check::ifname("interface", &self.interface)?;
        if let Some(h) = &self.hostname {
            check::text("hostname", h, 255)?;
        }
        if let Some(n) = &self.network {
            check::text("network", n, 255)?;
        }
        if let Some(c) = &self.container {
            check::text("container", c, 255)?;
        }
        if let Some(d) = &self.domain {
            check::text("domain", d, MAX_NAME)?;
        }
        for s in &self.search {
            check::text("search", s, MAX_NAME)?;
        }
        if self.dns.len() > MAX_LIST || self.routes.len() > MAX_LIST || self.search.len() > MAX_LIST
        {
            return Err(format!(
                "more than {MAX_LIST} dns, routes or search entries (dhcpnet keeps far fewer from a reply)"
            ));
        }
        Ok(())
    }

    /// Strip control characters from what the server said (domain, search
    /// list): an older dhcpnet stored them as received. Returns whether
    /// anything changed.
    fn clean_server_text(&mut self) -> bool {
        let clean = |s: &mut String| {
            if s.chars().any(char::is_control) {
                s.retain(|c| !c.is_control());
                true
            } else {
                false
            }
        };
        let mut changed = self.domain.as_mut().is_some_and(clean);
        for s in &mut self.search {
            changed |= clean(s);
        }
        self.search.retain(|s| !s.is_empty());
        changed
    }

    /// Cut what a server sent past what a record may hold (`check`) to
    /// what dhcpnet keeps from a reply (`dhcp::reply::MAX_DNS` ...): an
    /// older dhcpnet recorded lists as long as a reply carried, and one
    /// forged reply then made the record unreadable. What was cut, in a
    /// few words each.
    fn trim_server_lists(&mut self) -> Vec<String> {
        use crate::dhcp::reply::{MAX_DNS, MAX_ROUTES, MAX_SEARCH};
        let mut done = Vec::new();
        let mut cut = |what: &str, len: usize, max: usize| -> bool {
            if len > MAX_LIST {
                done.push(format!("{len} {what} cut to the first {max}"));
                true
            } else {
                false
            }
        };
        if cut("DNS servers", self.dns.len(), MAX_DNS) {
            self.dns.truncate(MAX_DNS);
        }
        if cut("routes", self.routes.len(), MAX_ROUTES) {
            self.routes.truncate(MAX_ROUTES);
        }
        if cut("search domains", self.search.len(), MAX_SEARCH) {
            self.search.truncate(MAX_SEARCH);
        }
        let before = self.search.len();
        self.search.retain(|s| s.len() <= MAX_NAME);
        if self.search.len() < before {
            done.push(format!(
                "{} search domain(s) over {MAX_NAME} bytes left out",
                before - self.search.len()
            ));
        }
        if self.domain.as_ref().is_some_and(|d| d.len() > MAX_NAME) {
            self.domain = None;
            done.push(format!("a domain over {MAX_NAME} bytes left out"));
        }
        done
    }

    /// How an error message names the record (quoted, never raw).
    pub fn label(&self) -> String {
        format!(
            "ip {}, mac {}, interface {:?}",
            self.ip, self.mac, self.interface
        )
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.seconds_left(now).is_some_and(|s| s <= 0)
    }

    /// The status every output shows at `now`: the stored one, except that
    /// a `bound` record past its expiry shows `expired`, and one whose
    /// container still uses another address shows `moved`.
    pub fn shown_status(&self, now: DateTime<Utc>) -> Status {
        match self.status {
            Status::Bound if self.is_expired(now) => Status::Expired,
            Status::Bound if self.in_use_ip.is_some_and(|a| a != self.ip) => Status::Moved,
            Status::Bound if self.kept_since.is_some() => Status::Kept,
            s => s,
        }
    }
}

/// The old single file's layout (`leases.json`).
#[derive(Debug, Serialize, Deserialize)]
struct LeaseFile {
    version: u32,
    leases: Vec<Lease>,
}

impl Record for Lease {
    type Key = LeaseKey;
    const DIR: &'static str = DIR;
    const LEGACY: &'static str = LEGACY;

    fn key(&self) -> LeaseKey {
        Lease::key(self)
    }

    fn stem(key: &LeaseKey) -> String {
        let mac = key.mac.to_string().replace(':', "-");
        let stem = format!("{}@{mac}", crate::store::table::file_safe(&key.interface));
        match &key.client_id {
            // `@` cannot come from `file_safe`: no other key has this name.
            // A long id is cut and hashed by the table (`bounded`).
            Some(c) => format!(
                "{stem}@{}",
                crate::store::table::file_safe(&c.replace(':', ""))
            ),
            None => stem,
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        Lease::check(self)
    }

    fn label(&self) -> String {
        Lease::label(self)
    }

    const SET_ASIDE: &'static str = "dhcpnet no longer renews or releases that lease: the DHCP \
         server frees its address when it expires. It was not released, since a container may \
         still use the address and a damaged file may name another client's lease; to keep the \
         lease, repair the file and move it back into leases.d/ before it expires, else remove it";

    fn repair(&mut self) -> Vec<String> {
        // Display-only statuses are never meant to be stored.
        if matches!(self.status, Status::Expired | Status::Moved | Status::Kept) {
            self.status = Status::Bound;
        }
        let mut done = Vec::new();
        if self.clean_server_text() {
            done.push("control characters in its domain or search list were left out".into());
        }
        done.extend(self.trim_server_lists());
        done
    }

    fn parse_legacy(path: &Path, bytes: &[u8]) -> Result<Vec<Lease>> {
        parse(path, bytes)
    }
}

/// Every recorded lease (in key order). No lock needed. A record file
/// that cannot be used is skipped (and set aside, see `store::table`).
pub fn load(store: &Store) -> Result<Vec<Lease>> {
    store.table::<Lease>().list()
}

/// `load`, and every lease record file set aside or skipped (each once).
pub fn load_noting(store: &Store) -> Result<(Vec<Lease>, Vec<crate::store::table::SetAside>)> {
    let t = store.table::<Lease>();
    let (leases, mut aside) = t.list_noting()?;
    aside.extend(t.set_aside()?);
    Ok((leases, aside))
}

/// The records of a `leases.json` of these bytes (the format older dhcpnet
/// wrote; `path` names it in errors), each checked (`Lease::check`).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Lease>> {
    checked(path, crate::store::decode::<LeaseFile>(path, bytes)?)
}

fn checked(path: &Path, file: LeaseFile) -> Result<Vec<Lease>> {
    let mut leases = file.leases;
    for l in &mut leases {
        let repairs = l.repair();
        if !repairs.is_empty() {
            log::warn!(
                "{}: the lease {} was repaired: {}",
                path.display(),
                l.label(),
                repairs.join("; ")
            );
        }
    }
    check_records(path, &leases, Lease::check, Lease::label)?;
    Ok(leases)
}

/// Make the records exactly `leases`: writes only the records that changed,
/// removes the ones that are gone. Call with the lock held.
pub fn save(store: &Store, lock: &Lock, leases: Vec<Lease>) -> Result<()> {
    store.table::<Lease>().save(lock, leases)
}

/// Lock, load, change, save (only what changed). `f` decides; nothing is
/// written if it fails.
pub fn update<R>(store: &Store, f: impl FnOnce(&mut Vec<Lease>) -> Result<R>) -> Result<R> {
    store.table::<Lease>().update(f)
}

/// The lease of `key`, if recorded. No lock needed; reads one file.
pub fn get(store: &Store, key: &LeaseKey) -> Result<Option<Lease>> {
    store.table::<Lease>().get(key)
}

/// Record `lease`, replacing the record of its key. Call with the lock
/// held; writes one file.
pub fn put(store: &Store, lock: &Lock, lease: &Lease) -> Result<()> {
    store.table::<Lease>().put(lock, lease)
}

/// Record `leases` (each replacing the record of its key) in one durable
/// write. Call with the lock held.
pub fn put_all(store: &Store, lock: &Lock, leases: &[Lease]) -> Result<()> {
    store.table::<Lease>().put_many(lock, leases)
}

/// `update` over the records of `keys` only: reads and writes those files
/// whatever the number of leases. Call with the lock held.
pub fn update_keys<R>(
    store: &Store,
    lock: &Lock,
    keys: &[LeaseKey],
    f: impl FnOnce(&mut Vec<Lease>) -> Result<R>,
) -> Result<R> {
    store.table::<Lease>().update_keys(lock, keys, f)
}

/// `apply_renewals` on the recorded leases the results are about, reading
/// and writing only those: what `update(store, |all| apply_renewals(all,
/// results))` does, at a cost that does not grow with the number of
/// leases. Call with the lock held. Returns the bindings to give back.
pub fn record_renewals(store: &Store, lock: &Lock, results: Vec<Renewal>) -> Result<Vec<Lease>> {
    let mut keys: Vec<LeaseKey> = results
        .iter()
        .flat_map(|r| [r.was.key(), r.new.key()])
        .collect();
    keys.sort();
    keys.dedup();
    update_keys(store, lock, &keys, |some| Ok(apply_renewals(some, results)))
}

/// Forget the lease of `key`; whether there was one. Call with the lock
/// held; removes one file.
pub fn remove(store: &Store, lock: &Lock, key: &LeaseKey) -> Result<bool> {
    store.table::<Lease>().remove(lock, key)
}

/// Whether the record `now` is still the lease `was`: the same grant
/// (`obtained_at`, address, server) in the same state. A renewal, a loss or
/// a new lease for the MAC since changes one of them.
pub fn same_lease(now: &Lease, was: &Lease) -> bool {
    now.obtained_at == was.obtained_at
        && now.ip == was.ip
        && now.server_id == was.server_id
        && now.status == was.status
}

/// What an exchange made of a recorded lease: `was` is the record as it
/// stood before the exchange, `new` the record the server's answer makes.
#[derive(Debug, Clone)]
pub struct Renewal {
    pub was: Lease,
    pub new: Lease,
}

/// Fold exchange results into the records (call with the lock held). A
/// result replaces its record only while that record is still `was`
/// (`same_lease`): a lease released meanwhile stays released, and a newer
/// record (renewed, re-leased, lost) is not overwritten. The container and
/// hostname recorded meanwhile are kept.
///
/// Returns the addresses an exchange bound that no record reflects (its
/// record went away, or now holds another address): the caller must give
/// them back (DHCPRELEASE), or the server holds them for nobody.
pub fn apply_renewals(all: &mut [Lease], results: Vec<Renewal>) -> Vec<Lease> {
    let mut stale = Vec::new();
    for Renewal { was, mut new } in results {
        // What would fail to load is never written: the record stays as it
        // was (the server holds the lease at least that long), and is
        // renewed again when it falls due.
        if let Err(why) = new.check() {
            log::error!(
                "the server's answer for {} makes a record that fails its checks ({why}); the \
                 record is kept as it was",
                was.label()
            );
            continue;
        }
        let key = was.key();
        match all.iter_mut().find(|o| o.has_key(&key)) {
            Some(slot) if same_lease(slot, &was) => {
                new.container = slot.container.take().or(new.container);
                new.hostname = slot.hostname.take().or(new.hostname);
                *slot = new;
            }
            _ => {
                let key = new.key();
                let reflected = all.iter().any(|o| o.has_key(&key) && o.ip == new.ip);
                if new.status == Status::Bound && !reflected {
                    stale.push(new);
                }
            }
        }
    }
    stale
}

/// For each of `granted`, the lease of another client id on the same MAC
/// and interface that holds the same address (recorded in `existing`, or
/// earlier in `granted`), if any: the server ignored option 61 and keys
/// its leases on the MAC alone, so the two are one lease at the server.
/// Only leases with a client id of their own (shared MAC) can collide.
pub fn same_address_elsewhere(existing: &[Lease], granted: &[Lease]) -> Vec<Option<Lease>> {
    let mut out = Vec::with_capacity(granted.len());
    for (i, g) in granted.iter().enumerate() {
        let key = g.key();
        let other = (key.client_id.is_some())
            .then(|| {
                existing
                    .iter()
                    .filter(|o| o.status.is_held())
                    .chain(granted[..i].iter())
                    .find(|o| {
                        o.ip == g.ip
                            && o.mac == g.mac
                            && o.interface == g.interface
                            && o.key() != key
                    })
                    .cloned()
            })
            .flatten();
        out.push(other);
    }
    out
}

/// Which recorded leases a command means.
#[derive(Debug, Clone)]
pub enum Selector {
    Mac(Mac),
    Ip(Ipv4Addr),
    All,
}

impl Selector {
    pub fn matches(&self, l: &Lease) -> bool {
        match self {
            Selector::Mac(m) => l.mac == *m,
            Selector::Ip(ip) => l.ip == *ip,
            Selector::All => true,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Selector::Mac(m) => format!("MAC {m}"),
            Selector::Ip(ip) => format!("address {ip}"),
            Selector::All => "any lease".into(),
        }
    }
}

/// Leases matching a selector within a scope (interface and/or network);
/// an empty result is a NotFound error that says what was searched.
pub fn select<'a>(
    leases: &'a [Lease],
    sel: &Selector,
    interface: Option<&str>,
    network: Option<&str>,
) -> Result<Vec<&'a Lease>> {
    let found: Vec<&Lease> = leases
        .iter()
        .filter(|l| sel.matches(l))
        .filter(|l| interface.is_none_or(|i| l.interface == i))
        .filter(|l| network.is_none_or(|n| l.network.as_deref() == Some(n)))
        .collect();
    if found.is_empty() && !matches!(sel, Selector::All) {
        let scope = match (interface, network) {
            (_, Some(n)) => format!(" on network {n}"),
            (Some(i), None) => format!(" on interface {i}"),
            _ => String::new(),
        };
        return Err(Error::NotFound(format!(
            "dhcpnet holds no lease for {}{scope}; `dhcpnet leases` lists the ones it holds",
            sel.describe()
        )));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(mac_last: u8, ip_last: u8, obtained: &str) -> Lease {
        serde_json::from_value(serde_json::json!({
            "ip": format!("10.0.0.{ip_last}"), "prefix_len": 24, "subnet": "10.0.0.0/24",
            "mac": format!("02:00:00:00:00:{mac_last:02x}"), "gateway": null, "dns": [], "domain": null,
            "server_id": "10.0.0.1", "lease_time": 100, "renewal_time": 50, "rebinding_time": 87,
            "obtained_at": obtained, "expires_at": "2026-01-01T01:00:00Z", "hostname": null,
            "client_id": "01:02:00:00:00:00:05", "interface": "eth0", "network": null
        }))
        .expect("a valid record")
    }

    fn json(leases: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"version": 1, "leases": leases})).unwrap()
    }

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut v = serde_json::to_value(rec(5, 5, T0)).unwrap();
        v[field] = value;
        v
    }

    #[test]
    fn subnets_and_route_destinations_load_and_save_as_the_text_they_were_written_as() {
        let mut v = with(
            "routes",
            serde_json::json!([
                {"destination": "10.1.0.0/16", "gateway": "10.0.0.1"},
                {"destination": "0.0.0.0/0", "gateway": "10.0.0.1"}
            ]),
        );
        v["subnet"] = "10.0.0.0/24".into();
        let l: Lease = serde_json::from_value(v.clone()).unwrap();
        assert!(l.check().is_ok(), "{:?}", l.check());
        assert_eq!(serde_json::to_value(&l).unwrap(), v);
        let mut host_bits = v.clone();
        host_bits["subnet"] = "10.0.0.5/24".into();
        let l: Lease = serde_json::from_value(host_bits).unwrap();
        assert!(
            l.check().is_err(),
            "a subnet with host bits is still refused"
        );
    }

    #[test]
    fn the_records_dhcpnet_writes_pass_their_checks_and_load_back() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let mut infinite = rec(6, 6, T0);
        (infinite.lease_time, infinite.expires_at) = (None, None);
        let all = vec![rec(5, 5, T0), infinite];
        save(&s, &s.lock().unwrap(), all.clone()).unwrap();
        assert_eq!(load(&s).unwrap(), all);
    }

    #[test]
    fn an_extreme_date_in_leases_json_is_exit_7_naming_the_file_and_the_record_and_the_file_is_kept()
     {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let bytes = json(serde_json::json!([
            rec(6, 6, T0),
            with("obtained_at", "+262000-01-01T00:00:00Z".into())
        ]));
        std::fs::write(s.path(LEGACY), &bytes).unwrap();
        let e = load(&s).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::ExitCode::State);
        let msg = e.to_string();
        for part in [
            "leases.json",
            "record 2 of 2",
            "10.0.0.5",
            "obtained_at",
            "262000",
        ] {
            assert!(msg.contains(part), "{part}: {msg}");
        }
        assert_eq!(
            std::fs::read(s.path(LEGACY)).unwrap(),
            bytes,
            "kept as it is"
        );
    }

    #[test]
    fn records_that_dhcpnet_could_not_have_written_are_refused_with_the_reason() {
        let cases = [
            with("obtained_at", "+262142-12-31T23:59:59Z".into()),
            with("obtained_at", "1900-01-01T00:00:00Z".into()),
            with("expires_at", "-262000-01-01T00:00:00Z".into()),
            with("expires_at", "2025-12-31T00:00:00Z".into()),
            with("expires_at", "2026-01-02T00:01:41Z".into()),
            with("expires_at", serde_json::Value::Null),
            with("lease_time", serde_json::Value::Null),
            with("prefix_len", 33.into()),
            with("prefix_len", 16.into()),
            with("subnet", "10.0.0.0/99".into()),
            with("subnet", "10.9.0.0/24".into()),
            with("subnet", "banana".into()),
            with("ip", "255.255.255.255".into()),
            with("ip", "224.0.0.5".into()),
            with("ip", "0.0.0.0".into()),
            with("mac", "01:00:5e:00:00:01".into()),
            with("mac", "00:00:00:00:00:00".into()),
            with("interface", "a/b".into()),
            with("interface", "eth\u{0}".into()),
            with("interface", "".into()),
            with("interface", "sixteen-bytes-xx".into()),
            with("client_id", "".into()),
            with("hostname", "web\n1".into()),
            with("container", "x".repeat(300).into()),
            with(
                "routes",
                serde_json::json!([{"destination": "10.1.0.0/40", "gateway": "10.0.0.1"}]),
            ),
        ];
        for (i, c) in cases.into_iter().enumerate() {
            let bytes = json(serde_json::json!([c]));
            match parse(Path::new("leases.json"), &bytes) {
                Err(e @ Error::State { .. }) => assert!(
                    e.to_string().contains("record 1 of 1")
                        || e.to_string().contains("cannot parse"),
                    "case {i}: {e}"
                ),
                other => panic!("case {i} ({c}): {other:?}"),
            }
        }
    }

    #[test]
    fn control_characters_a_server_put_in_the_domain_are_left_out_on_load() {
        let mut v = with("domain", "ev\u{0}il\n.com\u{1b}[2J".into());
        v["search"] = serde_json::json!(["a.example", "\u{7}"]);
        let bytes = json(serde_json::json!([v]));
        let l = parse(Path::new("leases.json"), &bytes).unwrap();
        assert_eq!(l[0].domain.as_deref(), Some("evil.com[2J"));
        assert_eq!(l[0].search, vec!["a.example".to_string()]);
    }

    #[test]
    fn seconds_left_and_after_obtained_do_not_overflow_at_the_ends_of_time() {
        let mut l = rec(5, 5, T0);
        l.expires_at = Some(DateTime::<Utc>::MAX_UTC);
        assert!(l.seconds_left(DateTime::<Utc>::MIN_UTC).unwrap() > 0);
        l.obtained_at = DateTime::<Utc>::MAX_UTC;
        assert_eq!(l.after_obtained(u32::MAX), None);
        assert!(l.after_obtained(0).is_some());
    }

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:00:50Z";
    const T2: &str = "2026-01-01T00:00:55Z";

    #[test]
    fn a_lease_runs_from_when_its_request_was_sent_not_from_when_the_batch_ended() {
        let l = rec(5, 5, T0);
        let sent: DateTime<Utc> = "2026-01-01T00:00:10Z".parse().unwrap();
        let ended: DateTime<Utc> = "2026-01-01T00:00:40Z".parse().unwrap();
        let b = Bound {
            params: crate::dhcp::message::Params {
                ip: l.ip,
                server_id: l.server_id,
                netmask: Ipv4Addr::new(255, 255, 255, 0),
                prefix_len: 24,
                gateway: None,
                dns: vec![],
                domain: None,
                search: vec![],
                lease_time: 100,
                renewal_time: 50,
                rebinding_time: 87,
                mtu: None,
                broadcast: None,
                ntp: vec![],
                routes: vec![],
            },
            server_mac: Mac([2, 0, 0, 0, 0, 1]),
            server_hostname: None,
            warnings: vec![],
            requested_at: Some(sent.into()),
        };
        let n = Lease::from_bound(&b, &l.identity(), "eth0", None, ended);
        assert_eq!(
            (n.obtained_at, n.expires_at),
            (sent, Some(sent + ChronoDuration::seconds(100)))
        );
        let renewed = l.renewed(&b, ended);
        assert_eq!(renewed.obtained_at, sent);
    }

    #[test]
    fn a_renewal_replaces_the_record_it_started_from_keeping_container_and_hostname() {
        let was = rec(5, 5, T0);
        let mut all = vec![was.clone(), rec(6, 6, T0)];
        // Noted meanwhile by the event follower.
        all[0].container = Some("web".into());
        all[0].hostname = Some("web-1".into());
        let stale = apply_renewals(
            &mut all,
            vec![Renewal {
                was,
                new: rec(5, 5, T1),
            }],
        );
        assert!(stale.is_empty());
        assert_eq!(all[0].obtained_at, rec(5, 5, T1).obtained_at);
        assert_eq!(
            (all[0].container.as_deref(), all[0].hostname.as_deref()),
            (Some("web"), Some("web-1"))
        );
        assert_eq!(all[1], rec(6, 6, T0));
    }

    #[test]
    fn a_lease_released_during_the_exchange_stays_released_and_the_binding_is_given_back() {
        let was = rec(5, 5, T0);
        let mut all = vec![rec(6, 6, T0)];
        let stale = apply_renewals(
            &mut all,
            vec![Renewal {
                was: was.clone(),
                new: rec(5, 5, T1),
            }],
        );
        assert_eq!(all, vec![rec(6, 6, T0)], "no record came back");
        assert_eq!(stale, vec![rec(5, 5, T1)]);
        // A loss (NAK) of a released lease binds nothing: nothing to give back.
        let mut lost = rec(5, 5, T0);
        lost.status = Status::Lost;
        assert!(apply_renewals(&mut all, vec![Renewal { was, new: lost }]).is_empty());
        assert_eq!(all, vec![rec(6, 6, T0)]);
    }

    #[test]
    fn a_newer_record_is_not_overwritten() {
        let was = rec(5, 5, T0);
        // Re-leased meanwhile (`lease --mac`) at the same address: kept, and
        // nothing released (that would end the new lease at the server).
        let mut all = vec![rec(5, 5, T2)];
        assert!(
            apply_renewals(
                &mut all,
                vec![Renewal {
                    was: was.clone(),
                    new: rec(5, 5, T1)
                }]
            )
            .is_empty()
        );
        assert_eq!(all, vec![rec(5, 5, T2)]);
        // Re-leased at another address: kept, and the old one given back.
        let mut all = vec![rec(5, 7, T2)];
        assert_eq!(
            apply_renewals(
                &mut all,
                vec![Renewal {
                    was: was.clone(),
                    new: rec(5, 5, T1)
                }]
            ),
            vec![rec(5, 5, T1)]
        );
        assert_eq!(all, vec![rec(5, 7, T2)]);
        // Marked lost meanwhile: the same grant in another state is not it.
        let mut lost = rec(5, 5, T0);
        lost.status = Status::Lost;
        let mut all = vec![lost.clone()];
        assert!(
            apply_renewals(
                &mut all,
                vec![Renewal {
                    was,
                    new: rec(5, 5, T1)
                }]
            )
            .is_empty()
        );
        assert_eq!(all, vec![lost]);
    }

    #[test]
    fn keyed_put_get_and_remove_touch_one_file_named_by_interface_and_mac() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let (a, b) = (rec(5, 5, T0), rec(6, 6, T0));
        let lock = s.lock().unwrap();
        put(&s, &lock, &a).unwrap();
        put(&s, &lock, &b).unwrap();
        assert!(s.path("leases.d/eth0@02-00-00-00-00-05.json").exists());
        assert_eq!(get(&s, &a.key()).unwrap(), Some(a.clone()));
        let mut a2 = rec(5, 7, T1);
        a2.interface = "eth0".into();
        put(&s, &lock, &a2).unwrap();
        assert_eq!(load(&s).unwrap(), vec![a2.clone(), b.clone()]);
        assert!(remove(&s, &lock, &b.key()).unwrap());
        assert_eq!(get(&s, &b.key()).unwrap(), None);
        assert_eq!(load(&s).unwrap(), vec![a2]);
    }

    #[test]
    fn leases_sharing_a_mac_with_different_client_ids_are_distinct_records_in_distinct_files() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let lock = s.lock().unwrap();
        let default = rec(5, 5, T0);
        let mut web = rec(5, 6, T0);
        web.client_id = "00:64:68:63:70:6e:65:74:3a:6e:2f:77:65:62".into();
        let mut db = rec(5, 7, T0);
        db.client_id = "00:64:68:63:70:6e:65:74:3a:6e:2f:64:62".into();
        for l in [&default, &web, &db] {
            put(&s, &lock, l).unwrap();
        }
        assert_eq!(
            default.key().client_id,
            None,
            "the MAC's own id: no client id in the key"
        );
        // An earlier MAC's id (the IPAM plugin carries a restarted
        // container's lease over to its new endpoint) is a hardware
        // address too: the record is the MAC's, as it always was.
        let mut carried = rec(9, 9, T0);
        carried.client_id = "01:02:00:00:00:00:05".into();
        assert_eq!(carried.key().client_id, None);
        assert!(s.path("leases.d/eth0@02-00-00-00-00-05.json").exists());
        assert!(
            s.path("leases.d/eth0@02-00-00-00-00-05@00646863706e65743a6e2f776562.json")
                .exists()
        );
        assert_eq!(load(&s).unwrap().len(), 3);
        assert_eq!(get(&s, &web.key()).unwrap(), Some(web.clone()));
        assert!(remove(&s, &lock, &web.key()).unwrap());
        assert_eq!(load(&s).unwrap(), vec![default.clone(), db.clone()]);
        // The key of an identity is the key of the record it makes.
        assert_eq!(LeaseKey::of("eth0", &db.identity()), db.key());
        assert!(db.has_key(&db.key()) && !default.has_key(&db.key()));
        // A very long client id still makes a bounded, distinct file name.
        let mut long = rec(5, 8, T0);
        long.client_id = vec!["ab"; 255].join(":");
        put(&s, &lock, &long).unwrap();
        assert_eq!(get(&s, &long.key()).unwrap(), Some(long));
    }

    #[test]
    fn a_server_giving_two_client_ids_on_one_mac_the_same_address_is_caught() {
        let mut a = rec(5, 6, T0);
        a.client_id = "00:61".into();
        let mut b = rec(5, 6, T0);
        b.client_id = "00:62".into();
        let mut c = rec(5, 7, T0);
        c.client_id = "00:63".into();
        // Against a recorded lease, and within one batch.
        let found = same_address_elsewhere(std::slice::from_ref(&a), &[b.clone(), c.clone()]);
        assert_eq!(found, vec![Some(a.clone()), None]);
        let found = same_address_elsewhere(&[], &[a.clone(), b.clone()]);
        assert_eq!(found, vec![None, Some(a.clone())]);
        // The same client again (a re-lease) is no collision, nor is a
        // lease with the MAC's own id, nor another MAC.
        assert_eq!(
            same_address_elsewhere(std::slice::from_ref(&a), std::slice::from_ref(&a)),
            vec![None]
        );
        let own = rec(5, 6, T0);
        assert_eq!(
            same_address_elsewhere(std::slice::from_ref(&a), std::slice::from_ref(&own)),
            vec![None]
        );
        let mut other_mac = rec(9, 6, T0);
        other_mac.client_id = "00:64".into();
        assert_eq!(
            same_address_elsewhere(std::slice::from_ref(&a), &[other_mac]),
            vec![None]
        );
    }

    #[test]
    fn record_renewals_does_what_apply_renewals_in_an_update_does() {
        let mut lost = rec(5, 5, T0);
        lost.status = Status::Lost;
        let cases: Vec<(Vec<Lease>, Vec<Renewal>)> = vec![
            (
                vec![rec(5, 5, T0), rec(6, 6, T0), rec(7, 7, T0)],
                vec![Renewal {
                    was: rec(5, 5, T0),
                    new: rec(5, 5, T1),
                }],
            ),
            (
                vec![rec(6, 6, T0)],
                vec![Renewal {
                    was: rec(5, 5, T0),
                    new: rec(5, 5, T1),
                }],
            ),
            (
                vec![rec(5, 7, T2), rec(6, 6, T0)],
                vec![
                    Renewal {
                        was: rec(5, 5, T0),
                        new: rec(5, 5, T1),
                    },
                    Renewal {
                        was: rec(6, 6, T0),
                        new: rec(6, 6, T2),
                    },
                ],
            ),
            (
                vec![lost.clone()],
                vec![Renewal {
                    was: rec(5, 5, T0),
                    new: rec(5, 5, T1),
                }],
            ),
        ];
        for (i, (start, results)) in cases.into_iter().enumerate() {
            let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let (s1, s2) = (Store::new(d1.path()), Store::new(d2.path()));
            for s in [&s1, &s2] {
                save(s, &s.lock().unwrap(), start.clone()).unwrap();
            }
            let r = results.clone();
            let stale1 = update(&s1, |all| Ok(apply_renewals(all, r))).unwrap();
            let stale2 = record_renewals(&s2, &s2.lock().unwrap(), results).unwrap();
            assert_eq!(stale1, stale2, "case {i}");
            assert_eq!(load(&s1).unwrap(), load(&s2).unwrap(), "case {i}");
        }
    }
}
