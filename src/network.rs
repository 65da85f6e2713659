//! The Docker networks dhcpnet created, and the table that keeps them
//! (`networks.d/`, one file per network name): parent, DHCP interface, subnet and gateway, the links
//! dhcpnet owns for them, and the MAC each container name had, so that a
//! container re-created with the same name gets the same MAC (and so the
//! same address) back.
//!
//! Field names are a public interface (JSON and YAML output).

pub mod container;
pub mod create;
pub mod delete;

use std::fmt;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dhcp::message::Identity;
use crate::error::{Error, Result};
use crate::net::mac::Mac;
use crate::store::{Lock, Record, Store, check, check_records};

/// The table's directory in the state directory.
pub const DIR: &str = "networks.d";
/// What messages name as the networks' file: the table's directory.
pub const FILE: &str = DIR;
/// The single file older dhcpnet kept every network in (converted at first
/// use, see `store::table`).
pub const LEGACY: &str = "networks.json";

pub use crate::net::subnet::Subnet;

/// The Docker driver of a network: how containers reach the LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A MAC of its own per container: the parent must accept many MACs.
    #[default]
    Macvlan,
    /// ipvlan L2: every container shares the parent's MAC, and the DHCP
    /// server tells them apart by client id (option 61). For Wi-Fi, and
    /// hypervisors or clouds that allow one MAC per port.
    Ipvlan,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Macvlan => "macvlan",
            Driver::Ipvlan => "ipvlan",
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The DHCP identity of a container on an ipvlan network: the parent's MAC
/// in chaddr (every container shares it) and option 61 = type 0 followed by
/// `dhcpnet:<parent MAC, 12 hex digits>:<network>/<container>`.
///
/// Why this form: it is stable per container name, so a re-created
/// container gets its address back; the parent's MAC makes it unique on
/// the LAN (two hosts running `web` on a network `lan` must not look like
/// one client: servers such as dnsmasq key on the client id alone); it is
/// readable in the server's logs and can be reserved by hand
/// (`dhcp-host=id:dhcpnet:...` in dnsmasq). RFC 4361's type 255 (IAID +
/// DUID) is meant for a host's own interfaces, would need a hash to fit a
/// name in, and cannot be read back; the name goes to the server anyway as
/// the hostname (option 12). An id longer than an option holds is cut and
/// ends in `~` and a hash of the whole. An unnamed container gets a random
/// id (it cannot be re-created under the same identity anyway).
pub fn ipvlan_identity(network: &str, parent_mac: Mac, container: Option<&str>) -> Identity {
    let mut id = Identity::new(parent_mac);
    id.client_id = ipvlan_client_id(network, parent_mac, container);
    id
}

/// Option 61 of `ipvlan_identity`.
pub fn ipvlan_client_id(network: &str, parent_mac: Mac, container: Option<&str>) -> Vec<u8> {
    let name = match container {
        Some(n) => n.to_string(),
        None => {
            let mut b = [0u8; 8];
            crate::net::mac::fill_random(&mut b);
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("~{hex}")
        }
    };
    crate::dhcp::message::text_client_id(&format!("dhcpnet:{}:{network}/{name}", parent_mac.hex()))
}

/// Where `ipvlan_plugin_identity` puts the network's name in
/// `ipvlan_client_id`'s form, with the kind of handle after a ':' (which
/// no network name holds, so that no `dhcpnet run` container's id can
/// equal a plugin endpoint's).
const PLUGIN_SCOPE: &str = "plugin";

/// What the plugin knows an endpoint by, tagged in its client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointHandle<'a> {
    /// The container's name, as the engine sends it (engines since
    /// moby/moby#50586): its lasting identity.
    Name(&'a str),
    /// Docker's endpoint MAC, made up at every start: this endpoint only.
    Mac(Mac),
    /// Nothing: a random id.
    Random,
}

/// The DHCP identity of an endpoint the IPAM plugin leases for on a
/// shared-MAC pool (ipvlan): the DHCP interface's MAC in chaddr and option
/// 61 = type 0 + `dhcpnet:<parent MAC>:plugin:<kind>/<handle>`, the kind
/// being `name` (the container's name, stable across restarts and
/// re-creation as `ipvlan_identity`'s), `mac` (Docker's endpoint MAC, made
/// up at every start and never on the wire on ipvlan, which only tells this
/// endpoint's lease from the others: a restarted container gets its address
/// back through the plugin's kept-lease rule) or `random` (the engine sent
/// neither).
///
/// Older dhcpnet wrote `plugin/<handle>` with no kind (a name and a MAC
/// told apart by their look); `legacy_plugin_client_ids` gives those, so
/// that leases granted under them are still the endpoint's.
pub fn ipvlan_plugin_identity(parent_mac: Mac, endpoint: EndpointHandle) -> Identity {
    let handle = match endpoint {
        EndpointHandle::Name(n) => format!("name/{n}"),
        EndpointHandle::Mac(m) => format!("mac/{m}"),
        EndpointHandle::Random => {
            let mut b = [0u8; 8];
            crate::net::mac::fill_random(&mut b);
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("random/{hex}")
        }
    };
    let mut id = Identity::new(parent_mac);
    id.client_id = crate::dhcp::message::text_client_id(&format!(
        "dhcpnet:{}:{PLUGIN_SCOPE}:{handle}",
        parent_mac.hex()
    ));
    id
}

/// The client ids older dhcpnet gave `endpoint` (`plugin/<handle>`, cut
/// with FNV-1a when long): records of leases granted under them are the
/// endpoint's too. None for a random handle.
pub fn legacy_plugin_client_ids(parent_mac: Mac, endpoint: EndpointHandle) -> Vec<Vec<u8>> {
    let handle = match endpoint {
        EndpointHandle::Name(n) => n.to_string(),
        EndpointHandle::Mac(m) => m.to_string(),
        EndpointHandle::Random => return Vec::new(),
    };
    let text = format!("dhcpnet:{}:{PLUGIN_SCOPE}/{handle}", parent_mac.hex());
    vec![
        crate::dhcp::message::legacy_text_client_id(&text)
            .unwrap_or_else(|| crate::dhcp::message::text_client_id(&text)),
    ]
}

/// The client ids `ipvlan_client_id` gives a named container now and gave
/// it before (a long name cut with FNV-1a by older dhcpnet).
pub fn ipvlan_client_ids(network: &str, parent_mac: Mac, container: &str) -> Vec<Vec<u8>> {
    let text = format!("dhcpnet:{}:{network}/{container}", parent_mac.hex());
    let mut ids = vec![crate::dhcp::message::text_client_id(&text)];
    ids.extend(crate::dhcp::message::legacy_text_client_id(&text));
    ids
}

/// How the endpoint of a client id `ipvlan_plugin_identity` made was
/// named; None for other client ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginHandle {
    /// By its container's name: that container's lasting identity.
    Name,
    /// By Docker's endpoint MAC, or at random: this endpoint only.
    Endpoint,
}

/// The handle of option 61 `id` if `ipvlan_plugin_identity` (or an older
/// dhcpnet's) made it.
pub fn plugin_handle(id: &[u8]) -> Option<PluginHandle> {
    let (0, text) = id.split_first()? else {
        return None;
    };
    let (mac, rest) = std::str::from_utf8(text)
        .ok()?
        .strip_prefix("dhcpnet:")?
        .split_once(':')?;
    if mac.len() != 12 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest.strip_prefix(PLUGIN_SCOPE)?;
    if let Some(tagged) = rest.strip_prefix(':') {
        let (kind, handle) = tagged.split_once('/')?;
        return match kind {
            _ if handle.is_empty() => None,
            "name" => Some(PluginHandle::Name),
            "mac" | "random" => Some(PluginHandle::Endpoint),
            _ => None,
        };
    }
    // Older dhcpnet's form: the kind told by the handle's look.
    let endpoint = rest.strip_prefix('/')?;
    if endpoint.is_empty() {
        None
    } else if endpoint.starts_with('~') || endpoint.parse::<Mac>().is_ok() {
        Some(PluginHandle::Endpoint)
    } else {
        Some(PluginHandle::Name)
    }
}

/// Whether option 61 `id` is one `ipvlan_plugin_identity` made.
pub fn is_plugin_client_id(id: &[u8]) -> bool {
    plugin_handle(id).is_some()
}

/// How the plugin named the endpoint of lease record `l`, if it made it on
/// a shared-MAC pool.
pub fn plugin_handle_of(l: &crate::lease::Lease) -> Option<PluginHandle> {
    crate::dhcp::message::parse_client_id(&l.client_id)
        .ok()
        .and_then(|id| plugin_handle(&id))
}

/// A container name dhcpnet has run on a network, and the MAC it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub mac: Mac,
    /// The last address it was given (asked for again when it is re-created).
    pub ip: Option<Ipv4Addr>,
    /// The current (or last) container id.
    pub container: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    /// Docker's network id.
    pub id: String,
    /// The macvlan or ipvlan parent (`-o parent=`).
    pub parent: String,
    /// macvlan (records older than ipvlan support have none) or ipvlan.
    #[serde(default)]
    pub driver: Driver,
    /// Where dhcpnet talks DHCP for this network's containers.
    pub dhcp_interface: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    #[serde(default)]
    pub vlan: Option<u16>,
    /// A link dhcpnet created for this network and deletes with it.
    #[serde(default)]
    pub owned_link: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Set once `delete` has begun; a later `delete` finishes the job.
    #[serde(default)]
    pub deleting: bool,
    #[serde(default)]
    pub members: Vec<Member>,
}

impl Network {
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Remember that container `name` has `mac` (and `ip`, `container`).
    pub fn remember(
        &mut self,
        name: &str,
        mac: Mac,
        ip: Option<Ipv4Addr>,
        container: Option<String>,
    ) {
        self.members.retain(|m| m.name != name);
        self.members.push(Member {
            name: name.to_string(),
            mac,
            ip,
            container,
        });
    }
}

/// The old single file's layout (`networks.json`).
#[derive(Debug, Serialize, Deserialize)]
struct NetworkFile {
    version: u32,
    networks: Vec<Network>,
}

impl Record for Network {
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
        Network::check(self)
    }

    fn label(&self) -> String {
        label(self)
    }

    fn parse_legacy(path: &std::path::Path, bytes: &[u8]) -> Result<Vec<Network>> {
        parse(path, bytes)
    }
}

/// Every recorded network (in name order). No lock needed.
pub fn load(store: &Store) -> Result<Vec<Network>> {
    store.table::<Network>().list()
}

/// Make the records exactly `nets` (writing only what changed). Lock held.
pub fn save(store: &Store, lock: &Lock, nets: Vec<Network>) -> Result<()> {
    store.table::<Network>().save(lock, nets)
}

/// Record a network, replacing the record of its name. Lock held.
pub fn put(store: &Store, lock: &Lock, net: &Network) -> Result<()> {
    store.table::<Network>().put(lock, net)
}

/// Forget the record of network `name`; whether there was one. Lock held.
pub fn remove(store: &Store, lock: &Lock, name: &str) -> Result<bool> {
    store.table::<Network>().remove(lock, &name.to_string())
}

/// The records of a `networks.json` of these bytes (`path` names it in
/// errors), each checked (`Network::check`).
pub fn parse(path: &std::path::Path, bytes: &[u8]) -> Result<Vec<Network>> {
    let file = crate::store::decode::<NetworkFile>(path, bytes)?;
    check_records(path, &file.networks, Network::check, label)?;
    Ok(file.networks)
}

fn label(n: &Network) -> String {
    format!("name {:?}", n.name)
}

impl Network {
    /// Whether the record is one dhcpnet could have written: names and ids
    /// without control characters, valid interface names, a VID 1-4094, a
    /// date in `check::YEARS`. Returns why not.
    pub fn check(&self) -> std::result::Result<(), String> {
        check::text("name", &self.name, 255)?;
        check::text("id", &self.id, 255)?;
        check::ifname("parent", &self.parent)?;
        check::ifname("dhcp_interface", &self.dhcp_interface)?;
        if let Some(l) = &self.owned_link {
            check::ifname("owned_link", l)?;
        }
        if let Some(v) = self.vlan {
            check::vid("vlan", v)?;
        }
        check::date("created_at", &self.created_at)?;
        for m in &self.members {
            check::text("member name", &m.name, 255)?;
            if let Some(c) = &m.container {
                check::text("member container", c, 255)?;
            }
        }
        Ok(())
    }
}

/// The recorded networks on `parent` (their `-o parent=`, so `eth0.10` for
/// a VLAN network), by driver: what a host shim there has to be (the kernel
/// lets macvlan and ipvlan links share no parent).
pub fn on_parent<'a>(nets: &'a [Network], parent: &str, driver: Driver) -> Vec<&'a str> {
    nets.iter()
        .filter(|n| n.parent == parent && n.driver == driver && !n.deleting)
        .map(|n| n.name.as_str())
        .collect()
}

/// The record of network `name`, if any. No lock needed; reads one file.
pub fn find(store: &Store, name: &str) -> Result<Option<Network>> {
    store.table::<Network>().get(&name.to_string())
}

/// Lock, load, change, save (only what changed). Nothing is written if `f`
/// fails.
pub fn update<R>(store: &Store, f: impl FnOnce(&mut Vec<Network>) -> Result<R>) -> Result<R> {
    store.table::<Network>().update(f)
}

/// Change the record of `name` (if there is one): reads and writes that
/// record only.
pub fn update_one(store: &Store, name: &str, f: impl FnOnce(&mut Network)) -> Result<()> {
    let lock = store.lock()?;
    let t = store.table::<Network>();
    t.migrate(&lock)?;
    if let Some(mut n) = t.get(&name.to_string())? {
        let was = n.clone();
        f(&mut n);
        if n != was {
            t.put(&lock, &n)?;
            if n.name != was.name {
                t.remove(&lock, &was.name)?;
            }
        }
    }
    Ok(())
}

/// Whether a member record names container `id` (the full id, or a short
/// id of 12 or more characters either way round).
fn names_container(recorded: &str, id: &str) -> bool {
    !recorded.is_empty()
        && (recorded == id
            || (recorded.len() >= 12 && id.starts_with(recorded))
            || (id.len() >= 12 && recorded.starts_with(id)))
}

/// Container `id` is gone: no member record keeps its id any more (the
/// name and MAC stay, so a container re-created with that name gets its
/// address back). Returns how many records changed; nothing is written
/// (and no lock taken) when none names it.
pub fn forget_container(store: &Store, id: &str) -> Result<usize> {
    let names = |n: &Network| {
        n.members.iter().any(|m| {
            m.container
                .as_deref()
                .is_some_and(|c| names_container(c, id))
        })
    };
    if !load(store)?.iter().any(names) {
        return Ok(0);
    }
    update(store, |nets| {
        let mut changed = 0;
        for m in nets.iter_mut().flat_map(|n| n.members.iter_mut()) {
            if m.container
                .as_deref()
                .is_some_and(|c| names_container(c, id))
            {
                m.container = None;
                changed += 1;
            }
        }
        Ok(changed)
    })
}

/// Whether an interface name is an 802.1Q sub-interface (`eth0.10`), by its
/// name or by the kernel's VLAN table. Returns the VLAN id when known.
pub fn vlan_of(iface: &str) -> Option<u16> {
    if let Ok(text) = std::fs::read_to_string(format!("/proc/net/vlan/{iface}")) {
        // "eth0.10  VID: 10  REORDER_HDR: 1 ..."
        let vid = text
            .split_whitespace()
            .skip_while(|w| *w != "VID:")
            .nth(1)
            .and_then(|v| v.parse().ok());
        if vid.is_some() {
            return vid;
        }
    }
    let (base, vid) = iface.rsplit_once('.')?;
    let vid: u16 = vid.parse().ok()?;
    (!base.is_empty() && (1..=4094).contains(&vid)).then_some(vid)
}

/// The message for a VLAN parent without `--subnet`.
pub fn vlan_needs_subnet(parent: &str) -> Error {
    Error::Usage(format!(
        "{parent} is a VLAN parent and no --subnet was given: a new VLAN sub-interface can stay blocked \
         by spanning tree for up to 50 s while the switch port converges, and DHCP with it, so dhcpnet \
         does not probe the server to learn the subnet there. Give the subnet (and gateway) yourself, \
         e.g. --subnet 192.168.10.0/24 --gateway 192.168.10.1"
    ))
}

/// The record of network `name`; when dhcpnet's records lack it but Docker
/// has a network of that name with dhcpnet's labels (records lost, or made
/// on another state directory), the record is rebuilt from Docker and kept.
pub async fn lookup(store: &Store, docker: &crate::docker::Docker, name: &str) -> Result<Network> {
    if let Some(n) = find(store, name)? {
        return Ok(n);
    }
    let info = match docker.network_inspect(name).await {
        Ok(Some(i)) => i,
        Ok(None) => return Err(not_found(name)),
        Err(e) => {
            return Err(Error::NotFound(format!(
                "dhcpnet has no record of a network named {name}, and asking Docker failed ({e}); \
                 create it with `dhcpnet create {name} --parent IFACE`"
            )));
        }
    };
    let n = from_docker(&info).ok_or_else(|| {
        Error::NotFound(format!(
            "Docker's network {name} was not created by dhcpnet (it has no {} label): create one with \
             `dhcpnet create NAME --parent IFACE`",
            crate::docker::LABEL_DHCP_INTERFACE
        ))
    })?;
    log::info!(
        "rebuilt dhcpnet's record of {name} from Docker's labels (DHCP on {})",
        n.dhcp_interface
    );
    let rec = n.clone();
    update(store, |nets| {
        nets.retain(|x| x.name != rec.name);
        nets.push(rec);
        Ok(())
    })?;
    Ok(n)
}

/// A record from a Docker network carrying dhcpnet's labels.
pub fn from_docker(info: &crate::docker::NetworkInfo) -> Option<Network> {
    use crate::docker::{LABEL_DHCP_INTERFACE, LABEL_OWNED_LINK, LABEL_PARENT, LABEL_VLAN};
    let dhcp_interface = info.labels.get(LABEL_DHCP_INTERFACE)?.clone();
    let parent = info
        .options
        .get("parent")
        .or_else(|| info.labels.get(LABEL_PARENT))?
        .clone();
    let subnet: Subnet = {
        let s = info.subnet.as_deref()?;
        let (ip, len) = s.split_once('/')?;
        Subnet::new(ip.parse().ok()?, len.parse().ok()?)
    };
    Some(Network {
        name: info.name.clone(),
        id: info.id.clone(),
        parent,
        driver: if info.driver == "ipvlan" {
            Driver::Ipvlan
        } else {
            Driver::Macvlan
        },
        dhcp_interface,
        gateway: info.gateway.unwrap_or_else(|| subnet.first_usable()),
        subnet,
        vlan: info.labels.get(LABEL_VLAN).and_then(|v| v.parse().ok()),
        owned_link: info.labels.get(LABEL_OWNED_LINK).cloned(),
        created_at: Utc::now(),
        deleting: false,
        members: Vec::new(),
    })
}

pub fn not_found(name: &str) -> Error {
    Error::NotFound(format!(
        "dhcpnet knows no network named {name} (neither its records nor Docker's labels): \
         create it with `dhcpnet create {name} --parent IFACE`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s: Subnet = "10.77.0.0/24".parse().unwrap();
        assert_eq!(s.first_usable(), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 77, 0, 255));
        assert!(s.contains(Ipv4Addr::new(10, 77, 0, 200)));
        assert!(!s.contains(Ipv4Addr::new(10, 78, 0, 1)));
        assert!(
            "10.77.0.5/24"
                .parse::<Subnet>()
                .unwrap_err()
                .contains("10.77.0.0/24")
        );
        assert!("10.77.0.0".parse::<Subnet>().is_err());
        assert!("10.77.0.0/33".parse::<Subnet>().is_err());
        assert!("fe80::/64".parse::<Subnet>().is_err());
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"10.77.0.0/24\"");
        assert_eq!(
            serde_json::from_str::<Subnet>("\"10.77.0.0/24\"").unwrap(),
            s
        );
        assert_eq!(
            Subnet::new(Ipv4Addr::new(10, 1, 2, 3), 8).to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn vlan_names() {
        assert_eq!(vlan_of("eth0.10"), Some(10));
        assert_eq!(vlan_of("bond0.4094"), Some(4094));
        assert_eq!(vlan_of("eth0"), None);
        assert_eq!(vlan_of("eth0.0"), None);
        assert_eq!(vlan_of("eth0.5000"), None);
        assert_eq!(vlan_of(".10"), None);
    }

    fn sample() -> Network {
        Network {
            name: "n".into(),
            id: "x".into(),
            parent: "eth0".into(),
            driver: Driver::Macvlan,
            dhcp_interface: "eth0".into(),
            subnet: "10.0.0.0/24".parse().unwrap(),
            gateway: Ipv4Addr::new(10, 0, 0, 1),
            vlan: None,
            owned_link: None,
            created_at: Utc::now(),
            deleting: false,
            members: vec![],
        }
    }

    #[test]
    fn an_ipvlan_container_s_identity_is_the_parent_mac_and_a_client_id_stable_per_name_and_host() {
        let parent = Mac([0x02, 0x42, 0xac, 0x11, 0, 2]);
        let id = ipvlan_identity("lan", parent, Some("web"));
        assert_eq!(id.mac, parent);
        assert_eq!(id.client_id, b"\0dhcpnet:0242ac110002:lan/web".to_vec());
        assert_eq!(ipvlan_identity("lan", parent, Some("web")), id, "stable");
        let other_host = Mac([0x02, 0x42, 0xac, 0x11, 0, 3]);
        assert_ne!(
            ipvlan_client_id("lan", other_host, Some("web")),
            id.client_id
        );
        assert_ne!(ipvlan_client_id("lan", parent, Some("db")), id.client_id);
        assert_ne!(ipvlan_client_id("wan", parent, Some("web")), id.client_id);
        // Unnamed: random, never the default MAC id.
        let a = ipvlan_client_id("lan", parent, None);
        assert_ne!(a, ipvlan_client_id("lan", parent, None));
        assert_ne!(a, crate::dhcp::message::default_client_id(parent));
        // Too long for an option: cut, hashed, still distinct and valid.
        let long = "x".repeat(300);
        let l1 = ipvlan_client_id("lan", parent, Some(&long));
        let l2 = ipvlan_client_id("lan", parent, Some(&format!("{long}y")));
        assert_eq!(l1.len(), 255);
        assert_ne!(l1, l2);
        let shown = crate::dhcp::message::format_client_id(&l1);
        assert_eq!(crate::dhcp::message::parse_client_id(&shown), Ok(l1));
    }

    #[test]
    fn a_plugin_endpoint_on_a_shared_mac_pool_has_the_parent_mac_and_a_client_id_naming_its_endpoint_and_its_kind()
     {
        let parent = Mac([0x02, 0x42, 0xac, 0x11, 0, 2]);
        let endpoint = Mac([0x02, 0x42, 0x0a, 0x4d, 0, 7]);
        let id = ipvlan_plugin_identity(parent, EndpointHandle::Mac(endpoint));
        assert_eq!(id.mac, parent);
        assert_eq!(
            id.client_id,
            b"\0dhcpnet:0242ac110002:plugin:mac/02:42:0a:4d:00:07".to_vec()
        );
        assert_eq!(
            ipvlan_plugin_identity(parent, EndpointHandle::Mac(endpoint)),
            id,
            "stable"
        );
        let other =
            ipvlan_plugin_identity(parent, EndpointHandle::Mac(Mac([2, 0x42, 10, 0x4d, 0, 8])));
        assert_ne!(other.client_id, id.client_id);
        assert!(is_plugin_client_id(&id.client_id));
        // By the container's name, stable; with no handle, random.
        let web = ipvlan_plugin_identity(parent, EndpointHandle::Name("web"));
        assert_eq!(
            web.client_id,
            b"\0dhcpnet:0242ac110002:plugin:name/web".to_vec()
        );
        assert!(is_plugin_client_id(&web.client_id));
        let anon = ipvlan_plugin_identity(parent, EndpointHandle::Random);
        assert_ne!(anon, ipvlan_plugin_identity(parent, EndpointHandle::Random));
        assert!(is_plugin_client_id(&anon.client_id));
        assert!(
            anon.client_id
                .starts_with(b"\0dhcpnet:0242ac110002:plugin:random/")
        );
        // No `dhcpnet run` container's id is a plugin endpoint's: not even
        // on a network named "plugin" (the kind follows a ':', which no
        // network name holds).
        let run = ipvlan_client_id("plugin", parent, Some("web"));
        assert_ne!(run, web.client_id);
        // Older dhcpnet's untagged ids are still known for what they are.
        let old = legacy_plugin_client_ids(parent, EndpointHandle::Name("web"));
        assert_eq!(old, vec![b"\0dhcpnet:0242ac110002:plugin/web".to_vec()]);
        assert_eq!(plugin_handle(&old[0]), Some(PluginHandle::Name));
        let old = legacy_plugin_client_ids(parent, EndpointHandle::Mac(endpoint));
        assert_eq!(plugin_handle(&old[0]), Some(PluginHandle::Endpoint));
        assert!(legacy_plugin_client_ids(parent, EndpointHandle::Random).is_empty());
        // A long name: cut with SHA-256 now; the FNV-1a cut of before is
        // the legacy id.
        let long = "n".repeat(300);
        let now = ipvlan_plugin_identity(parent, EndpointHandle::Name(&long)).client_id;
        let before = &legacy_plugin_client_ids(parent, EndpointHandle::Name(&long))[0];
        assert_eq!((now.len(), before.len()), (255, 255));
        assert_ne!(&now, before);
        assert_eq!(plugin_handle(&now), Some(PluginHandle::Name));
        assert_eq!(plugin_handle(before), Some(PluginHandle::Name));
        // A name is a container's lasting identity; a MAC or a random id
        // names one endpoint.
        assert_eq!(plugin_handle(&web.client_id), Some(PluginHandle::Name));
        assert_eq!(plugin_handle(&id.client_id), Some(PluginHandle::Endpoint));
        assert_eq!(plugin_handle(&anon.client_id), Some(PluginHandle::Endpoint));
        // `dhcpnet run`'s ids on other networks are not the plugin's.
        assert!(!is_plugin_client_id(&ipvlan_client_id(
            "lan",
            parent,
            Some("web")
        )));
        assert!(!is_plugin_client_id(
            &crate::dhcp::message::default_client_id(parent)
        ));
        assert!(!is_plugin_client_id(b""));
        assert!(!is_plugin_client_id(
            b"\0dhcpnet:zz42ac110002:plugin/02:42:0a:4d:00:07"
        ));
    }

    #[test]
    fn a_record_without_a_driver_loads_as_macvlan_and_an_ipvlan_one_keeps_its_driver() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v.as_object_mut().unwrap().remove("driver");
        let old: Network = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(old.driver, Driver::Macvlan);
        v["driver"] = "ipvlan".into();
        let n: Network = serde_json::from_value(v).unwrap();
        assert_eq!(n.driver, Driver::Ipvlan);
        assert_eq!(serde_json::to_value(&n).unwrap()["driver"], "ipvlan");
    }

    #[test]
    fn network_records_with_bad_names_subnets_or_dates_are_refused_on_load_and_kept() {
        let good = serde_json::to_value(sample()).unwrap();
        let bad = |field: &str, v: serde_json::Value| {
            let mut r = good.clone();
            r[field] = v;
            r
        };
        let cases = [
            bad("name", "x".repeat(256).into()),
            bad("name", "n\u{0}".into()),
            bad("parent", "a/b".into()),
            bad("dhcp_interface", "x".repeat(16).into()),
            bad("owned_link", "eth 0".into()),
            bad("subnet", "10.0.0.0/40".into()),
            bad("subnet", "10.0.0.0".into()),
            bad("vlan", 5000.into()),
            bad("created_at", "+262000-01-01T00:00:00Z".into()),
            bad("created_at", "1969-12-31T23:59:59Z".into()),
            bad(
                "members",
                serde_json::json!([{"name": "a\u{7f}", "mac": "02:00:00:00:00:01", "ip": null, "container": null}]),
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        for (i, c) in cases.into_iter().enumerate() {
            let bytes =
                serde_json::to_vec(&serde_json::json!({"version": 1, "networks": [good, c]}))
                    .unwrap();
            std::fs::write(store.path(LEGACY), &bytes).unwrap();
            let e = load(&store).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::ExitCode::State, "case {i}");
            assert!(e.to_string().contains("networks.json"), "case {i}: {e}");
            assert_eq!(std::fs::read(store.path(LEGACY)).unwrap(), bytes);
        }
        std::fs::write(
            store.path(LEGACY),
            serde_json::to_vec(&serde_json::json!({"version": 1, "networks": [good]})).unwrap(),
        )
        .unwrap();
        assert_eq!(load(&store).unwrap().len(), 1);
    }

    #[test]
    fn members_are_remembered_by_name() {
        let mut n = sample();
        let m: Mac = "02:00:00:00:00:01".parse().unwrap();
        n.remember("web", m, None, None);
        n.remember(
            "web",
            m,
            Some(Ipv4Addr::new(10, 0, 0, 9)),
            Some("abc".into()),
        );
        assert_eq!(n.members.len(), 1);
        assert_eq!(
            n.member("web").unwrap().ip,
            Some(Ipv4Addr::new(10, 0, 0, 9))
        );
    }

    #[test]
    fn a_removed_container_is_forgotten_but_its_name_and_mac_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let full = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            forget_container(&store, full).unwrap(),
            0,
            "no file: nothing to do"
        );
        let m: Mac = "02:00:00:00:00:01".parse().unwrap();
        update(&store, |nets| {
            nets.push(sample());
            nets[0].remember("web", m, None, Some(full.into()));
            nets[0].remember("db", m, None, Some("fedcba987654".into()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            forget_container(&store, "0123").unwrap(),
            0,
            "too short an id matches nothing"
        );
        assert_eq!(forget_container(&store, "0123456789abcdef").unwrap(), 1);
        let n = find(&store, "n").unwrap().unwrap();
        assert_eq!(n.member("web").unwrap().container, None);
        assert_eq!(n.member("web").unwrap().mac, m);
        assert_eq!(
            n.member("db").unwrap().container.as_deref(),
            Some("fedcba987654")
        );
        assert_eq!(
            forget_container(&store, &format!("fedcba987654{}", "0".repeat(52))).unwrap(),
            1
        );
        assert_eq!(
            find(&store, "n")
                .unwrap()
                .unwrap()
                .member("db")
                .unwrap()
                .container,
            None
        );
    }
}
