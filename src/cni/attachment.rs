//! Who a CNI attachment is to the DHCP server, and what its lease record
//! must carry.
//!
//! An attachment is (network, CNI_CONTAINERID, CNI_IFNAME) (SPEC.md §3:
//! "(CNI_CONTAINERID, CNI_IFNAME)", per network). Its identity:
//!
//! - **Client id** (option 61): type 0 + `dhcpnet-cni:<network>/<container
//!   id>/<ifname>`, cut by `message::text_client_id` when long. Per
//!   attachment, because on ipvlan every attachment has the parent's MAC
//!   (one chaddr for all), and because it outlives the MAC: Podman's
//!   `restart` is DEL and ADD with the same container id and a new random
//!   MAC. The `dhcpnet-cni:` prefix keeps it apart from every id dhcpnet
//!   makes for Docker (`dhcpnet:<MAC>:<network>/<name>`,
//!   `dhcpnet:<MAC>:plugin/<endpoint>`) and for shims (`dhcpnet-shim:`),
//!   whatever the names. The network is in it like the reference `dhcp`
//!   plugin's `containerID/netName/ifName`: one container may have the same
//!   ifname on two networks over time. Unique on the LAN because runtimes
//!   make random 64-hex container ids (Podman, containerd, CRI-O's sandbox
//!   ids); an id chosen by hand (cnitool) is as unique as its chooser made
//!   it.
//! - **Hostname** (option 12): `ipam.hostname`, else the pod's or
//!   container's name the runtime passed (K8S_POD_NAME from Podman, Multus
//!   and kubelet; NERDCTL_CNI_DHCP_HOSTNAME from nerdctl), else the
//!   container id (its 12-character short form for a runtime's hex id),
//!   made an RFC 1123 label.
//! - **Address asked for** (option 50): what the call or config asks for
//!   (`config::asked_address`: the server must give it), else the address
//!   the attachment held before (a hint): Podman's `restart` is DEL (the
//!   lease is released) then ADD, and the new DISCOVER asks for the old
//!   address again.

use std::net::Ipv4Addr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::config::{AddressSource, ParentHint};
use crate::dhcp::message::{self, Identity};
use crate::net::mac::Mac;

/// The prefix of every CNI attachment's client id text.
pub const CLIENT_ID_PREFIX: &str = "dhcpnet-cni:";

/// The key of an attachment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AttachmentId {
    /// The network config's `name`.
    pub network: String,
    /// CNI_CONTAINERID.
    pub container_id: String,
    /// CNI_IFNAME.
    pub ifname: String,
}

/// Option 61 of attachment `id`: type 0 followed by
/// `dhcpnet-cni:<network>/<container id>/<ifname>` (no part may hold `/`:
/// the spec's name and id characters, Linux's interface names).
pub fn client_id(id: &AttachmentId) -> Vec<u8> {
    message::text_client_id(&format!(
        "{CLIENT_ID_PREFIX}{}/{}/{}",
        id.network, id.container_id, id.ifname
    ))
}

/// Whether option 61 `id` is one `client_id` made.
pub fn is_cni_client_id(id: &[u8]) -> bool {
    id.first() == Some(&0) && id[1..].starts_with(CLIENT_ID_PREFIX.as_bytes())
}

/// `raw` as a host name label (RFC 1123 §2.1: letters, digits and inner
/// hyphens, at most 63): every other character (`_`, `.`, spaces, non-ASCII)
/// becomes a hyphen, runs of hyphens one, hyphens at the ends go. None when
/// nothing is left.
pub fn label(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len().min(63));
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        if out.len() == 63 {
            break;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// The container id as a host name: a runtime's generated id (32 or more
/// hex digits) by its first 12, as `docker ps` and `podman ps` show it;
/// any other id whole, as a label.
fn id_label(container_id: &str) -> Option<String> {
    if container_id.len() >= 32 && container_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return label(&container_id[..12]);
    }
    label(container_id)
}

/// The hostname an attachment's lease is asked under: `configured`
/// (`ipam.hostname`, already checked), else the name the runtime passed in
/// CNI_ARGS, else the container id; None only when none of them has a
/// letter or digit.
pub fn hostname(
    configured: Option<&str>,
    args: &super::env::CniArgs,
    container_id: &str,
) -> Option<String> {
    if let Some(h) = configured {
        return Some(h.to_string());
    }
    [super::env::K8S_POD_NAME, super::env::NERDCTL_HOSTNAME]
        .into_iter()
        .filter_map(|k| args.get(k))
        .find_map(label)
        .or_else(|| id_label(container_id))
}

/// The DHCP identity ADD leases under: chaddr `mac` (the interface's MAC in
/// the container: its own on macvlan and bridge, the parent's on ipvlan),
/// option 61 `ipam.clientId` or the attachment's `client_id`, option 12
/// `hostname`.
pub fn identity(add: &super::Add, mac: Mac) -> Identity {
    let mut id = Identity::new(mac);
    id.client_id = add
        .network
        .ipam
        .client_id
        .clone()
        .unwrap_or_else(|| client_id(&add.id));
    id.hostname = hostname(
        add.network.ipam.hostname.as_deref(),
        &add.args,
        &add.id.container_id,
    );
    id
}

/// What dhcpnet knows of an attachment's earlier lease at ADD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prior {
    /// A record still holds a lease for the attachment: ADD without the DEL
    /// (a host crash; a DEL that failed).
    Held(Ipv4Addr),
    /// DEL released `ip` at `at` (a note the DEL left).
    Released { ip: Ipv4Addr, at: DateTime<Utc> },
}

/// How long a released address is asked for again: long past any restart,
/// short enough that an address given to someone else meanwhile is not
/// asked for for ever (asking is harmless: the server offers another).
pub const ASK_AGAIN_FOR: Duration = Duration::days(7);

/// An address for the DISCOVER to ask for (option 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRequest {
    pub ip: Ipv4Addr,
    pub source: AddressSource,
    /// The call or config asked for it: ADD fails (and releases) when the
    /// server gives another. False for a hint (the address held before).
    pub required: bool,
}

/// What ADD asks for: the address asked for by call or config, else the
/// address the attachment held (still held, or released within
/// `ASK_AGAIN_FOR` of `now`).
pub fn address_to_ask(
    asked: Option<(Ipv4Addr, AddressSource)>,
    prior: Option<Prior>,
    now: DateTime<Utc>,
) -> Option<AddressRequest> {
    if let Some((ip, source)) = asked {
        return Some(AddressRequest {
            ip,
            source,
            required: true,
        });
    }
    let ip = match prior? {
        Prior::Held(ip) => ip,
        Prior::Released { ip, at } if now - at <= ASK_AGAIN_FOR => ip,
        Prior::Released { .. } => return None,
    };
    Some(AddressRequest {
        ip,
        source: AddressSource::Previous,
        required: false,
    })
}

/// What a lease record of a CNI attachment carries beside the lease, so
/// that the daemon can renew it and DEL or GC release it from the host
/// when the container's namespace is gone (the bridge plugin deletes the
/// link before it calls IPAM DEL; a runtime may delete the namespace
/// first). The lease itself (address, MAC = chaddr, client id, server)
/// is the record's; this says where and whose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniAttachment {
    #[serde(flatten)]
    pub id: AttachmentId,
    /// CNI_NETNS at ADD: where to renew while it exists. Never a key:
    /// Podman makes a new namespace path at every start.
    pub netns: String,
    /// The host-side interface (macvlan/ipvlan `master`, the bridge,
    /// `ipam.parent`, or the default route's interface resolved at ADD):
    /// where to renew and release once the namespace is gone. None when
    /// it could not be told.
    pub parent: Option<String>,
    /// The main plugin's `type`: how the host side reaches the lease's MAC
    /// (ipvlan: the parent's own MAC; macvlan: the parent's packet tap;
    /// bridge: the bridge).
    pub plugin: String,
    /// The DISCOVER asked for broadcast replies (ipvlan): renewals from
    /// the host side must too.
    pub broadcast: bool,
    /// K8S_POD_NAMESPACE and K8S_POD_NAME, for `leases` and `doctor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
}

impl CniAttachment {
    /// The record of an ADD. The host side is the config's parent hint;
    /// for `ParentHint::DefaultRoute` the caller resolves the default
    /// route's interface (`resolved_default`).
    pub fn of_add(add: &super::Add, resolved_default: Option<&str>) -> CniAttachment {
        let parent = match &add.network.parent {
            ParentHint::Named(p) => Some(p.clone()),
            ParentHint::DefaultRoute => resolved_default.map(str::to_string),
            ParentHint::Unknown => None,
        };
        CniAttachment {
            id: add.id.clone(),
            netns: add.netns.clone(),
            parent,
            plugin: add.network.plugin.clone(),
            broadcast: add.network.wants_broadcast(),
            pod_namespace: add
                .args
                .get(super::env::K8S_POD_NAMESPACE)
                .map(str::to_string),
            pod_name: add.args.get(super::env::K8S_POD_NAME).map(str::to_string),
        }
    }
}

/// The note DEL leaves for the next ADD of the attachment (`Prior::Released`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    #[serde(flatten)]
    pub id: AttachmentId,
    pub ip: Ipv4Addr,
    pub released_at: DateTime<Utc>,
}

impl Released {
    /// Whether the note is past use (`ASK_AGAIN_FOR`): it may be dropped.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now - self.released_at > ASK_AGAIN_FOR
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::env::CniArgs;

    fn id(network: &str, container: &str, ifname: &str) -> AttachmentId {
        AttachmentId {
            network: network.into(),
            container_id: container.into(),
            ifname: ifname.into(),
        }
    }

    const PODMAN_ID: &str = "4fa2b3c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3";

    #[test]
    fn the_client_id_names_network_container_and_interface_after_its_own_prefix() {
        let cid = client_id(&id("lan", PODMAN_ID, "eth0"));
        assert_eq!(
            cid,
            [
                &[0u8][..],
                format!("dhcpnet-cni:lan/{PODMAN_ID}/eth0").as_bytes()
            ]
            .concat()
        );
        assert!(is_cni_client_id(&cid));
        // Per attachment: another interface, container or network is
        // another client, whatever MAC they share.
        assert_ne!(cid, client_id(&id("lan", PODMAN_ID, "eth1")));
        assert_ne!(cid, client_id(&id("lan2", PODMAN_ID, "eth0")));
        assert_ne!(cid, client_id(&id("lan", "c0ffee01", "eth0")));
    }

    #[test]
    fn no_cni_client_id_equals_one_dhcpnet_makes_for_docker_or_a_shim() {
        let mac: crate::net::mac::Mac = "02:42:ac:11:00:02".parse().unwrap();
        let docker = [
            crate::network::ipvlan_client_id("lan", mac, Some("web")),
            crate::network::ipvlan_plugin_identity(
                mac,
                crate::network::EndpointHandle::Name("web"),
            )
            .client_id,
            crate::links::shim::ipvlan_identity(mac, "shim0").client_id,
            message::default_client_id(mac),
        ];
        for d in &docker {
            assert!(!is_cni_client_id(d), "{d:?}");
            assert!(!crate::network::is_plugin_client_id(&client_id(&id(
                "plugin", "web", "eth0"
            ))));
        }
        assert!(!is_cni_client_id(b""));
        assert!(!is_cni_client_id(b"dhcpnet-cni:x"));
    }

    #[test]
    fn a_long_client_id_is_cut_by_dhcpnet_s_one_cut() {
        let long = id("lan", &"a".repeat(255), "eth0");
        let cid = client_id(&long);
        assert_eq!(
            cid,
            message::text_client_id(&format!("dhcpnet-cni:lan/{}/eth0", "a".repeat(255)))
        );
        assert!(cid.len() <= 255);
        assert!(is_cni_client_id(&cid));
        assert_ne!(cid, client_id(&id("lan", &"a".repeat(255), "eth1")));
    }

    #[test]
    fn names_become_rfc_1123_labels() {
        for (raw, want) in [
            ("web1", Some("web1")),
            ("my_app.v2", Some("my-app-v2")),
            ("--a__b--", Some("a-b")),
            ("Élan vital", Some("lan-vital")),
            ("___", None),
            ("", None),
        ] {
            assert_eq!(label(raw).as_deref(), want, "{raw:?}");
        }
        let long = label(&"ab-".repeat(40)).unwrap();
        assert!(long.len() <= 63 && !long.ends_with('-'), "{long}");
        for raw in ["web1", "my_app.v2", &"ab-".repeat(40), "a.b.c", "x y"] {
            if let Some(l) = label(raw) {
                assert!(message::validate_hostname(&l).is_ok(), "{l}");
                assert!(!l.contains('.'), "{l}");
            }
        }
    }

    #[test]
    fn the_hostname_is_the_configured_one_else_the_pod_or_container_name_else_the_short_id() {
        let podman = CniArgs::parse("IgnoreUnknown=1;K8S_POD_NAME=web_1").unwrap();
        let nerdctl = CniArgs::parse("NERDCTL_CNI_DHCP_HOSTNAME=db.local;IgnoreUnknown=1").unwrap();
        let none = CniArgs::default();
        assert_eq!(
            hostname(Some("fixed"), &podman, PODMAN_ID).as_deref(),
            Some("fixed")
        );
        assert_eq!(hostname(None, &podman, PODMAN_ID).as_deref(), Some("web-1"));
        assert_eq!(
            hostname(None, &nerdctl, PODMAN_ID).as_deref(),
            Some("db-local")
        );
        assert_eq!(
            hostname(None, &none, PODMAN_ID).as_deref(),
            Some("4fa2b3c1d0e9")
        );
        assert_eq!(
            hostname(None, &none, "c0ffee01").as_deref(),
            Some("c0ffee01")
        );
        assert_eq!(
            hostname(None, &none, "my_test.box").as_deref(),
            Some("my-test-box")
        );
        // A pod name of no letter or digit falls through to the id.
        let odd = CniArgs::parse("K8S_POD_NAME=___").unwrap();
        assert_eq!(hostname(None, &odd, "c1").as_deref(), Some("c1"));
        assert_eq!(hostname(None, &none, "_._").as_deref(), None);
    }

    #[test]
    fn a_restart_asks_for_the_address_held_before_and_what_was_asked_for_wins() {
        let now: DateTime<Utc> = "2026-05-01T12:00:00Z".parse().unwrap();
        let old = Ipv4Addr::new(192, 168, 77, 57);
        let asked = (Ipv4Addr::new(192, 168, 77, 60), AddressSource::CniArgs);
        let released = Prior::Released {
            ip: old,
            at: now - Duration::seconds(2),
        };
        assert_eq!(
            address_to_ask(None, Some(released), now),
            Some(AddressRequest {
                ip: old,
                source: AddressSource::Previous,
                required: false
            })
        );
        assert_eq!(
            address_to_ask(None, Some(Prior::Held(old)), now).map(|r| r.ip),
            Some(old)
        );
        assert_eq!(
            address_to_ask(Some(asked), Some(released), now),
            Some(AddressRequest {
                ip: asked.0,
                source: AddressSource::CniArgs,
                required: true
            })
        );
        let long_ago = Prior::Released {
            ip: old,
            at: now - ASK_AGAIN_FOR - Duration::seconds(1),
        };
        assert_eq!(address_to_ask(None, Some(long_ago), now), None);
        assert_eq!(address_to_ask(None, None, now), None);
        let note = Released {
            id: id("lan", "c1", "eth0"),
            ip: old,
            released_at: now - ASK_AGAIN_FOR,
        };
        assert!(!note.is_stale(now));
        assert!(note.is_stale(now + Duration::seconds(1)));
    }

    #[test]
    fn the_record_fields_serialise_flat_and_read_back() {
        let rec = CniAttachment {
            id: id("lan", "c1", "eth0"),
            netns: "/run/netns/netns-1".into(),
            parent: Some("dnlab0".into()),
            plugin: "bridge".into(),
            broadcast: false,
            pod_namespace: None,
            pod_name: Some("web1".into()),
        };
        let s = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            s,
            r#"{"network":"lan","container_id":"c1","ifname":"eth0","netns":"/run/netns/netns-1","parent":"dnlab0","plugin":"bridge","broadcast":false,"pod_name":"web1"}"#
        );
        assert_eq!(serde_json::from_str::<CniAttachment>(&s).unwrap(), rec);
    }
}
