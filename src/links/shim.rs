//! The host shim: in macvlan bridge mode and in ipvlan L2 mode alike the
//! parent cannot reach its own children. A shim is an owned sibling of the
//! containers on the same parent (macvlan bridge, or ipvlan L2): it takes an
//! address by DHCP (an ordinary recorded lease, renewed like the others),
//! carries it as a /32, and every address leased on the parent gets a /32
//! route through it, so traffic from the host to a container leaves through
//! a sibling and the driver delivers it.
//!
//! A macvlan shim has a MAC of its own and takes its lease on itself. An
//! ipvlan shim shares the parent's MAC, so its lease is taken on the parent
//! like an ipvlan container's (`network::ipvlan_identity`), with a client id
//! of its own (`ipvlan_identity` here) that keeps its record apart from the
//! containers' on the same MAC.
//!
//! Routes follow the leases through `RouteSync`, the lease layer's
//! "leases changed" hook.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use chrono::Utc;
use futures::future::BoxFuture;
use serde::Serialize;

use crate::dhcp::message::{self, Identity};
use crate::dhcp::reply;
use crate::dhcp::transport::{self, Options};
use crate::error::{Error, Result};
use crate::lease::{self, Lease, LeaseKey, LeasesChanged, Ledger, Status};
use crate::links::{self, Kind, LinkRecord, LinkState, LinkStatus, Ownership};
use crate::net::iface::Interface;
use crate::net::link::Netlink;
use crate::net::mac::Mac;
use crate::store::Store;

/// The DHCP identity of the ipvlan shim `shim` on a parent with MAC
/// `parent_mac`: that MAC in chaddr (the slave shares it) and option 61 =
/// type 0 followed by `dhcpnet-shim:<parent MAC, 12 hex digits>:<shim name>`.
///
/// Why this form: like a container's (`network::ipvlan_identity`) it is
/// stable (a shim deleted and added again gets its address back), unique on
/// the LAN and readable at the server; its own prefix means no container's
/// id can ever equal it, whatever the network and container names (with
/// `dhcpnet:<MAC>:shim/<name>` a network called `shim` could hold one).
pub fn ipvlan_identity(parent_mac: Mac, shim: &str) -> Identity {
    let mut id = Identity::new(parent_mac);
    id.client_id = message::text_client_id(&format!("dhcpnet-shim:{}:{shim}", parent_mac.hex()));
    id
}

/// Where the shim `rec` takes its lease and who it is there: a macvlan
/// shim on itself with its own MAC, an ipvlan shim on its parent with the
/// parent's MAC and its own client id. None for a record without a MAC.
pub fn lease_place(rec: &LinkRecord) -> Option<(&str, Identity)> {
    let mac = rec.mac?;
    Some(match rec.kind {
        Kind::Ipvlan => (rec.parent.as_str(), ipvlan_identity(mac, &rec.name)),
        _ => (rec.name.as_str(), Identity::new(mac)),
    })
}

/// The key of the shim's lease record.
pub fn lease_key(rec: &LinkRecord) -> Option<LeaseKey> {
    lease_place(rec).map(|(iface, id)| LeaseKey::of(iface, &id))
}

/// The addresses that should be routed through the shims on `parent`:
/// every bound, unexpired lease recorded on that interface whose address is
/// a unicast host address inside `subnet` (the shim's own network, when it
/// has a lease) and inside the subnet recorded with the lease. A record that
/// says otherwise (a forged ACK, a hand-edited file) must never turn into a
/// host route for an address elsewhere, 1.1.1.1 say, out of the shim.
pub fn wanted_routes(
    leases: &[Lease],
    parent: &str,
    own: &[Ipv4Addr],
    subnet: Option<(Ipv4Addr, u8)>,
) -> BTreeSet<Ipv4Addr> {
    let now = Utc::now();
    let inside = |ip: Ipv4Addr, (net, prefix): (Ipv4Addr, u8)| {
        let mask = u32::from(message::prefix_to_mask(prefix));
        u32::from(ip) & mask == u32::from(net) & mask
    };
    leases
        .iter()
        .filter(|l| l.interface == parent && l.status == Status::Bound && !l.is_expired(now))
        .filter(|l| reply::is_unicast(l.ip) && l.prefix_len >= reply::MIN_PREFIX)
        .filter(|l| {
            inside(l.ip, (l.ip, l.prefix_len)) && message::subnet_of(l.ip, l.prefix_len) == l.subnet
        })
        .filter(|l| subnet.is_none_or(|s| inside(l.ip, s)))
        .map(|l| l.ip)
        .filter(|ip| !own.contains(ip))
        .collect()
}

pub fn shim_lease<'a>(leases: &'a [Lease], rec: &LinkRecord) -> Option<&'a Lease> {
    let key = lease_key(rec)?;
    leases.iter().find(|l| l.has_key(&key))
}

/// Bring the /32 routes of every shim (on `parent`, or all) in line with
/// the recorded leases. Cheap when there is no shim: no netlink at all.
pub async fn sync_routes(store: &Store, parent: Option<&str>) -> Result<()> {
    let shims: Vec<LinkRecord> = links::load(store)?
        .into_iter()
        .filter(|r| r.shim && parent.is_none_or(|p| r.parent == p))
        .collect();
    if shims.is_empty() {
        return Ok(());
    }
    let leases = lease::load(store)?;
    let nl = Netlink::connect()?;
    let own: Vec<Ipv4Addr> = shims
        .iter()
        .filter_map(|r| shim_lease(&leases, r))
        .map(|l| l.ip)
        .collect();
    for r in &shims {
        let Some(live) = nl.get(&r.name).await? else {
            continue;
        };
        if live.alias.as_deref() != Some(r.tag().as_str()) {
            log::warn!(
                "{} is not the shim dhcpnet made (no dhcpnet tag); its routes are left alone",
                r.name
            );
            continue;
        }
        let subnet = shim_lease(&leases, r).map(|l| (l.ip, l.prefix_len));
        let want = wanted_routes(&leases, &r.parent, &own, subnet);
        let have: BTreeSet<Ipv4Addr> = nl.host_routes(live.index).await?.into_iter().collect();
        for ip in want.difference(&have) {
            nl.add_host_route(*ip, live.index).await?;
            log::info!("route {ip}/32 via shim {}", r.name);
        }
        for ip in have.difference(&want) {
            nl.del_host_route(*ip, live.index).await?;
            log::info!("removed route {ip}/32 via shim {}", r.name);
        }
    }
    Ok(())
}

/// The hook that keeps shim routes current whenever leases on an interface
/// are taken, given back or lost (`lease::Ledger::with_hook`). A failure
/// here must not undo the lease, so it is only reported.
pub struct RouteSync;

impl LeasesChanged for RouteSync {
    fn leases_changed<'a>(&'a self, store: &'a Store, interface: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = sync_routes(store, Some(interface)).await {
                log::warn!(
                    "could not update the shim routes for {interface}: {e}; `dhcpnet restore` retries"
                );
            }
        })
    }
}

/// Put the shim's leased address (as a /32) back on every shim link that
/// exists, then sync routes. Used by `restore`.
pub async fn restore_shims(store: &Store) -> Result<()> {
    let shims: Vec<LinkRecord> = links::load(store)?.into_iter().filter(|r| r.shim).collect();
    if shims.is_empty() {
        return Ok(());
    }
    let leases = lease::load(store)?;
    let nl = Netlink::connect()?;
    for r in &shims {
        let Some(live) = nl.get(&r.name).await? else {
            continue;
        };
        if live.alias.as_deref() != Some(r.tag().as_str()) {
            continue;
        }
        match shim_lease(&leases, r) {
            Some(l) if !l.is_expired(Utc::now()) => nl.add_address(live.index, l.ip, 32).await?,
            Some(l) => log::warn!(
                "the lease of shim {} ({}) has expired: renew it with `dhcpnet renew --ip {}`, then run restore again",
                r.name,
                l.ip,
                l.ip
            ),
            None => log::warn!(
                "shim {} has no recorded lease: remove it and add it again",
                r.name
            ),
        }
    }
    sync_routes(store, None).await
}

#[derive(Debug, Serialize)]
pub struct ShimView {
    #[serde(flatten)]
    pub status: LinkStatus,
    /// The shim's own leased address.
    pub ip: Option<Ipv4Addr>,
    /// Addresses routed through the shim now.
    pub routes: Vec<Ipv4Addr>,
}

/// The shims (all, or the one named), with their address and routes now.
pub async fn view(store: &Store, name: &str) -> Result<Vec<ShimView>> {
    let leases = lease::load(store)?;
    let rows: Vec<LinkStatus> = links::status(store)
        .await?
        .into_iter()
        .filter(|s| s.record.shim && (name.is_empty() || s.record.name == name))
        .collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let nl = Netlink::connect()?;
    let mut out = Vec::new();
    for s in rows {
        let routes = match (s.exists, s.current_ifindex, &s.state) {
            (true, Some(i), LinkState::Owned) => nl.host_routes(i).await?,
            _ => Vec::new(),
        };
        let ip = shim_lease(&leases, &s.record).map(|l| l.ip);
        out.push(ShimView {
            status: s,
            ip,
            routes,
        });
    }
    Ok(out)
}

/// What `shim add` asks for.
#[derive(Debug, Clone)]
pub struct ShimRequest {
    pub parent: String,
    pub name: Option<String>,
    /// `Kind::Macvlan` or `Kind::Ipvlan`: the driver of the containers the
    /// shim is for (the kernel lets only one of the two on a parent).
    pub kind: Kind,
    /// macvlan only: an ipvlan shim has the parent's.
    pub mac: Option<Mac>,
    pub hostname: Option<String>,
    pub timeout: std::time::Duration,
}

/// Make the shim on `a.parent`: the link, its lease, its /32, the routes.
/// A failure undoes what was made.
pub async fn add(ledger: &Ledger, a: &ShimRequest) -> Result<ShimView> {
    crate::net::iface::validate_name(&a.parent)?;
    match (a.kind, a.mac) {
        (Kind::Vlan, _) => {
            return Err(Error::Other(
                "internal: a shim is a macvlan or ipvlan link, not a VLAN".into(),
            ));
        }
        (Kind::Ipvlan, Some(_)) => {
            return Err(Error::Usage(
                "an ipvlan shim has its parent's MAC (ipvlan links share it): leave out --mac, \
                 or use --driver macvlan"
                    .into(),
            ));
        }
        _ => {}
    }
    let name = links::link_name(a.name.as_deref(), &format!("shim-{}", a.parent))?;
    if let Some(r) = links::load(&ledger.store)?
        .into_iter()
        .find(|r| r.shim && r.parent == a.parent)
    {
        return Err(Error::Conflict(format!(
            "{} already has a shim, {}: one is enough (`dhcpnet shim list`)",
            a.parent, r.name
        )));
    }
    // The parent must be usable before anything is created.
    Interface::lookup(&a.parent)?;
    let rec = links::add_slave(&ledger.store, &a.parent, &name, a.kind, a.mac, true).await?;
    match setup(ledger, &rec, a).await {
        Ok(()) => {}
        Err(e) => {
            if let Err(e2) = teardown(ledger, &rec, false).await {
                log::error!("could not undo the half-made shim {}: {e2}", rec.name);
            }
            return Err(e);
        }
    }
    let mut rows = view(&ledger.store, &rec.name).await?;
    if rows.is_empty() {
        return Err(Error::Other(format!(
            "shim {} vanished right after it was made",
            rec.name
        )));
    }
    Ok(rows.remove(0))
}

async fn setup(ledger: &Ledger, rec: &LinkRecord, a: &ShimRequest) -> Result<()> {
    let (on, mut id) = lease_place(rec)
        .ok_or_else(|| Error::Other(format!("the record of {} has no MAC", rec.name)))?;
    let link = Interface::lookup(&rec.name)?;
    let place = lease::Place {
        iface: Interface::lookup(on)?,
        network: None,
    };
    id.hostname = a.hostname.clone();
    let opts = Options {
        timeout: a.timeout,
        ..Options::default()
    };
    let (granted, failed) = lease::acquire(ledger, &place, vec![id], None, &opts, false).await?;
    let Some(l) = granted.into_iter().next() else {
        if let Some((_, e)) = failed.into_iter().next() {
            return Err(e);
        }
        return Err(Error::NoAnswer(format!(
            "no lease for the shim {}",
            rec.name
        )));
    };
    let nl = Netlink::connect()?;
    nl.add_address(link.index, l.ip, 32).await?;
    log::info!(
        "shim {} has {} (lease from {})",
        rec.name,
        l.ip,
        l.server_id
    );
    sync_routes(&ledger.store, Some(&rec.parent)).await
}

/// Undo a shim: its routes, its address, its lease (RELEASE), its link.
/// Routes and address are only touched on the link dhcpnet made; with
/// `force` a link that is no longer dhcpnet's is deleted all the same.
async fn teardown(ledger: &Ledger, rec: &LinkRecord, force: bool) -> Result<()> {
    let nl = Netlink::connect()?;
    let live = nl
        .get(&rec.name)
        .await?
        .filter(|l| l.alias.as_deref() == Some(rec.tag().as_str()));
    if let Some(l) = &live {
        for ip in nl.host_routes(l.index).await? {
            nl.del_host_route(ip, l.index).await?;
        }
    }
    let leases = lease::load(&ledger.store)?;
    if let Some(l) = shim_lease(&leases, rec).cloned() {
        if let Some(link) = &live {
            nl.del_address(link.index, l.ip).await?;
        }
        // RELEASE where the lease was taken (a macvlan shim: itself; if it
        // is gone, the parent: the frame carries the lease's MAC either way).
        let iface = Interface::lookup(&l.interface).or_else(|_| Interface::lookup(&rec.parent));
        let sent = match iface {
            Ok(i) => transport::release_all(&i, &[l.release_of()]).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            log::warn!(
                "could not send DHCPRELEASE for {} ({e}); the server frees it when it expires",
                l.ip
            );
        }
        lease::update(&ledger.store, |all| {
            all.retain(|x| !x.same_key(&l));
            Ok(())
        })?;
    }
    links::delete_kind(&ledger.store, &rec.name, force, Some(rec.kind)).await
}

/// Undo the shim `name`: routes, address, lease, link. `force` deletes a
/// link that is no longer dhcpnet's all the same.
pub async fn delete(ledger: &Ledger, name: &str, force: bool) -> Result<()> {
    let recs = links::load(&ledger.store)?;
    let Some(rec) = recs.iter().find(|r| r.name == name && r.shim).cloned() else {
        if recs.iter().any(|r| r.name == name) {
            return Err(Error::Usage(format!(
                "{} is not a shim; remove it with `dhcpnet vlan del {}`",
                name, name
            )));
        }
        if force {
            // Unrecorded: what it is now decides which kind may go.
            let live = Netlink::connect()?.get(name).await?;
            let kind = match live.and_then(|l| l.kind).as_deref() {
                Some("ipvlan") => Kind::Ipvlan,
                _ => Kind::Macvlan,
            };
            return links::delete_kind(&ledger.store, name, true, Some(kind)).await;
        }
        return Err(Error::NotFound(format!(
            "dhcpnet has no shim named {}; `dhcpnet shim list` shows the ones it has",
            name
        )));
    };
    let nl = Netlink::connect()?;
    let (own, _) = links::ownership(&nl, &recs, &rec.name).await?;
    if matches!(own, Ownership::Mismatch(_) | Ownership::Foreign) && !force {
        // Let the common rule word the refusal.
        return links::delete_kind(&ledger.store, &rec.name, false, Some(rec.kind)).await;
    }
    teardown(ledger, &rec, force).await?;
    log::info!("removed shim {}", rec.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(ip: &str, prefix: u8, subnet: &str) -> Lease {
        let soon = Utc::now() + chrono::Duration::seconds(600);
        serde_json::from_value(serde_json::json!({
            "ip": ip, "prefix_len": prefix, "subnet": subnet, "mac": "02:00:00:00:00:01",
            "gateway": null, "dns": [], "domain": null, "server_id": "10.0.0.1",
            "lease_time": 600, "renewal_time": 300, "rebinding_time": 525,
            "obtained_at": Utc::now(), "expires_at": soon, "hostname": null,
            "client_id": "01:02:00:00:00:00:01", "interface": "eth0", "network": null
        }))
        .expect("a valid record")
    }

    const PARENT_MAC: Mac = Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);

    /// A lease of `id` on `interface`, 10.0.0.0/24.
    fn lease_of(ip: &str, interface: &str, id: &Identity) -> Lease {
        let mut l = lease(ip, 24, "10.0.0.0/24");
        l.interface = interface.into();
        l.mac = id.mac;
        l.client_id = message::format_client_id(&id.client_id);
        l
    }

    /// An ipvlan container's identity, as `network::ipvlan_identity` makes it.
    fn container(name: &str) -> Identity {
        let mut id = Identity::new(PARENT_MAC);
        id.client_id = message::text_client_id(&format!("dhcpnet:0242ac110002:lan/{name}"));
        id
    }

    fn shim_rec(kind: Kind, name: &str, mac: Mac) -> LinkRecord {
        LinkRecord {
            name: name.into(),
            ifindex: 9,
            kind,
            parent: "eth0".into(),
            vid: None,
            mac: Some(mac),
            mode: None,
            shim: true,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn an_ipvlan_shim_has_the_parent_mac_and_a_client_id_of_its_own_stable_per_shim() {
        let id = ipvlan_identity(PARENT_MAC, "shim-eth0");
        assert_eq!(id.mac, PARENT_MAC);
        assert_eq!(
            id.client_id,
            [&[0u8][..], b"dhcpnet-shim:0242ac110002:shim-eth0"].concat()
        );
        assert_eq!(ipvlan_identity(PARENT_MAC, "shim-eth0"), id, "stable");
        assert_ne!(ipvlan_identity(PARENT_MAC, "shim0").client_id, id.client_id);
        let other_host = Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x03]);
        assert_ne!(
            ipvlan_identity(other_host, "shim-eth0").client_id,
            id.client_id
        );
        // Not a hardware id: the record is keyed by it, apart from the MAC's.
        assert!(LeaseKey::of("eth0", &id).client_id.is_some());
        // No container name on any network gives the shim's id: a network
        // called "shim" holding a container named like the shim included.
        assert_ne!(
            message::text_client_id("dhcpnet:0242ac110002:shim/shim-eth0"),
            id.client_id
        );
    }

    #[test]
    fn an_ipvlan_shim_finds_its_lease_on_the_parent_among_the_containers_on_its_mac() {
        let rec = shim_rec(Kind::Ipvlan, "shim-eth0", PARENT_MAC);
        let own = lease_of(
            "10.0.0.2",
            "eth0",
            &ipvlan_identity(PARENT_MAC, "shim-eth0"),
        );
        let leases = vec![
            lease_of("10.0.0.50", "eth0", &container("web")),
            lease_of("10.0.0.51", "eth0", &container("db")),
            // The parent's own MAC-keyed lease (a host DHCP client, say).
            lease_of("10.0.0.9", "eth0", &Identity::new(PARENT_MAC)),
            own.clone(),
        ];
        assert_eq!(shim_lease(&leases, &rec), Some(&own));
        let (on, id) = lease_place(&rec).expect("a place");
        assert_eq!((on, id.mac), ("eth0", PARENT_MAC));
        assert_eq!(lease_key(&rec), Some(own.key()));
        // Another shim name on the same parent is another client.
        let renamed = shim_rec(Kind::Ipvlan, "shim0", PARENT_MAC);
        assert_eq!(shim_lease(&leases, &renamed), None);
        // A macvlan shim's lease is on the shim itself, by its own MAC.
        let mac = Mac([0x02, 0, 0, 0, 0, 0x99]);
        let mv = shim_rec(Kind::Macvlan, "shim-eth0", mac);
        let mv_own = lease_of("10.0.0.3", "shim-eth0", &Identity::new(mac));
        assert_eq!(
            shim_lease(&[own.clone(), mv_own.clone()], &mv),
            Some(&mv_own)
        );
        assert_eq!(lease_place(&mv).map(|(on, _)| on), Some("shim-eth0"));
        let no_mac = LinkRecord { mac: None, ..rec };
        assert_eq!(shim_lease(&leases, &no_mac), None);
    }

    #[test]
    fn an_ipvlan_shim_routes_the_containers_client_id_leases_on_the_parent_but_not_its_own() {
        let rec = shim_rec(Kind::Ipvlan, "shim-eth0", PARENT_MAC);
        let mut elsewhere = lease_of("10.0.0.60", "eth1", &container("far"));
        elsewhere.network = Some("other".into());
        let leases = vec![
            lease_of("10.0.0.50", "eth0", &container("web")),
            lease_of("10.0.0.51", "eth0", &container("db")),
            lease_of(
                "10.0.0.2",
                "eth0",
                &ipvlan_identity(PARENT_MAC, "shim-eth0"),
            ),
            elsewhere,
        ];
        let me = shim_lease(&leases, &rec).expect("the shim's lease");
        let want = wanted_routes(&leases, "eth0", &[me.ip], Some((me.ip, me.prefix_len)));
        assert_eq!(
            want.into_iter().collect::<Vec<_>>(),
            vec![Ipv4Addr::new(10, 0, 0, 50), Ipv4Addr::new(10, 0, 0, 51)]
        );
    }

    #[test]
    fn shim_routes_are_only_for_unicast_addresses_inside_the_network() {
        let leases = vec![
            lease("10.0.0.50", 24, "10.0.0.0/24"),
            lease("1.1.1.1", 24, "10.0.0.0/24"),
            lease("1.1.1.1", 32, "1.1.1.1/32"),
            lease("255.255.255.255", 24, "255.255.255.0/24"),
            lease("10.0.0.60", 0, "0.0.0.0/0"),
        ];
        let shim_net = Some((Ipv4Addr::new(10, 0, 0, 2), 24));
        let want = wanted_routes(&leases, "eth0", &[], shim_net);
        assert_eq!(
            want.into_iter().collect::<Vec<_>>(),
            vec![Ipv4Addr::new(10, 0, 0, 50)]
        );
        let without_shim_lease = wanted_routes(&leases, "eth0", &[], None);
        assert!(!without_shim_lease.contains(&Ipv4Addr::new(255, 255, 255, 255)));
        assert!(!without_shim_lease.contains(&Ipv4Addr::new(10, 0, 0, 60)));
    }
}
