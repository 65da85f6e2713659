//! Docker's IPAM remote API: the requests and answers, and every decision
//! that needs no network (pool identifiers, subnet checks, the gateway,
//! recognising a discovered pool the engine refused). Pure and unit-tested;
//! `plugin` does the I/O.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

pub use crate::net::subnet::Subnet;

pub const MAC_OPTION: &str = "com.docker.network.endpoint.macaddress";
/// The container's name, which engines since moby/moby#50586 (2025) send
/// with every RequestAddress.
pub const ENDPOINT_NAME_OPTION: &str = "com.docker.network.endpoint.name";
pub const ADDRESS_TYPE_OPTION: &str = "RequestAddressType";
pub const GATEWAY_TYPE: &str = "com.docker.network.gateway";
pub const INTERFACE_OPTION: &str = "dhcp_interface";
/// `--ipam-opt dhcp_shared_mac=true`: every container of the network
/// shares the DHCP interface's MAC (ipvlan), see `SharedMac`.
pub const SHARED_MAC_OPTION: &str = "dhcp_shared_mac";
/// The PoolID's last field on a shared-MAC pool.
const SHARED_MAC_TAG: &str = "shared-mac";
pub const LOCAL_SPACE: &str = "dhcpnet-local";
pub const GLOBAL_SPACE: &str = "dhcpnet-global";

/// The calls of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Activate,
    Capabilities,
    AddressSpaces,
    RequestPool,
    ReleasePool,
    RequestAddress,
    ReleaseAddress,
}

pub fn route(path: &str) -> Option<Call> {
    Some(match path {
        "/Plugin.Activate" => Call::Activate,
        "/IpamDriver.GetCapabilities" => Call::Capabilities,
        "/IpamDriver.GetDefaultAddressSpaces" => Call::AddressSpaces,
        "/IpamDriver.RequestPool" => Call::RequestPool,
        "/IpamDriver.ReleasePool" => Call::ReleasePool,
        "/IpamDriver.RequestAddress" => Call::RequestAddress,
        "/IpamDriver.ReleaseAddress" => Call::ReleaseAddress,
        _ => return None,
    })
}

/// The IPAM driver whose pools are all shared-MAC: its socket is
/// `IPVLAN_DRIVER.sock` beside the `dhcpnet` driver's.
pub const IPVLAN_DRIVER: &str = "dhcpnet-ipvlan";

/// The answers that need no work. `requires_mac`: whether the driver asks
/// the engine for each endpoint's MAC (`dhcpnet`, for macvlan); Docker's
/// ipvlan driver refuses an endpoint that has one, so `dhcpnet-ipvlan`
/// does not.
pub fn fixed_answer(c: Call, requires_mac: bool) -> Option<Value> {
    match c {
        Call::Activate => Some(json!({"Implements": ["IpamDriver"]})),
        Call::Capabilities => {
            Some(json!({"RequiresMACAddress": requires_mac, "RequiresRequestReplay": false}))
        }
        Call::AddressSpaces => Some(
            json!({"LocalDefaultAddressSpace": LOCAL_SPACE, "GlobalDefaultAddressSpace": GLOBAL_SPACE}),
        ),
        _ => None,
    }
}

pub fn error(msg: impl std::fmt::Display) -> Value {
    json!({ "Error": msg.to_string() })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PoolRequest {
    pub address_space: String,
    pub pool: String,
    pub sub_pool: String,
    pub options: Option<HashMap<String, String>>,
    #[serde(rename = "V6")]
    pub v6: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddressRequest {
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    pub address: String,
    pub options: Option<HashMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReleaseAddressRequest {
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    pub address: String,
}

pub fn decode<'a, T: Deserialize<'a>>(body: &'a [u8], call: &str) -> Result<T, String> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| format!("dhcpnet could not read the engine's {call} request ({e})"))
}

/// What the engine hands back on every later call: everything a handler
/// needs, so that the plugin keeps no state of its own across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolId {
    pub iface: String,
    pub subnet: Subnet,
    /// The DHCP server's router, if it named one.
    pub router: Option<Ipv4Addr>,
    /// Every container shares the DHCP interface's MAC (ipvlan): leases
    /// carry that MAC and a client id per endpoint (`SharedMac`).
    pub shared_mac: bool,
}

impl PoolId {
    /// `dhcpnet:IFACE:SUBNET:ROUTER`, and `:shared-mac` on a shared-MAC
    /// pool. Interface names cannot hold ':' (the kernel refuses them), so
    /// the fields cannot run into each other; other pools keep the form
    /// older dhcpnet made, so networks created before still work.
    pub fn encode(&self) -> String {
        format!(
            "dhcpnet:{}:{}:{}{}",
            self.iface,
            self.subnet,
            self.router.map(|r| r.to_string()).unwrap_or_default(),
            if self.shared_mac {
                format!(":{SHARED_MAC_TAG}")
            } else {
                String::new()
            }
        )
    }

    pub fn decode(s: &str) -> Result<PoolId, String> {
        let bad = || {
            format!(
                "the pool {s:?} was not made by this dhcpnet; recreate the network with `docker network create --ipam-driver dhcpnet ...`"
            )
        };
        let mut p = s.split(':');
        if p.next() != Some("dhcpnet") {
            return Err(bad());
        }
        let (Some(iface), Some(subnet), Some(router)) = (p.next(), p.next(), p.next()) else {
            return Err(bad());
        };
        let shared_mac = match (p.next(), p.next()) {
            (None, _) => false,
            (Some(SHARED_MAC_TAG), None) => true,
            _ => return Err(bad()),
        };
        let subnet = Subnet::parse_normalised(subnet).map_err(|_| bad())?;
        let router = if router.is_empty() {
            None
        } else {
            Some(router.parse().map_err(|_| bad())?)
        };
        if iface.is_empty() {
            return Err(bad());
        }
        Ok(PoolId {
            iface: iface.to_string(),
            subnet,
            router,
            shared_mac,
        })
    }

    /// The gateway the engine gives the network when `--gateway` was not
    /// passed: the DHCP server's router when it is in the subnet, else the
    /// first usable address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.router
            .filter(|r| self.subnet.contains(*r))
            .unwrap_or_else(|| self.subnet.first_usable())
    }
}

/// The host interface that reaches `subnet`, from the kernel's IPv4 route
/// table (`/proc/net/route`: a connected route for each address, and the
/// routes added by hand): the device of the most specific non-default route
/// overlapping the subnet. None when no route does; an error naming them
/// when routes of several devices do equally well.
pub fn interface_for_subnet(route_table: &str, subnet: Subnet) -> Result<Option<String>, String> {
    let mut best: Option<(u8, Vec<String>)> = None;
    for line in route_table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(iface), Some(dest), Some(mask)) = (f.first(), f.get(1), f.get(7)) else {
            continue;
        };
        let hex = |s: &str| {
            u32::from_str_radix(s, 16)
                .ok()
                .map(|v| Ipv4Addr::from(v.to_le_bytes()))
        };
        let (Some(dest), Some(mask)) = (hex(dest), hex(mask)) else {
            continue;
        };
        let prefix = u32::from(mask).leading_ones() as u8;
        if prefix == 0 || *iface == "lo" {
            continue;
        }
        let route = Subnet::new(dest, prefix);
        let overlaps = if route.prefix() <= subnet.prefix() {
            route.contains(subnet.addr())
        } else {
            subnet.contains(route.addr())
        };
        if !overlaps {
            continue;
        }
        match &mut best {
            Some((p, names)) if *p == prefix => {
                if !names.iter().any(|n| n == iface) {
                    names.push(iface.to_string());
                }
            }
            Some((p, _)) if *p > prefix => {}
            _ => best = Some((prefix, vec![iface.to_string()])),
        }
    }
    match best {
        None => Ok(None),
        Some((_, mut names)) if names.len() == 1 => Ok(names.pop()),
        Some((_, names)) => Err(format!(
            "routes of several interfaces reach {subnet} ({}): say which one reaches the DHCP server",
            names.join(", ")
        )),
    }
}

/// The error when no interface could be found: both ways to name it.
pub fn no_interface(subnet: Option<Subnet>) -> String {
    format!(
        "say which interface reaches the DHCP server: --ipam-opt {INTERFACE_OPTION}=IFACE (the macvlan \
         parent, e.g. eth0; Docker Compose does not pass ipam options), or start the daemon with \
         --default-interface IFACE (DHCPNET_DEFAULT_INTERFACE){}",
        match subnet {
            Some(s) => format!("; no interface of this host has an address or a route in {s}"),
            None => String::new(),
        }
    )
}

/// What the DHCP server said when probed for a pool request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub subnet: Subnet,
    pub router: Option<Ipv4Addr>,
}

/// `PARENT.VID` with VID in 1..=4094, the way VLAN links are named.
pub fn vlan_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(base, vid)| {
        !base.is_empty() && vid.parse::<u16>().is_ok_and(|v| (1..=4094).contains(&v))
    })
}

pub const STP_MESSAGE: &str = "is a VLAN interface: a VLAN link that was just created may carry no traffic \
for 30-50 s while the switch's spanning tree settles, so a DHCP probe there cannot be trusted to find the \
subnet. Pass the VLAN's subnet with --subnet (and --gateway if it is not the first address)";

/// RequestPool's checks (the same rules as `dhcpnet create`). `offer` is
/// None when the server did not answer.
pub fn decide_pool(
    iface: &str,
    requested: Option<Subnet>,
    is_vlan: bool,
    offer: Option<&Offered>,
) -> Result<PoolId, String> {
    match (requested, offer) {
        (None, _) if is_vlan => Err(format!("{iface} {STP_MESSAGE}")),
        (None, None) => Err(format!(
            "no DHCP server answered on {iface}, so dhcpnet cannot discover the subnet: check that \
             {iface} is the interface on the DHCP server's LAN, or pass --subnet and --gateway"
        )),
        (None, Some(o)) => Ok(PoolId {
            iface: iface.into(),
            subnet: o.subnet,
            router: o.router,
            shared_mac: false,
        }),
        (Some(want), Some(o)) if want != o.subnet => Err(format!(
            "the DHCP server on {iface} hands out addresses in {}, not in {want}: pass --subnet {} \
             (or choose the interface of the LAN that {want} belongs to)",
            o.subnet, o.subnet
        )),
        (Some(want), o) => Ok(PoolId {
            iface: iface.into(),
            subnet: want,
            router: o.and_then(|o| o.router),
            shared_mac: false,
        }),
    }
}

/// Whether a pool on `iface` is shared-MAC: every container of the
/// network shares the DHCP interface's MAC (ipvlan), so its leases carry
/// that MAC in chaddr and a client id per endpoint (option 61).
///
/// Only `dhcpnet-ipvlan`'s pools are (`ipvlan_driver`): the `dhcpnet`
/// driver asks the engine for a MAC per endpoint, which Docker's ipvlan
/// driver refuses ("ipvlan interfaces do not support custom mac address
/// assignment"), so a shared-MAC pool there could serve no container;
/// `--ipam-opt dhcp_shared_mac=true` on it is refused, naming the driver to
/// use. On Wi-Fi (`wireless`) a MAC per container cannot work either (an
/// access point drops frames from MACs that have not associated): refused
/// too, unless `dhcp_shared_mac=false` says this link passes other MACs
/// (4addr/WDS).
pub fn shared_mac(
    iface: &str,
    ipvlan_driver: bool,
    option: Option<&str>,
    wireless: bool,
) -> Result<bool, String> {
    let option = match option.map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => {
                return Err(format!(
                    "--ipam-opt {SHARED_MAC_OPTION}={v:?} is neither true nor false: for an ipvlan \
                     network use --ipam-driver {IPVLAN_DRIVER} (every container shares the parent's \
                     MAC) and leave the option out"
                ));
            }
        },
    };
    let ipvlan_network = format!(
        "docker network create -d ipvlan -o parent={iface} -o ipvlan_mode=l2 --ipam-driver \
         {IPVLAN_DRIVER} --ipam-opt {INTERFACE_OPTION}={iface} --subnet SUBNET NAME"
    );
    match (ipvlan_driver, option) {
        (true, Some(false)) => Err(format!(
            "--ipam-driver {IPVLAN_DRIVER} leases every container under {iface}'s MAC (ipvlan), but \
             --ipam-opt {SHARED_MAC_OPTION}=false asks for a MAC per container: use \
             --ipam-driver dhcpnet for that (macvlan), or leave the option out"
        )),
        (true, _) => Ok(true),
        (false, Some(true)) => Err(format!(
            "the dhcpnet driver gives every container a MAC of its own, which Docker's ipvlan driver \
             refuses: for containers sharing {iface}'s MAC use --ipam-driver {IPVLAN_DRIVER} (and \
             leave out {SHARED_MAC_OPTION}): `{ipvlan_network}`"
        )),
        (false, None) if wireless => Err(format!(
            "{iface} is a Wi-Fi interface: an access point drops frames from MACs that have not \
             associated, so containers with MACs of their own (macvlan) would get no answer. Use an \
             ipvlan network, whose containers share {iface}'s MAC: `{ipvlan_network}`; or, if this \
             link passes other MACs (4addr/WDS), --ipam-opt {SHARED_MAC_OPTION}=false"
        )),
        (false, _) => Ok(false),
    }
}

pub const REFUSED_DISCOVERY: &str = "the engine refused the subnet dhcpnet discovered on {iface} ({subnet}) \
and asked for another; that happens when the subnet overlaps a route of this host (for example the \
parent interface's own address). A DHCP server has only one subnet to offer: pass it explicitly with \
--subnet {subnet} --gateway GATEWAY, or create the network with `dhcpnet create`";

/// Recognises the engine asking again for a pool without a subnet after
/// refusing the one discovered (it overlapped a host route): answering the
/// same subnet again would make it ask forever.
#[derive(Debug, Default)]
pub struct Discoveries {
    pending: HashMap<String, (Subnet, Instant)>,
}

/// How long after a discovery a second request means "refused".
pub const REASK_WINDOW: Duration = Duration::from_secs(30);

impl Discoveries {
    /// A discovery without --subnet on `iface` at `now`: the subnet handed
    /// out just before, if this is the engine asking again.
    pub fn asked_again(&self, iface: &str, now: Instant) -> Option<Subnet> {
        self.pending
            .get(iface)
            .filter(|(_, at)| now.duration_since(*at) < REASK_WINDOW)
            .map(|(c, _)| *c)
    }

    pub fn handed_out(&mut self, iface: &str, subnet: Subnet, now: Instant) {
        self.pending.insert(iface.to_string(), (subnet, now));
    }

    /// The engine used the pool (asked for its gateway): it accepted it.
    pub fn accepted(&mut self, iface: &str) {
        self.pending.remove(iface);
    }

    pub fn forget(&mut self, iface: &str) {
        self.pending.remove(iface);
    }
}

pub fn refused_discovery(iface: &str, subnet: Subnet) -> String {
    REFUSED_DISCOVERY
        .replace("{iface}", iface)
        .replace("{subnet}", &subnet.to_string())
}

/// What a RequestAddress asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressAsk {
    /// The network's gateway (`requested`: the one passed with --gateway).
    Gateway { requested: Option<Ipv4Addr> },
    /// A lease for a container's MAC, optionally a given address (--ip).
    /// `name`: the container's name, where the engine sends it (engines
    /// since moby/moby#50586): its lasting identity, the MAC being made up
    /// at every start.
    Lease {
        mac: crate::net::mac::Mac,
        name: Option<String>,
        requested: Option<Ipv4Addr>,
    },
    /// A lease on a shared-MAC pool for the endpoint named by the
    /// container's name or Docker's endpoint MAC, whichever the engine sent
    /// (`dhcpnet-ipvlan` asks for no MAC: Docker's ipvlan driver refuses
    /// endpoints that have one).
    SharedLease {
        name: Option<String>,
        mac: Option<crate::net::mac::Mac>,
        requested: Option<Ipv4Addr>,
    },
}

/// An address as the engine sends it: `A.B.C.D` or `A.B.C.D/N`.
pub fn parse_address(s: &str) -> Result<Ipv4Addr, String> {
    s.split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("{s:?} is not an IPv4 address"))
}

pub fn address_ask(r: &AddressRequest, pool: &PoolId) -> Result<AddressAsk, String> {
    let opts = r.options.clone().unwrap_or_default();
    let requested = if r.address.is_empty() {
        None
    } else {
        let ip = parse_address(&r.address)?;
        if !pool.subnet.contains(ip) {
            return Err(format!(
                "{ip} is not in the network's subnet {}",
                pool.subnet
            ));
        }
        Some(ip)
    };
    if opts.get(ADDRESS_TYPE_OPTION).map(String::as_str) == Some(GATEWAY_TYPE) {
        return Ok(AddressAsk::Gateway { requested });
    }
    let mac = opts
        .get(MAC_OPTION)
        .filter(|m| !m.is_empty())
        .map(|m| {
            crate::net::mac::Mac::parse_unicast(m)
                .map_err(|e| format!("the engine's MAC address: {e}"))
        })
        .transpose()?;
    // A name outside Docker's own pattern is no handle: ignored, not
    // refused (the MAC, or a random one, serves instead), since the
    // container can still get its address; but Docker never sends such a
    // name, so it is not taken as anyone's lasting identity.
    let name = opts
        .get(ENDPOINT_NAME_OPTION)
        .filter(|n| !n.is_empty())
        .filter(|n| {
            let ok = crate::docker::is_container_name(n);
            if !ok {
                log::warn!(
                    "plugin: the engine's endpoint name {:?} is not a Docker container name \
                     ([a-zA-Z0-9][a-zA-Z0-9_.-]+); ignored: the endpoint is known by its MAC or at random",
                    crate::dhcp::reply::clean_text(n.as_bytes())
                );
            }
            ok
        })
        .cloned();
    if pool.shared_mac {
        return Ok(AddressAsk::SharedLease {
            name,
            mac,
            requested,
        });
    }
    let Some(mac) = mac else {
        return Err(format!(
            "the engine sent no MAC address ({MAC_OPTION}) with the address request; dhcpnet leases \
             per MAC, and asks for it in its capabilities: restart the Docker engine so it reads them again"
        ));
    };
    Ok(AddressAsk::Lease {
        mac,
        name,
        requested,
    })
}

pub fn address_answer(ip: Ipv4Addr, prefix: u8) -> Value {
    json!({ "Address": format!("{ip}/{prefix}"), "Data": {} })
}

pub fn pool_answer(p: &PoolId) -> Value {
    json!({ "PoolID": p.encode(), "Pool": p.subnet.to_string(), "Data": {} })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolId {
        PoolId {
            iface: "eth0".into(),
            subnet: Subnet::parse_normalised("10.77.0.0/24").unwrap(),
            router: Some("10.77.0.1".parse().unwrap()),
            shared_mac: false,
        }
    }

    #[test]
    fn routes_and_fixed_answers() {
        assert_eq!(route("/Plugin.Activate"), Some(Call::Activate));
        assert_eq!(
            route("/IpamDriver.ReleaseAddress"),
            Some(Call::ReleaseAddress)
        );
        assert_eq!(route("/NetworkDriver.CreateNetwork"), None);
        assert_eq!(
            fixed_answer(Call::Activate, true).unwrap(),
            json!({"Implements": ["IpamDriver"]})
        );
        assert_eq!(
            fixed_answer(Call::Capabilities, true).unwrap()["RequiresMACAddress"],
            true
        );
        // dhcpnet-ipvlan asks for no MAC: Docker's ipvlan driver refuses
        // endpoints that have one.
        assert_eq!(
            fixed_answer(Call::Capabilities, false).unwrap()["RequiresMACAddress"],
            false
        );
        assert!(fixed_answer(Call::RequestPool, true).is_none());
    }

    #[test]
    fn pool_ids_round_trip_and_foreign_ones_are_refused() {
        let p = pool();
        assert_eq!(p.encode(), "dhcpnet:eth0:10.77.0.0/24:10.77.0.1");
        assert_eq!(PoolId::decode(&p.encode()).unwrap(), p);
        let q = PoolId {
            router: None,
            ..pool()
        };
        assert_eq!(PoolId::decode(&q.encode()).unwrap(), q);
        for bad in [
            "",
            "LocalDefault/10.0.0.0/8",
            "dhcpnet:eth0:10.77.0.0/24",
            "dhcpnet::10.0.0.0/8:",
            "dhcpnet:e:x:",
            "dhcpnet:e:10.0.0.0/8:zz",
        ] {
            assert!(PoolId::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_shared_mac_pool_says_so_in_its_pool_id_and_older_pool_ids_decode_as_before() {
        let shared = PoolId {
            shared_mac: true,
            ..pool()
        };
        assert_eq!(
            shared.encode(),
            "dhcpnet:eth0:10.77.0.0/24:10.77.0.1:shared-mac"
        );
        assert_eq!(PoolId::decode(&shared.encode()).unwrap(), shared);
        let no_router = PoolId {
            router: None,
            ..shared.clone()
        };
        assert_eq!(
            PoolId::decode(&no_router.encode()).unwrap(),
            no_router,
            "{}",
            no_router.encode()
        );
        // What dhcpnet made before (and still makes for other pools).
        let old = PoolId::decode("dhcpnet:eth0:10.77.0.0/24:10.77.0.1").unwrap();
        assert_eq!(old, pool());
        assert!(!old.shared_mac);
        for bad in [
            "dhcpnet:eth0:10.77.0.0/24:10.77.0.1:",
            "dhcpnet:eth0:10.77.0.0/24:10.77.0.1:shared",
            "dhcpnet:eth0:10.77.0.0/24:10.77.0.1:shared-mac:x",
        ] {
            assert!(PoolId::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_ipvlan_driver_makes_shared_mac_pools_and_the_dhcpnet_driver_names_it_when_asked() {
        // The dhcpnet-ipvlan driver: always; an option that says otherwise
        // is refused, naming the other driver.
        assert_eq!(shared_mac("eth0", true, None, false), Ok(true));
        for yes in ["true", "TRUE", "1", "yes", " on "] {
            assert_eq!(
                shared_mac("eth0", true, Some(yes), false),
                Ok(true),
                "{yes}"
            );
        }
        let e = shared_mac("eth0", true, Some("false"), false).unwrap_err();
        assert!(e.contains("--ipam-driver dhcpnet "), "{e}");
        // The dhcpnet driver: never; asked for it, the error says which
        // driver to use, with the whole command.
        assert_eq!(shared_mac("eth0", false, None, false), Ok(false));
        assert_eq!(shared_mac("eth0", false, Some("false"), false), Ok(false));
        assert_eq!(shared_mac("eth0", false, Some(""), false), Ok(false));
        let e = shared_mac("eth0", false, Some("true"), false).unwrap_err();
        assert!(
            e.contains("--ipam-driver dhcpnet-ipvlan")
                && e.contains("docker network create -d ipvlan -o parent=eth0"),
            "{e}"
        );
        let e = shared_mac("eth0", false, Some("ipvlan"), false).unwrap_err();
        assert!(
            e.contains("dhcp_shared_mac=\"ipvlan\"") && e.contains("dhcpnet-ipvlan"),
            "{e}"
        );
        // Wi-Fi: a MAC per container cannot work; refused with the ipvlan
        // way, unless the network says its link passes other MACs.
        let e = shared_mac("wlp2s0", false, None, true).unwrap_err();
        assert!(
            e.contains("Wi-Fi") && e.contains("-d ipvlan -o parent=wlp2s0") && e.contains("=false"),
            "{e}"
        );
        assert_eq!(shared_mac("wlp2s0", false, Some("false"), true), Ok(false));
        assert_eq!(shared_mac("wlp2s0", true, None, true), Ok(true));
    }

    #[test]
    fn cidr_parsing_normalises() {
        assert_eq!(
            Subnet::parse_normalised("10.77.0.9/24")
                .unwrap()
                .to_string(),
            "10.77.0.0/24"
        );
        assert!(Subnet::parse_normalised("10.77.0.0").is_err());
        assert!(Subnet::parse_normalised("10.77.0.0/33").is_err());
        assert!(Subnet::parse_normalised("fe80::/64").is_err());
        assert_eq!(
            Subnet::parse_normalised("10.0.0.0/8")
                .unwrap()
                .first_usable(),
            Ipv4Addr::new(10, 0, 0, 1)
        );
    }

    #[test]
    fn gateway_is_the_router_else_the_first_usable_address() {
        assert_eq!(pool().gateway(), Ipv4Addr::new(10, 77, 0, 1));
        let p = PoolId {
            router: Some("192.168.9.1".parse().unwrap()),
            subnet: Subnet::parse_normalised("10.77.0.0/24").unwrap(),
            ..pool()
        };
        assert_eq!(p.gateway(), Ipv4Addr::new(10, 77, 0, 1));
        let p = PoolId {
            router: Some("10.77.0.254".parse().unwrap()),
            ..pool()
        };
        assert_eq!(p.gateway(), Ipv4Addr::new(10, 77, 0, 254));
    }

    #[test]
    fn the_interface_of_a_subnet_is_found_in_the_route_table() {
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t014D0A0A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000D0A0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
lan1\t00004D0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
lan2\t00004D0A\t00000000\t0001\t0\t0\t0\t00F0FFFF\t0\t0\t0
lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0
";
        let c = |s: &str| Subnet::parse_normalised(s).unwrap();
        assert_eq!(
            interface_for_subnet(table, c("10.10.13.0/24")),
            Ok(Some("eth0".into()))
        );
        // The most specific route wins (10.77.0.0/20 on lan2 over /16 on lan1).
        assert_eq!(
            interface_for_subnet(table, c("10.77.0.0/24")),
            Ok(Some("lan2".into()))
        );
        assert_eq!(
            interface_for_subnet(table, c("10.77.200.0/24")),
            Ok(Some("lan1".into()))
        );
        // The default route and lo never count.
        assert_eq!(interface_for_subnet(table, c("192.168.1.0/24")), Ok(None));
        assert_eq!(interface_for_subnet(table, c("127.0.0.0/8")), Ok(None));
        let tie = format!("{table}lan3\t00004D0A\t00000000\t0001\t0\t0\t0\t00F0FFFF\t0\t0\t0\n");
        let e = interface_for_subnet(&tie, c("10.77.0.0/24")).unwrap_err();
        assert!(e.contains("lan2, lan3"), "{e}");
        assert_eq!(interface_for_subnet("", c("10.0.0.0/8")), Ok(None));
        assert_eq!(
            interface_for_subnet("h\nbad line\nx zz 0 0 0 0 0 yy\n", c("10.0.0.0/8")),
            Ok(None)
        );
        let m = no_interface(Some(c("10.77.0.0/24")));
        assert!(
            m.contains("--ipam-opt dhcp_interface=IFACE")
                && m.contains("--default-interface IFACE")
                && m.contains("10.77.0.0/24"),
            "{m}"
        );
    }

    #[test]
    fn vlan_names() {
        assert!(vlan_name("eth0.10") && vlan_name("enp3s0.4094") && vlan_name("a.b.1"));
        assert!(
            !vlan_name("eth0")
                && !vlan_name("eth0.0")
                && !vlan_name("eth0.4095")
                && !vlan_name(".10")
                && !vlan_name("eth0.x")
        );
    }

    #[test]
    fn pool_rules() {
        let offer = Offered {
            subnet: Subnet::parse_normalised("10.77.0.0/24").unwrap(),
            router: Some("10.77.0.1".parse().unwrap()),
        };
        let want = Subnet::parse_normalised("10.77.0.0/24").ok();
        assert_eq!(
            decide_pool("eth0", None, false, Some(&offer)).unwrap(),
            pool()
        );
        assert_eq!(
            decide_pool("eth0", want, false, Some(&offer)).unwrap(),
            pool()
        );
        let e = decide_pool(
            "eth0",
            Subnet::parse_normalised("10.9.0.0/16").ok(),
            false,
            Some(&offer),
        )
        .unwrap_err();
        assert!(
            e.contains("10.77.0.0/24, not in 10.9.0.0/16") && e.contains("--subnet 10.77.0.0/24"),
            "{e}"
        );
        let e = decide_pool("eth0.10", None, true, Some(&offer)).unwrap_err();
        assert!(e.contains("spanning tree") && e.contains("--subnet"), "{e}");
        assert!(decide_pool("eth0.10", want, true, Some(&offer)).is_ok());
        assert!(
            decide_pool("eth0", None, false, None)
                .unwrap_err()
                .contains("pass --subnet")
        );
        // A server that does not answer now does not block a network the user described.
        assert_eq!(decide_pool("eth0", want, false, None).unwrap().router, None);
    }

    #[test]
    fn a_second_discovery_soon_after_the_first_is_a_refusal() {
        let mut d = Discoveries::default();
        let t0 = Instant::now();
        let c = Subnet::parse_normalised("10.77.0.0/24").unwrap();
        assert_eq!(d.asked_again("eth0", t0), None);
        d.handed_out("eth0", c, t0);
        assert_eq!(d.asked_again("eth0", t0 + Duration::from_secs(1)), Some(c));
        assert_eq!(d.asked_again("eth1", t0 + Duration::from_secs(1)), None);
        assert_eq!(d.asked_again("eth0", t0 + REASK_WINDOW), None);
        d.accepted("eth0");
        assert_eq!(d.asked_again("eth0", t0 + Duration::from_secs(1)), None);
        let m = refused_discovery("eth0", c);
        assert!(
            m.contains("--subnet 10.77.0.0/24")
                && m.contains("dhcpnet create")
                && m.contains("route"),
            "{m}"
        );
    }

    #[test]
    fn address_requests() {
        let mut opts = HashMap::new();
        opts.insert(MAC_OPTION.to_string(), "02:42:0a:4d:00:07".to_string());
        let r = AddressRequest {
            pool_id: pool().encode(),
            address: String::new(),
            options: Some(opts.clone()),
        };
        assert_eq!(
            address_ask(&r, &pool()).unwrap(),
            AddressAsk::Lease {
                mac: crate::net::mac::Mac([2, 0x42, 10, 0x4d, 0, 7]),
                name: None,
                requested: None
            }
        );
        // A newer engine names the container: kept beside the MAC; a name
        // that cannot be a container's is dropped.
        let mut named = opts.clone();
        named.insert(ENDPOINT_NAME_OPTION.to_string(), "web-1".to_string());
        let n = AddressRequest {
            options: Some(named.clone()),
            ..AddressRequest::default()
        };
        assert!(matches!(
            address_ask(&n, &pool()).unwrap(),
            AddressAsk::Lease { name: Some(ref x), .. } if x == "web-1"
        ));
        named.insert(ENDPOINT_NAME_OPTION.to_string(), "a/b".to_string());
        let bad = AddressRequest {
            options: Some(named),
            ..AddressRequest::default()
        };
        assert!(matches!(
            address_ask(&bad, &pool()).unwrap(),
            AddressAsk::Lease { name: None, .. }
        ));
        let r = AddressRequest {
            address: "10.77.0.99".into(),
            options: Some(opts.clone()),
            ..r
        };
        assert!(
            matches!(address_ask(&r, &pool()).unwrap(), AddressAsk::Lease { requested: Some(ip), .. } if ip == Ipv4Addr::new(10, 77, 0, 99))
        );
        let r = AddressRequest {
            address: "10.9.0.99".into(),
            options: Some(opts),
            ..r
        };
        assert!(
            address_ask(&r, &pool())
                .unwrap_err()
                .contains("not in the network's subnet")
        );
        let r = AddressRequest {
            address: String::new(),
            options: None,
            ..r
        };
        assert!(
            address_ask(&r, &pool())
                .unwrap_err()
                .contains("no MAC address")
        );
        // On a shared-MAC pool no MAC is needed: the container's name (or
        // the MAC, or neither) names the endpoint.
        let shared = PoolId {
            shared_mac: true,
            ..pool()
        };
        assert_eq!(
            address_ask(&r, &shared).unwrap(),
            AddressAsk::SharedLease {
                name: None,
                mac: None,
                requested: None
            }
        );
        let mut named = HashMap::new();
        named.insert(ENDPOINT_NAME_OPTION.to_string(), "web-1".to_string());
        named.insert(MAC_OPTION.to_string(), "02:42:0a:4d:00:07".to_string());
        let n = AddressRequest {
            options: Some(named.clone()),
            ..AddressRequest::default()
        };
        assert_eq!(
            address_ask(&n, &shared).unwrap(),
            AddressAsk::SharedLease {
                name: Some("web-1".into()),
                mac: Some(crate::net::mac::Mac([2, 0x42, 10, 0x4d, 0, 7])),
                requested: None
            }
        );
        // A name outside Docker's own pattern is no handle.
        for not_a_name in ["a/b", "x", "-web", ".web", "_web", "web:1", "we b", "wéb"] {
            named.insert(ENDPOINT_NAME_OPTION.to_string(), not_a_name.to_string());
            let bad = AddressRequest {
                options: Some(named.clone()),
                ..AddressRequest::default()
            };
            assert!(
                matches!(
                    address_ask(&bad, &shared).unwrap(),
                    AddressAsk::SharedLease {
                        name: None,
                        mac: Some(_),
                        ..
                    }
                ),
                "{not_a_name:?}"
            );
        }
        named.insert(ENDPOINT_NAME_OPTION.to_string(), "w1.a_b-c".to_string());
        let good = AddressRequest {
            options: Some(named),
            ..AddressRequest::default()
        };
        assert!(matches!(
            address_ask(&good, &shared).unwrap(),
            AddressAsk::SharedLease { name: Some(_), .. }
        ));
        let mut g = HashMap::new();
        g.insert(ADDRESS_TYPE_OPTION.to_string(), GATEWAY_TYPE.to_string());
        let r = AddressRequest {
            options: Some(g),
            ..r
        };
        assert_eq!(
            address_ask(&r, &pool()).unwrap(),
            AddressAsk::Gateway { requested: None }
        );
        assert_eq!(
            parse_address("10.77.0.5/24"),
            Ok(Ipv4Addr::new(10, 77, 0, 5))
        );
        assert!(parse_address("fe80::1").is_err());
        assert_eq!(
            address_answer(Ipv4Addr::new(10, 77, 0, 5), 24),
            json!({"Address": "10.77.0.5/24", "Data": {}})
        );
    }

    #[test]
    fn requests_decode_from_the_engine_json() {
        let body = br#"{"AddressSpace":"dhcpnet-local","Pool":"","SubPool":"","Options":{"dhcp_interface":"eth0"},"V6":false}"#;
        let r: PoolRequest = decode(body, "RequestPool").unwrap();
        assert_eq!(
            r.options.unwrap().get(INTERFACE_OPTION).map(String::as_str),
            Some("eth0")
        );
        let r: PoolRequest = decode(b"", "RequestPool").unwrap();
        assert!(r.pool.is_empty());
        let r: ReleaseAddressRequest =
            decode(br#"{"PoolID":"x","Address":"10.0.0.1"}"#, "ReleaseAddress").unwrap();
        assert_eq!(r.address, "10.0.0.1");
        assert!(
            decode::<PoolRequest>(b"{nope", "RequestPool")
                .unwrap_err()
                .contains("could not read")
        );
    }
}
