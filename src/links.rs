//! Links dhcpnet owns: VLAN sub-interfaces and macvlan or ipvlan links (the
//! host shim),
//! their records (the table `links.d/`, one file per link name), and the rules that decide whether dhcpnet
//! may touch a link.
//!
//! A link is dhcpnet's when dhcpnet recorded it AND the live link still
//! matches the record (kind, parent, VID) AND carries dhcpnet's tag in
//! IFLA_IFALIAS. A link that carries the tag but has no record (the state
//! file was lost) is dhcpnet's too, when the tag matches the link. Anything
//! else (made by hand, by netplan, by Docker) is never deleted without
//! `--force`.
//!
//! The rules (`judge`, names, tags) are pure and unit-tested; the async
//! functions at the end drive `net::link`.

pub mod shim;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::net::iface::validate_name;
use crate::net::link::{self, LiveLink, Netlink};
use crate::net::mac::Mac;
use crate::store::{Lock, Record, Store, check, check_records};

/// The table's directory in the state directory.
pub const DIR: &str = "links.d";
/// What messages name as the links' file: the table's directory.
pub const FILE: &str = DIR;
/// The single file older dhcpnet kept every link in (converted at first
/// use, see `store::table`).
pub const LEGACY: &str = "links.json";
/// Every tag dhcpnet writes into IFLA_IFALIAS starts with this.
pub const TAG_PREFIX: &str = "dhcpnet-owned";
/// Linux IFNAMSIZ - 1.
pub const MAX_NAME: usize = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Vlan,
    Macvlan,
    /// An ipvlan L2 slave (the host shim of a parent with ipvlan containers).
    Ipvlan,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vlan => "vlan",
            Kind::Macvlan => "macvlan",
            Kind::Ipvlan => "ipvlan",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What dhcpnet remembers about a link it created. Field names are a public
/// interface (JSON/YAML output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub name: String,
    /// The index when dhcpnet last created it (changes after a reboot).
    pub ifindex: u32,
    pub kind: Kind,
    pub parent: String,
    /// VLAN ID (vlan links only).
    #[serde(default)]
    pub vid: Option<u16>,
    /// MAC address: a macvlan link's own; for an ipvlan link the parent's
    /// when it was made (the slave shares it, and its shim lease is
    /// keyed by it); none for VLANs.
    #[serde(default)]
    pub mac: Option<Mac>,
    /// macvlan mode ("bridge") or ipvlan mode ("l2").
    #[serde(default)]
    pub mode: Option<String>,
    /// True for a host shim (`dhcpnet shim add`).
    #[serde(default)]
    pub shim: bool,
    pub created_at: DateTime<Utc>,
}

impl LinkRecord {
    /// The IFLA_IFALIAS text that marks this link as dhcpnet's.
    pub fn tag(&self) -> String {
        tag(self.kind, &self.parent, self.vid)
    }

    pub fn describe(&self) -> String {
        match (self.kind, self.vid) {
            (Kind::Vlan, Some(v)) => format!("VLAN {v} on {}", self.parent),
            _ => format!("{} on {}", self.kind, self.parent),
        }
    }
}

pub fn tag(kind: Kind, parent: &str, vid: Option<u16>) -> String {
    match vid {
        Some(v) => format!("{TAG_PREFIX} {kind} parent={parent} vid={v}"),
        None => format!("{TAG_PREFIX} {kind} parent={parent}"),
    }
}

/// The live link as the ownership rules see it (parent resolved to a name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub kind: Option<String>,
    pub parent: Option<String>,
    pub vid: Option<u16>,
    pub alias: Option<String>,
    pub up: bool,
}

/// What the rules say about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Recorded, present, matching and tagged: dhcpnet's.
    Owned,
    /// Not recorded, but carries a tag that matches it: dhcpnet made it and
    /// its record was lost.
    TaggedOnly,
    /// Recorded, but no link of that name exists.
    Missing,
    /// Recorded, but the link of that name is not the one dhcpnet made.
    Mismatch(String),
    /// Neither recorded nor tagged.
    Foreign,
    /// No record and no link.
    Unknown,
}

impl Ownership {
    pub fn may_delete(&self) -> bool {
        matches!(self, Ownership::Owned | Ownership::TaggedOnly)
    }
}

fn observed_matches_tag(o: &Observed) -> bool {
    let Some(alias) = &o.alias else { return false };
    let Some(kind) = o.kind.as_deref() else {
        return false;
    };
    let k = match kind {
        "vlan" => Kind::Vlan,
        "macvlan" => Kind::Macvlan,
        "ipvlan" => Kind::Ipvlan,
        _ => return false,
    };
    let Some(parent) = &o.parent else {
        return false;
    };
    *alias == tag(k, parent, o.vid)
}

/// The ownership rules, in one place.
pub fn judge(rec: Option<&LinkRecord>, live: Option<&Observed>) -> Ownership {
    match (rec, live) {
        (None, None) => Ownership::Unknown,
        (Some(_), None) => Ownership::Missing,
        (None, Some(o)) => {
            if observed_matches_tag(o) {
                Ownership::TaggedOnly
            } else {
                Ownership::Foreign
            }
        }
        (Some(r), Some(o)) => {
            if o.kind.as_deref() != Some(r.kind.as_str()) {
                return Ownership::Mismatch(format!(
                    "it is a {} link now, dhcpnet made a {} link",
                    o.kind.as_deref().unwrap_or("plain"),
                    r.kind
                ));
            }
            if o.parent.as_deref() != Some(r.parent.as_str()) {
                return Ownership::Mismatch(format!(
                    "its parent is {}, dhcpnet made it on {}",
                    o.parent.as_deref().unwrap_or("(none)"),
                    r.parent
                ));
            }
            if r.kind == Kind::Vlan && o.vid != r.vid {
                return Ownership::Mismatch(format!(
                    "it has VID {}, dhcpnet made VID {}",
                    o.vid
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "(none)".into()),
                    r.vid
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "(none)".into())
                ));
            }
            if o.alias.as_deref() != Some(r.tag().as_str()) {
                return Ownership::Mismatch(
                    "it lacks dhcpnet's alias tag, so it was re-created by someone else (netplan, \
                     systemd-networkd, Docker or by hand) after dhcpnet's link was removed"
                        .into(),
                );
            }
            Ownership::Owned
        }
    }
}

/// Who may own a link dhcpnet refuses to touch (for error messages).
pub const WHO_ELSE: &str = "it may belong to Docker (a macvlan network whose parent is this link creates and \
deletes it), to netplan or systemd-networkd, or to someone who made it by hand";

/// Check a VLAN ID from the user.
pub fn validate_vid(vid: u16) -> Result<()> {
    if !(1..=4094).contains(&vid) {
        return Err(Error::Usage(format!(
            "VLAN ID {vid} is out of range: 802.1Q VIDs are 1 to 4094 (0 and 4095 are reserved)"
        )));
    }
    Ok(())
}

/// The name of a new link: the one given, or `default`; either must fit in
/// 15 bytes.
pub fn link_name(given: Option<&str>, default: &str) -> Result<String> {
    match given {
        Some(n) => {
            if n.len() > MAX_NAME {
                return Err(Error::Usage(format!(
                    "the name {n:?} is {} bytes; Linux link names have at most {MAX_NAME}: choose a shorter --name",
                    n.len()
                )));
            }
            validate_name(n)?;
            Ok(n.to_string())
        }
        None => {
            if default.len() > MAX_NAME {
                return Err(Error::Usage(format!(
                    "the default name {default:?} is {} bytes, over Linux's {MAX_NAME}: give the link a \
                     shorter name with --name (e.g. --name {})",
                    default.len(),
                    suggest(default)
                )));
            }
            validate_name(default)?;
            Ok(default.to_string())
        }
    }
}

fn suggest(default: &str) -> String {
    // Keep the end (VID or role), shorten the start; cut on character
    // boundaries, since a name may hold any bytes Linux allows.
    match default.rsplit_once(['.', '-']) {
        Some((head, tail)) if tail.len() + 2 < MAX_NAME => {
            let room = MAX_NAME - tail.len() - 1;
            let sep = &default[head.len()..head.len() + 1];
            format!("{}{sep}{tail}", prefix(head, room))
        }
        _ => prefix(default, MAX_NAME).to_string(),
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The old single file's layout (`links.json`).
#[derive(Debug, Serialize, Deserialize)]
struct LinkFile {
    version: u32,
    links: Vec<LinkRecord>,
}

impl Record for LinkRecord {
    type Key = String;
    const DIR: &'static str = DIR;
    const LEGACY: &'static str = LEGACY;

    fn key(&self) -> String {
        self.name.clone()
    }

    fn stem(key: &String) -> String {
        crate::store::table::file_safe(key)
    }

    fn check(&self) -> std::result::Result<(), String> {
        LinkRecord::check(self)
    }

    fn label(&self) -> String {
        label(self)
    }

    fn parse_legacy(path: &std::path::Path, bytes: &[u8]) -> Result<Vec<LinkRecord>> {
        parse(path, bytes)
    }
}

/// Every recorded link (in name order). No lock needed.
pub fn load(store: &Store) -> Result<Vec<LinkRecord>> {
    store.table::<LinkRecord>().list()
}

/// Every recorded link, read with the lock held.
pub fn load_locked(store: &Store, lock: &Lock) -> Result<Vec<LinkRecord>> {
    store.table::<LinkRecord>().load_locked(lock)
}

/// The record of the link `name`, if any. No lock needed; reads one file.
pub fn get(store: &Store, name: &str) -> Result<Option<LinkRecord>> {
    store.table::<LinkRecord>().get(&name.to_string())
}

/// Record a link, replacing the record of its name. Lock held.
pub fn put(store: &Store, lock: &Lock, rec: &LinkRecord) -> Result<()> {
    store.table::<LinkRecord>().put(lock, rec)
}

/// Forget the record of the link `name`; whether there was one. Lock held.
pub fn remove(store: &Store, lock: &Lock, name: &str) -> Result<bool> {
    store.table::<LinkRecord>().remove(lock, &name.to_string())
}

/// Lock, load, change, save (only what changed). Nothing is written if `f`
/// fails.
pub fn update<R>(store: &Store, f: impl FnOnce(&mut Vec<LinkRecord>) -> Result<R>) -> Result<R> {
    store.table::<LinkRecord>().update(f)
}

/// The records of a `links.json` of these bytes (`path` names it in
/// errors), each checked (`LinkRecord::check`).
pub fn parse(path: &std::path::Path, bytes: &[u8]) -> Result<Vec<LinkRecord>> {
    let file = crate::store::decode::<LinkFile>(path, bytes)?;
    check_records(path, &file.links, LinkRecord::check, label)?;
    Ok(file.links)
}

fn label(r: &LinkRecord) -> String {
    format!("name {:?}", r.name)
}

impl LinkRecord {
    /// Whether the record is one dhcpnet could have written: valid link
    /// names (1-15 bytes, no '/', ':', spaces or control characters), a
    /// parent other than the link, a VID 1-4094 on (and only on) a VLAN, a
    /// unicast MAC, a date in `check::YEARS`. Returns why not.
    pub fn check(&self) -> std::result::Result<(), String> {
        check::ifname("name", &self.name)?;
        check::ifname("parent", &self.parent)?;
        if self.name == self.parent {
            return Err("the link is its own parent".into());
        }
        match (self.kind, self.vid) {
            (Kind::Vlan, Some(v)) => check::vid("vid", v)?,
            (Kind::Vlan, None) => return Err("a vlan link without vid".into()),
            (Kind::Macvlan | Kind::Ipvlan, Some(_)) => {
                return Err(format!("a {} link with a vid", self.kind));
            }
            (Kind::Macvlan | Kind::Ipvlan, None) => {}
        }
        if let Some(m) = self.mac
            && (m.is_multicast() || m.is_zero())
        {
            return Err(format!("mac {m} is not a unicast address"));
        }
        if let Some(m) = &self.mode {
            check::name("mode", m, 16)?;
        }
        check::date("created_at", &self.created_at)
    }
}

/// Make the records exactly `links` (writing only what changed). Lock held.
pub fn save(store: &Store, lock: &Lock, links: Vec<LinkRecord>) -> Result<()> {
    store.table::<LinkRecord>().save(lock, links)
}

/// Whether dhcpnet owns the link called `name`: it is recorded and, if a
/// link of that name exists, that link carries the record's tag (read from
/// sysfs, so no runtime is needed). A link with only a tag and no record
/// counts as owned as well. sysfs shows the network namespace it was
/// mounted in (as `ip netns exec` arranges), not that of a thread that
/// switched namespaces with setns(2); such callers should use `ownership`.
pub fn is_owned(store: &Store, name: &str) -> Result<bool> {
    validate_name(name)?;
    let recs = load(store)?;
    let alias = std::fs::read_to_string(format!("/sys/class/net/{name}/ifalias"))
        .ok()
        .map(|s| s.trim().to_string());
    let exists = std::path::Path::new("/sys/class/net").join(name).exists();
    Ok(match recs.iter().find(|r| r.name == name) {
        Some(r) => !exists || alias.as_deref() == Some(r.tag().as_str()),
        None => exists && alias.is_some_and(|a| a.starts_with(TAG_PREFIX)),
    })
}

// ---------------------------------------------------------------------------
// The kernel side.

/// Resolve a live link into what the rules look at.
pub async fn observe(nl: &Netlink, l: &LiveLink) -> Result<Observed> {
    let parent = match l.parent_index {
        Some(i) if i != 0 && i != l.index => nl.name_of(i).await?,
        _ => None,
    };
    Ok(Observed {
        kind: l.kind.clone(),
        parent,
        vid: l.vid,
        alias: l.alias.clone(),
        up: l.up,
    })
}

/// Look a name up and judge it against the records.
pub async fn ownership(
    nl: &Netlink,
    recs: &[LinkRecord],
    name: &str,
) -> Result<(Ownership, Option<LiveLink>)> {
    let live = nl.get(name).await?;
    let obs = match &live {
        Some(l) => Some(observe(nl, l).await?),
        None => None,
    };
    Ok((
        judge(recs.iter().find(|r| r.name == name), obs.as_ref()),
        live,
    ))
}

/// What to create.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub kind: Kind,
    pub parent: String,
    pub vid: Option<u16>,
    pub mac: Option<Mac>,
    pub shim: bool,
}

impl Spec {
    fn same_as(&self, r: &LinkRecord) -> bool {
        self.kind == r.kind
            && self.parent == r.parent
            && self.vid == r.vid
            && (self.mac.is_none() || self.mac == r.mac)
    }
}

fn kernel_err(spec: &Spec, e: rtnetlink::Error) -> Error {
    let name = &spec.name;
    match link::errno(&e) {
        Some(libc::EOPNOTSUPP) if spec.kind == Kind::Vlan => Error::Kernel(format!(
            "cannot create {name}: this kernel has no 802.1Q VLAN support (module 8021q, CONFIG_VLAN_8021Q): \
             load it with `modprobe 8021q`, or use a kernel that has it; nothing was created"
        )),
        Some(libc::EOPNOTSUPP) if spec.kind == Kind::Ipvlan => Error::Kernel(format!(
            "cannot create {name}: this kernel has no ipvlan support (module ipvlan, CONFIG_IPVLAN): \
             load it with `modprobe ipvlan`, or use a kernel that has it; nothing was created"
        )),
        Some(libc::EOPNOTSUPP) => Error::Kernel(format!(
            "cannot create {name}: this kernel has no macvlan support (module macvlan, CONFIG_MACVLAN): \
             load it with `modprobe macvlan`; nothing was created"
        )),
        Some(libc::EEXIST) => Error::Conflict(format!(
            "a link named {name} already exists; dhcpnet never takes over a link it did not create: \
             choose another name with --name"
        )),
        Some(libc::EADDRINUSE) => Error::Conflict(format!(
            "cannot create {name}: another macvlan on {} already uses MAC {}",
            spec.parent,
            spec.mac.map(|m| m.to_string()).unwrap_or_default()
        )),
        Some(libc::EBUSY) => Error::Interface(format!(
            "cannot create {name}: the parent {} is busy (for example enslaved to a bridge or bond, or its \
             kind does not allow sub-interfaces){}",
            spec.parent,
            match spec.kind {
                Kind::Vlan => String::new(),
                // The kernel lets one kind of these on a parent at a time.
                k => format!(
                    "; or it carries {o} links already: macvlan and ipvlan links cannot share a parent, \
                     so a shim must use its containers' driver (`--driver {o}`)",
                    o = if k == Kind::Ipvlan {
                        "macvlan"
                    } else {
                        "ipvlan"
                    }
                ),
            }
        )),
        _ => link::map_err(
            &format!("cannot create {} link {name} on {}", spec.kind, spec.parent),
            e,
        ),
    }
}

/// Create the link, tag it and bring it up; on any failure remove what was
/// made. Returns the new index.
async fn make(nl: &Netlink, spec: &Spec) -> Result<u32> {
    let parent = nl.get(&spec.parent).await?.ok_or_else(|| {
        Error::Interface(format!(
            "no interface named {} in this network namespace; `ip link` lists the ones there are",
            spec.parent
        ))
    })?;
    let created = match spec.kind {
        Kind::Vlan => {
            nl.add_vlan(&spec.name, parent.index, spec.vid.unwrap_or(0))
                .await
        }
        Kind::Macvlan => {
            nl.add_macvlan(
                &spec.name,
                parent.index,
                spec.mac.unwrap_or_else(Mac::random_local),
            )
            .await
        }
        Kind::Ipvlan => nl.add_ipvlan(&spec.name, parent.index).await,
    };
    created.map_err(|e| kernel_err(spec, e))?;
    let finish = async {
        let l = nl.get(&spec.name).await?.ok_or_else(|| {
            Error::Other(format!("{} vanished right after it was created", spec.name))
        })?;
        nl.set_alias(l.index, &tag(spec.kind, &spec.parent, spec.vid))
            .await?;
        nl.set_up(l.index).await?;
        Ok::<u32, Error>(l.index)
    };
    match finish.await {
        Ok(i) => Ok(i),
        Err(e) => {
            if let Ok(Some(l)) = nl.get(&spec.name).await {
                let _ = nl.delete(l.index).await;
            }
            Err(e)
        }
    }
}

/// Create (or find already made) an owned link per `spec`, and record it.
pub async fn create(store: &Store, spec: Spec) -> Result<LinkRecord> {
    validate_name(&spec.name)?;
    validate_name(&spec.parent)?;
    if spec.name == spec.parent {
        return Err(Error::Usage(format!(
            "{} cannot be its own parent",
            spec.name
        )));
    }
    let lock = store.lock()?;
    let mut recs = load_locked(store, &lock)?;
    let nl = Netlink::connect()?;
    let (own, _) = ownership(&nl, &recs, &spec.name).await?;
    let existing = recs.iter().find(|r| r.name == spec.name).cloned();
    match (&own, &existing) {
        (Ownership::Owned, Some(r)) if spec.same_as(r) => {
            log::info!(
                "{} already exists and is dhcpnet's ({})",
                r.name,
                r.describe()
            );
            return Ok(r.clone());
        }
        (Ownership::Owned, Some(r)) | (Ownership::Missing, Some(r)) if !spec.same_as(r) => {
            return Err(Error::Conflict(format!(
                "dhcpnet already has {} recorded as {}; delete it first (`dhcpnet vlan del {}` or \
                 `dhcpnet shim del {}`) or choose another --name",
                r.name,
                r.describe(),
                r.name,
                r.name
            )));
        }
        (Ownership::Missing, _) | (Ownership::Unknown, _) => {}
        (Ownership::TaggedOnly, _) => {
            return Err(Error::Conflict(format!(
                "a link named {} exists that carries dhcpnet's tag but is not in its records (was the \
                 state directory lost?); delete it with `dhcpnet vlan del {}` and add it again, or choose \
                 another --name",
                spec.name, spec.name
            )));
        }
        (Ownership::Mismatch(why), _) => {
            return Err(Error::Conflict(format!(
                "a link named {} exists but is not the one dhcpnet recorded ({why}); dhcpnet never takes \
                 over a link it did not create: choose another --name",
                spec.name
            )));
        }
        _ => {
            return Err(Error::Conflict(format!(
                "a link named {} already exists and dhcpnet did not create it; dhcpnet never takes over \
                 such a link ({WHO_ELSE}): choose another name with --name",
                spec.name
            )));
        }
    }
    let mac = match spec.kind {
        Kind::Macvlan => Some(spec.mac.unwrap_or_else(Mac::random_local)),
        // The slave takes the parent's MAC; the record keeps it because the
        // shim's lease is keyed by it.
        Kind::Ipvlan => nl.get(&spec.parent).await?.and_then(|p| p.mac),
        Kind::Vlan => None,
    };
    let spec = Spec { mac, ..spec };
    let index = make(&nl, &spec).await?;
    let rec = LinkRecord {
        name: spec.name.clone(),
        ifindex: index,
        kind: spec.kind,
        parent: spec.parent.clone(),
        vid: spec.vid,
        mac,
        mode: match spec.kind {
            Kind::Macvlan => Some("bridge".to_string()),
            Kind::Ipvlan => Some("l2".to_string()),
            Kind::Vlan => None,
        },
        shim: spec.shim,
        created_at: Utc::now().trunc_subsecs(0),
    };
    recs.retain(|r| r.name != rec.name);
    recs.push(rec.clone());
    if let Err(e) = save(store, &lock, recs) {
        let _ = nl.delete(index).await;
        return Err(Error::state(
            store.path(FILE),
            format!(
                "{e}; {} was deleted again so that no unrecorded link is left",
                rec.name
            ),
        ));
    }
    Ok(rec)
}

/// Create VLAN `vid` on `parent` (name `PARENT.VID` unless given), set it up,
/// tag it and record it.
pub async fn add_vlan(
    store: &Store,
    parent: &str,
    vid: u16,
    name: Option<&str>,
) -> Result<LinkRecord> {
    validate_vid(vid)?;
    validate_name(parent)?;
    let name = link_name(name, &format!("{parent}.{vid}"))?;
    create(
        store,
        Spec {
            name,
            kind: Kind::Vlan,
            parent: parent.to_string(),
            vid: Some(vid),
            mac: None,
            shim: false,
        },
    )
    .await
}

/// Create a macvlan link (bridge mode) on `parent` with `mac` (random when
/// None), set it up, tag it and record it.
pub async fn add_macvlan(
    store: &Store,
    parent: &str,
    name: &str,
    mac: Option<Mac>,
    shim: bool,
) -> Result<LinkRecord> {
    add_slave(store, parent, name, Kind::Macvlan, mac, shim).await
}

/// Create a macvlan (bridge mode, `mac` or a random one) or ipvlan (L2
/// mode, the parent's MAC: `mac` must be None) link on `parent`, set it up,
/// tag it and record it.
pub async fn add_slave(
    store: &Store,
    parent: &str,
    name: &str,
    kind: Kind,
    mac: Option<Mac>,
    shim: bool,
) -> Result<LinkRecord> {
    let name = link_name(Some(name), name)?;
    if kind == Kind::Vlan || (kind == Kind::Ipvlan && mac.is_some()) {
        return Err(Error::Other(format!(
            "internal: a {kind} link with MAC {mac:?} is not a macvlan or ipvlan slave"
        )));
    }
    create(
        store,
        Spec {
            name,
            kind,
            parent: parent.to_string(),
            vid: None,
            mac,
            shim,
        },
    )
    .await
}

/// Delete the link `name` if dhcpnet owns it (see the module rules) and
/// forget its record. With `force`, delete it whoever made it.
pub async fn delete_owned(store: &Store, name: &str, force: bool) -> Result<()> {
    delete_kind(store, name, force, None).await
}

/// `delete_owned`, refusing records of another kind than `kind` (so that
/// `vlan del` does not remove a shim).
pub async fn delete_kind(store: &Store, name: &str, force: bool, kind: Option<Kind>) -> Result<()> {
    validate_name(name)?;
    let lock = store.lock()?;
    let mut recs = load_locked(store, &lock)?;
    let nl = Netlink::connect()?;
    if let (Some(k), Some(r)) = (kind, recs.iter().find(|r| r.name == name))
        && (r.kind != k || (r.shim && k == Kind::Vlan))
    {
        let how = if r.shim {
            "dhcpnet shim del"
        } else {
            "dhcpnet vlan del"
        };
        return Err(Error::Usage(format!(
            "{name} is dhcpnet's {}; remove it with `{how} {name}`",
            r.describe()
        )));
    }
    let (own, live) = ownership(&nl, &recs, name).await?;
    // Not even --force makes `vlan del` remove a veth, a bridge or a NIC.
    let check_kind = |l: &LiveLink| match kind {
        Some(k) if l.kind.as_deref() != Some(k.as_str()) => Err(Error::Usage(format!(
            "{name} is {} link, not a {k} link; this command only deletes {k} links",
            l.kind
                .as_deref()
                .map(|k| format!("a {k}"))
                .unwrap_or_else(|| "a plain (physical or loopback)".into())
        ))),
        _ => Ok(()),
    };
    match (&own, &live) {
        (o, Some(l)) if o.may_delete() => {
            check_kind(l)?;
            nl.delete(l.index).await?
        }
        (Ownership::Missing, _) => log::info!("{name} was already gone; its record is removed"),
        (Ownership::Unknown, _) => {
            return Err(Error::NotFound(format!(
                "there is no link named {name} and dhcpnet has no record of one; `dhcpnet vlan list` shows \
                 the links dhcpnet owns"
            )));
        }
        (Ownership::Mismatch(why), Some(l)) => {
            if !force {
                return Err(Error::NotFound(format!(
                    "refusing to delete {name}: it is not the link dhcpnet created ({why}); {WHO_ELSE}. \
                     dhcpnet forgot nothing; if you are sure, delete it with --force"
                )));
            }
            check_kind(l)?;
            log::warn!("deleting {name} although {why} (--force)");
            nl.delete(l.index).await?;
        }
        (_, Some(l)) => {
            if !force {
                return Err(Error::NotFound(format!(
                    "refusing to delete {name}: dhcpnet did not create it (no record, no dhcpnet tag); {WHO_ELSE}. \
                     If you are sure, delete it with --force"
                )));
            }
            check_kind(l)?;
            log::warn!("deleting {name}, which dhcpnet did not create (--force)");
            nl.delete(l.index).await?;
        }
        (_, None) => {}
    }
    if recs.iter().any(|r| r.name == name) {
        recs.retain(|r| r.name != name);
        save(store, &lock, recs)?;
    }
    Ok(())
}

/// One owned link and how it is now.
#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    #[serde(flatten)]
    pub record: LinkRecord,
    pub exists: bool,
    pub up: bool,
    /// The current index, when it exists.
    pub current_ifindex: Option<u32>,
    pub state: LinkState,
}

/// How a recorded link is now. JSON (and tables): "owned", "missing" (run
/// `dhcpnet restore`), "conflict: <why>" or "unknown".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Owned,
    Missing,
    /// A link of that name exists that is not the one dhcpnet made.
    Conflict(String),
    Unknown,
}

impl From<&Ownership> for LinkState {
    fn from(o: &Ownership) -> Self {
        match o {
            Ownership::Owned | Ownership::TaggedOnly => LinkState::Owned,
            Ownership::Missing => LinkState::Missing,
            Ownership::Mismatch(why) => LinkState::Conflict(why.clone()),
            Ownership::Foreign | Ownership::Unknown => LinkState::Unknown,
        }
    }
}

impl std::fmt::Display for LinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkState::Owned => f.write_str("owned"),
            LinkState::Missing => f.write_str("missing"),
            LinkState::Conflict(why) => write!(f, "conflict: {why}"),
            LinkState::Unknown => f.write_str("unknown"),
        }
    }
}

impl Serialize for LinkState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Every recorded link with its live state.
pub async fn status(store: &Store) -> Result<Vec<LinkStatus>> {
    let recs = load(store)?;
    if recs.is_empty() {
        return Ok(Vec::new());
    }
    let nl = Netlink::connect()?;
    let mut out = Vec::new();
    for r in &recs {
        let (own, live) = ownership(&nl, &recs, &r.name).await?;
        out.push(LinkStatus {
            record: r.clone(),
            exists: live.is_some(),
            up: live.as_ref().is_some_and(|l| l.up),
            current_ifindex: live.as_ref().map(|l| l.index),
            state: LinkState::from(&own),
        });
    }
    Ok(out)
}

/// What `restore` did for one link.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub name: String,
    pub kind: Kind,
    pub parent: String,
    pub action: RestoreAction,
    pub message: Option<String>,
}

/// What `restore` did for one link (JSON: "present", "brought-up",
/// "recreated", "conflict" or "failed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreAction {
    Present,
    BroughtUp,
    Recreated,
    Conflict,
    Failed,
}

impl RestoreAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreAction::Present => "present",
            RestoreAction::BroughtUp => "brought-up",
            RestoreAction::Recreated => "recreated",
            RestoreAction::Conflict => "conflict",
            RestoreAction::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RestoreAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Restored {
    pub fn failed(&self) -> bool {
        matches!(self.action, RestoreAction::Conflict | RestoreAction::Failed)
    }
}

/// Recreate the owned links that are missing (after a reboot), bring up
/// those that are down; leave conflicts alone. Idempotent.
pub async fn restore(store: &Store) -> Result<Vec<Restored>> {
    let lock = store.lock()?;
    let mut recs = load_locked(store, &lock)?;
    if recs.is_empty() {
        return Ok(Vec::new());
    }
    let nl = Netlink::connect()?;
    let mut out = Vec::new();
    let mut changed = false;
    // VLANs first: a macvlan may sit on one.
    let mut order: Vec<usize> = (0..recs.len()).collect();
    order.sort_by_key(|&i| recs[i].kind != Kind::Vlan);
    for i in order {
        let r = recs[i].clone();
        let (own, live) = ownership(&nl, &recs, &r.name).await?;
        let mut res = Restored {
            name: r.name.clone(),
            kind: r.kind,
            parent: r.parent.clone(),
            action: RestoreAction::Failed,
            message: None,
        };
        match (own, live) {
            (Ownership::Owned, Some(l)) if l.up => res.action = RestoreAction::Present,
            (Ownership::Owned, Some(l)) => match nl.set_up(l.index).await {
                Ok(()) => res.action = RestoreAction::BroughtUp,
                Err(e) => {
                    res.action = RestoreAction::Failed;
                    res.message = Some(e.to_string());
                }
            },
            (Ownership::Missing, _) => {
                let spec = Spec {
                    name: r.name.clone(),
                    kind: r.kind,
                    parent: r.parent.clone(),
                    vid: r.vid,
                    mac: r.mac,
                    shim: r.shim,
                };
                match make(&nl, &spec).await {
                    Ok(index) => {
                        recs[i].ifindex = index;
                        changed = true;
                        res.action = RestoreAction::Recreated;
                    }
                    Err(e) => {
                        res.action = RestoreAction::Failed;
                        res.message = Some(e.to_string());
                    }
                }
            }
            (Ownership::Mismatch(why), _) => {
                res.action = RestoreAction::Conflict;
                res.message = Some(format!(
                    "a link named {} exists that dhcpnet did not create ({why}); it is left alone",
                    r.name
                ));
            }
            (o, _) => {
                res.action = RestoreAction::Failed;
                res.message = Some(format!("unexpected state {o:?}"));
            }
        }
        out.push(res);
    }
    if changed {
        save(store, &lock, recs)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> LinkRecord {
        LinkRecord {
            name: "eth0.10".into(),
            ifindex: 7,
            kind: Kind::Vlan,
            parent: "eth0".into(),
            vid: Some(10),
            mac: None,
            mode: None,
            shim: false,
            created_at: DateTime::parse_from_rfc3339("2026-11-28T05:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    fn obs(r: &LinkRecord) -> Observed {
        Observed {
            kind: Some(r.kind.to_string()),
            parent: Some(r.parent.clone()),
            vid: r.vid,
            alias: Some(r.tag()),
            up: true,
        }
    }

    #[test]
    fn recorded_matching_tagged_link_is_owned() {
        let r = rec();
        assert_eq!(judge(Some(&r), Some(&obs(&r))), Ownership::Owned);
        assert!(judge(Some(&r), Some(&obs(&r))).may_delete());
    }

    #[test]
    fn changes_since_the_record_make_a_mismatch() {
        let r = rec();
        for (o, word) in [
            (
                Observed {
                    vid: Some(11),
                    ..obs(&r)
                },
                "VID",
            ),
            (
                Observed {
                    parent: Some("eth1".into()),
                    ..obs(&r)
                },
                "parent",
            ),
            (
                Observed {
                    kind: Some("macvlan".into()),
                    ..obs(&r)
                },
                "macvlan",
            ),
            (
                Observed {
                    alias: None,
                    ..obs(&r)
                },
                "tag",
            ),
            (
                Observed {
                    alias: Some("uplink".into()),
                    ..obs(&r)
                },
                "tag",
            ),
        ] {
            match judge(Some(&r), Some(&o)) {
                Ownership::Mismatch(why) => assert!(why.contains(word), "{why}"),
                other => panic!("{o:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn unrecorded_links_are_foreign_unless_tagged() {
        let r = rec();
        let hand_made = Observed {
            alias: None,
            ..obs(&r)
        };
        assert_eq!(judge(None, Some(&hand_made)), Ownership::Foreign);
        assert!(!Ownership::Foreign.may_delete());
        assert_eq!(judge(None, Some(&obs(&r))), Ownership::TaggedOnly);
        // A tag copied onto another link does not make it dhcpnet's.
        let copied = Observed {
            vid: Some(20),
            ..obs(&r)
        };
        assert_eq!(judge(None, Some(&copied)), Ownership::Foreign);
        assert_eq!(judge(Some(&r), None), Ownership::Missing);
        assert_eq!(judge(None, None), Ownership::Unknown);
    }

    #[test]
    fn vids_and_names_are_checked() {
        assert!(validate_vid(0).is_err());
        assert!(validate_vid(4095).is_err());
        assert!(validate_vid(1).is_ok() && validate_vid(4094).is_ok());
        assert_eq!(link_name(None, "eth0.10").unwrap(), "eth0.10");
        let e = link_name(None, "enp0s31f6long.4000").unwrap_err();
        assert!(matches!(e, Error::Usage(_)));
        assert!(e.to_string().contains("--name"), "{e}");
        let e = link_name(Some("a-very-long-name-x"), "x").unwrap_err();
        assert!(
            e.to_string().contains("--name") && e.to_string().contains("15"),
            "{e}"
        );
        assert!(link_name(Some("bad/name"), "x").is_err());
        assert!(suggest("enp0s31f6long.4000").len() <= MAX_NAME);
        assert!(suggest("enp0s31f6long.4000").ends_with(".4000"));
    }

    #[test]
    fn tags_name_kind_parent_and_vid() {
        assert_eq!(rec().tag(), "dhcpnet-owned vlan parent=eth0 vid=10");
        assert_eq!(
            tag(Kind::Macvlan, "eth0", None),
            "dhcpnet-owned macvlan parent=eth0"
        );
    }

    #[test]
    fn an_ipvlan_link_is_owned_by_its_own_tag_and_never_taken_for_a_macvlan() {
        let r = LinkRecord {
            name: "shim-eth0".into(),
            kind: Kind::Ipvlan,
            vid: None,
            mac: Some("02:00:00:00:00:01".parse().unwrap()),
            mode: Some("l2".into()),
            shim: true,
            ..rec()
        };
        assert_eq!(r.tag(), "dhcpnet-owned ipvlan parent=eth0");
        assert_eq!(r.check(), Ok(()));
        assert_eq!(judge(Some(&r), Some(&obs(&r))), Ownership::Owned);
        // Tag lost with the record: still recognised as dhcpnet's.
        assert_eq!(judge(None, Some(&obs(&r))), Ownership::TaggedOnly);
        // A macvlan of that name, even with the ipvlan tag copied on, is not it.
        let macvlan = Observed {
            kind: Some("macvlan".into()),
            ..obs(&r)
        };
        assert!(
            matches!(judge(Some(&r), Some(&macvlan)), Ownership::Mismatch(w) if w.contains("ipvlan"))
        );
        assert_eq!(judge(None, Some(&macvlan)), Ownership::Foreign);
        let with_vid = LinkRecord {
            vid: Some(10),
            ..r.clone()
        };
        assert!(with_vid.check().unwrap_err().contains("ipvlan"));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            (v["kind"].as_str(), v["mode"].as_str()),
            (Some("ipvlan"), Some("l2"))
        );
    }

    #[test]
    fn records_round_trip_with_stable_field_names() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let l = s.lock().unwrap();
        save(&s, &l, vec![rec()]).unwrap();
        assert_eq!(load(&s).unwrap(), vec![rec()]);
        let file = s.table::<LinkRecord>().path_of(&"eth0.10".to_string());
        assert_eq!(file, s.path("links.d/eth0.10.json"));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        for f in [
            "name",
            "ifindex",
            "kind",
            "parent",
            "vid",
            "mac",
            "mode",
            "shim",
            "created_at",
        ] {
            assert!(v["record"].get(f).is_some(), "{f}: {v}");
        }
        assert_eq!(v["record"]["kind"], "vlan");
    }

    #[test]
    fn link_records_with_bad_names_vids_or_dates_are_refused_on_load_and_kept() {
        let good = serde_json::to_value(rec()).unwrap();
        let bad = |field: &str, v: serde_json::Value| {
            let mut r = good.clone();
            r[field] = v;
            r
        };
        let cases = [
            bad("name", "a/b".into()),
            bad("name", "x\u{0}".into()),
            bad("name", "".into()),
            bad("name", "..".into()),
            bad("name", "sixteen-bytes-xx".into()),
            bad("parent", "eth0.10".into()),
            bad("vid", 0.into()),
            bad("vid", 4095.into()),
            bad("vid", serde_json::Value::Null),
            bad("mac", "ff:ff:ff:ff:ff:ff".into()),
            bad("mode", "\u{1b}[2J".into()),
            bad("created_at", "+262000-01-01T00:00:00Z".into()),
        ];
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        for (i, c) in cases.into_iter().enumerate() {
            let bytes =
                serde_json::to_vec(&serde_json::json!({"version": 1, "links": [good, c]})).unwrap();
            std::fs::write(s.path(LEGACY), &bytes).unwrap();
            let e = load(&s).unwrap_err();
            assert!(
                e.to_string().contains("links.json") && e.to_string().contains("record 2 of 2"),
                "case {i}: {e}"
            );
            assert_eq!(std::fs::read(s.path(LEGACY)).unwrap(), bytes);
        }
    }

    #[test]
    fn is_owned_needs_a_record() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        assert!(!is_owned(&s, "nosuchlink0").unwrap());
        let l = s.lock().unwrap();
        save(
            &s,
            &l,
            vec![LinkRecord {
                name: "nosuchlink0".into(),
                ..rec()
            }],
        )
        .unwrap();
        // Recorded and absent (waiting for restore): still dhcpnet's.
        assert!(is_owned(&s, "nosuchlink0").unwrap());
        // lo exists and carries no tag.
        assert!(!is_owned(&s, "lo").unwrap());
    }

    #[test]
    fn long_non_ascii_names_get_a_suggestion_not_a_panic() {
        let e = link_name(None, "€€€€€€€€.100").unwrap_err();
        assert!(e.to_string().contains("--name"), "{e}");
        assert!(suggest("ééééééééééééééé").len() <= MAX_NAME);
    }

    #[test]
    fn link_states_and_restore_actions_serialize_as_the_strings_they_replaced() {
        let j = |v: serde_json::Value| v.as_str().unwrap().to_string();
        let states = [
            (LinkState::Owned, "owned"),
            (LinkState::Missing, "missing"),
            (
                LinkState::Conflict("mac differs".into()),
                "conflict: mac differs",
            ),
            (LinkState::Unknown, "unknown"),
        ];
        for (s, text) in states {
            assert_eq!(j(serde_json::to_value(&s).unwrap()), text);
            assert_eq!(s.to_string(), text);
        }
        let actions = [
            (RestoreAction::Present, "present"),
            (RestoreAction::BroughtUp, "brought-up"),
            (RestoreAction::Recreated, "recreated"),
            (RestoreAction::Conflict, "conflict"),
            (RestoreAction::Failed, "failed"),
        ];
        for (a, text) in actions {
            assert_eq!(j(serde_json::to_value(a).unwrap()), text);
            assert_eq!(a.to_string(), text);
        }
    }
}
