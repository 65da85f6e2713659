//! The rtnetlink edge: create, query and delete links, tag them, and put
//! addresses and routes on them. No policy lives here (who owns what is
//! `crate::links`); every kernel error is turned into an `Error` that says
//! what failed and what to do.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoVlan, IpVlanMode, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage, MacVlanMode,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteScope,
};
use rtnetlink::{Handle, LinkIpVlan, LinkMacVlan, LinkUnspec, LinkVlan, RouteMessageBuilder};

use super::mac::Mac;
use crate::error::{Error, Result};

const CAP: &str = "CAP_NET_ADMIN";

/// What the kernel says about one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLink {
    pub name: String,
    pub index: u32,
    /// "vlan", "macvlan", "veth" ...; None for links without a kind (a NIC).
    pub kind: Option<String>,
    pub parent_index: Option<u32>,
    pub vid: Option<u16>,
    pub macvlan_mode: Option<String>,
    pub mac: Option<Mac>,
    pub alias: Option<String>,
    /// Administratively up (IFF_UP).
    pub up: bool,
}

/// The errno of a netlink failure, if it carried one.
pub fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| c.get().abs()),
        _ => None,
    }
}

fn io(e: &rtnetlink::Error) -> std::io::Error {
    match errno(e) {
        Some(n) => std::io::Error::from_raw_os_error(n),
        None => std::io::Error::other(e.to_string()),
    }
}

/// A generic mapping for failures that need no special wording.
pub fn map_err(what: &str, e: rtnetlink::Error) -> Error {
    Error::from_os(what, io(&e), CAP)
}

/// A connection to the kernel's routing netlink, in the calling thread's
/// network namespace. Needs a running tokio runtime.
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    pub fn connect() -> Result<Netlink> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Other("internal: netlink used outside the async runtime".into()))?;
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| Error::from_os("cannot open a netlink socket", e, CAP))?;
        rt.spawn(conn);
        Ok(Netlink { handle })
    }

    /// The link of that name, or None when there is none.
    pub async fn get(&self, name: &str) -> Result<Option<LiveLink>> {
        let req = self.handle.link().get().match_name(name.to_string());
        first(req, &format!("cannot look up link {name}")).await
    }

    pub async fn get_index(&self, index: u32) -> Result<Option<LiveLink>> {
        first(
            self.handle.link().get().match_index(index),
            &format!("cannot look up link #{index}"),
        )
        .await
    }

    /// Name of the link with that index, if any.
    pub async fn name_of(&self, index: u32) -> Result<Option<String>> {
        Ok(self.get_index(index).await?.map(|l| l.name))
    }

    /// Create a VLAN sub-interface (down, untagged by alias yet). Returns the
    /// kernel's error untouched so the caller can word it.
    pub async fn add_vlan(
        &self,
        name: &str,
        parent_index: u32,
        vid: u16,
    ) -> std::result::Result<(), rtnetlink::Error> {
        self.handle
            .link()
            .add(LinkVlan::new(name, parent_index, vid).build())
            .execute()
            .await
    }

    /// Create a macvlan link in bridge mode with the given MAC (down).
    pub async fn add_macvlan(
        &self,
        name: &str,
        parent_index: u32,
        mac: Mac,
    ) -> std::result::Result<(), rtnetlink::Error> {
        self.handle
            .link()
            .add(
                LinkMacVlan::new(name, parent_index, MacVlanMode::Bridge)
                    .address(mac.0.to_vec())
                    .build(),
            )
            .execute()
            .await
    }

    /// Create an ipvlan link in L2 mode (down). It has the parent's MAC: L2
    /// because the shim must ARP and take its address by DHCP like the
    /// containers beside it; L3 would route, with no broadcast at all.
    pub async fn add_ipvlan(
        &self,
        name: &str,
        parent_index: u32,
    ) -> std::result::Result<(), rtnetlink::Error> {
        self.handle
            .link()
            .add(LinkIpVlan::new(name, parent_index, IpVlanMode::L2).build())
            .execute()
            .await
    }

    /// Set IFLA_IFALIAS (the kernel only takes it on an existing link).
    pub async fn set_alias(&self, index: u32, alias: &str) -> Result<()> {
        self.handle
            .link()
            .change(LinkUnspec::new_with_index(index).alias(alias).build())
            .execute()
            .await
            .map_err(|e| map_err("cannot tag the link with an alias", e))
    }

    pub async fn set_up(&self, index: u32) -> Result<()> {
        self.handle
            .link()
            .change(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| match errno(&e) {
                Some(libc::EADDRINUSE) => Error::Interface(
                    "cannot bring the link up: another macvlan on the same parent already uses its MAC address".into(),
                ),
                _ => map_err("cannot bring the link up", e),
            })
    }

    pub async fn delete(&self, index: u32) -> Result<()> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(map_err("cannot delete the link", e)),
        }
    }

    /// IPv4 addresses on a link, with their prefix lengths.
    pub async fn addresses(&self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>> {
        let mut s = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut out = Vec::new();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(|e| map_err("cannot list addresses", e))?
        {
            if m.header.index != index {
                continue;
            }
            for a in &m.attributes {
                if let AddressAttribute::Local(IpAddr::V4(ip)) = a {
                    out.push((*ip, m.header.prefix_len));
                }
            }
        }
        Ok(out)
    }

    /// Add an address; one that is already there is fine.
    pub async fn add_address(&self, index: u32, ip: Ipv4Addr, prefix_len: u8) -> Result<()> {
        match self
            .handle
            .address()
            .add(index, IpAddr::V4(ip), prefix_len)
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(map_err(&format!("cannot add address {ip}/{prefix_len}"), e)),
        }
    }

    /// Remove an address; one that is gone already is fine.
    pub async fn del_address(&self, index: u32, ip: Ipv4Addr) -> Result<()> {
        let mut s = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(|e| map_err("cannot list addresses", e))?
        {
            let has = m
                .attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Local(IpAddr::V4(x)) if *x == ip));
            if m.header.index == index && has {
                return match self.handle.address().del(m).execute().await {
                    Ok(()) => Ok(()),
                    Err(e) if errno(&e) == Some(libc::EADDRNOTAVAIL) => Ok(()),
                    Err(e) => Err(map_err(&format!("cannot remove address {ip}"), e)),
                };
            }
        }
        Ok(())
    }

    fn host_route(ip: Ipv4Addr, index: u32) -> RouteMessage {
        RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(ip, 32)
            .output_interface(index)
            .scope(RouteScope::Link)
            .build()
    }

    /// Route `ip/32` out of link `index`; an existing identical route is fine.
    pub async fn add_host_route(&self, ip: Ipv4Addr, index: u32) -> Result<()> {
        match self
            .handle
            .route()
            .add(Self::host_route(ip, index))
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(map_err(&format!("cannot add the route to {ip}/32"), e)),
        }
    }

    pub async fn del_host_route(&self, ip: Ipv4Addr, index: u32) -> Result<()> {
        match self
            .handle
            .route()
            .del(Self::host_route(ip, index))
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(libc::ESRCH) | Some(libc::ENODEV)) => Ok(()),
            Err(e) => Err(map_err(&format!("cannot remove the route to {ip}/32"), e)),
        }
    }

    /// The /32 routes of the main table that leave through link `index`.
    pub async fn host_routes(&self, index: u32) -> Result<Vec<Ipv4Addr>> {
        let mut s = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute();
        let mut out = Vec::new();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(|e| map_err("cannot list routes", e))?
        {
            if m.header.destination_prefix_length != 32
                || m.header.table != RouteHeader::RT_TABLE_MAIN
            {
                continue;
            }
            let oif = m.attributes.iter().find_map(|a| {
                if let RouteAttribute::Oif(i) = a {
                    Some(*i)
                } else {
                    None
                }
            });
            let dst = m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                _ => None,
            });
            if let (Some(i), Some(ip)) = (oif, dst)
                && i == index
            {
                out.push(ip);
            }
        }
        Ok(out)
    }
}

/// The one link a by-name or by-index request answers; ENODEV is None.
async fn first(req: rtnetlink::LinkGetRequest, what: &str) -> Result<Option<LiveLink>> {
    let mut s = req.execute();
    match s.try_next().await {
        Ok(m) => Ok(m.as_ref().map(parse_link)),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(map_err(what, e)),
    }
}

fn parse_link(m: &LinkMessage) -> LiveLink {
    let mut l = LiveLink {
        name: String::new(),
        index: m.header.index,
        kind: None,
        parent_index: None,
        vid: None,
        macvlan_mode: None,
        mac: None,
        alias: None,
        up: m.header.flags.contains(LinkFlags::Up),
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Link(i) => l.parent_index = Some(*i),
            LinkAttribute::IfAlias(s) => l.alias = Some(s.clone()),
            LinkAttribute::Address(b) if b.len() == 6 => {
                let mut a = [0u8; 6];
                a.copy_from_slice(b);
                l.mac = Some(Mac(a));
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => l.kind = Some(kind_name(k)),
                        LinkInfo::Data(InfoData::Vlan(v)) => {
                            l.vid = v.iter().find_map(|x| {
                                if let InfoVlan::Id(id) = x {
                                    Some(*id)
                                } else {
                                    None
                                }
                            })
                        }
                        LinkInfo::Data(InfoData::MacVlan(v)) => {
                            l.macvlan_mode = v.iter().find_map(|x| {
                                if let InfoMacVlan::Mode(m) = x {
                                    Some(format!("{m:?}").to_lowercase())
                                } else {
                                    None
                                }
                            })
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    l
}

fn kind_name(k: &InfoKind) -> String {
    k.to_string()
}
