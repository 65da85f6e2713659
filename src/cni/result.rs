//! The result of ADD, rendered from a lease in the config's version.
//!
//! An IPAM plugin returns the abbreviated result (SPEC.md §5 "Delegated
//! plugins (IPAM)": "missing the `interfaces` array, as well as the
//! `interface` entry in `ips`"): the main plugin adds the interface index
//! and passes the whole on. Layouts (cni pkg/types/040 and 100):
//!
//! - 0.3.0, 0.3.1, 0.4.0: each `ips` entry carries `"version": "4"`;
//! - 1.0.0: no `version`;
//! - 1.1.0: as 1.0.0, and routes may carry `scope` (and `mtu`, `advmss`,
//!   `priority`, `table`, which dhcpnet does not set).
//!
//! Routes: option 121 when the server sent it (RFC 3442: it replaces the
//! router option), else a default route through the router. The main
//! plugin adds each address and then each route in the namespace
//! (plugins pkg/ipam ConfigureIface), so the on-link route of the leased
//! subnet is left out (the kernel made it from the prefix, and adding it
//! again fails). Another on-link route (router 0.0.0.0) cannot be said
//! below 1.1.0, and ConfigureIface gives a route without `gw` the address's
//! gateway, so it is said (with `"scope": 253`, link) only at 1.1.0 and
//! only for a lease without a gateway; otherwise it is left out with a
//! warning.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use super::version::Version;
use crate::lease::Lease;

/// What a lease gives the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressing {
    /// The address with the subnet's prefix length.
    pub address: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
    /// Option 121's routes (router 0.0.0.0: on link); empty without it.
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
    pub nameservers: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub search: Vec<String>,
}

impl From<&Lease> for Addressing {
    fn from(l: &Lease) -> Addressing {
        Addressing {
            // A recorded prefix is at most 32 (the reply checks hold it).
            address: Ipv4Net::new(l.ip, l.prefix_len).unwrap_or_else(|_| Ipv4Net::from(l.ip)),
            gateway: l.gateway,
            routes: l
                .routes
                .iter()
                .map(|r| (r.destination, r.gateway))
                .collect(),
            nameservers: l.dns.clone(),
            domain: l.domain.clone(),
            search: l.search.clone(),
        }
    }
}

/// The link scope of a route (RT_SCOPE_LINK).
const SCOPE_LINK: u8 = 253;

#[derive(Debug, Serialize)]
struct Ip {
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<Ipv4Addr>,
}

#[derive(Debug, Serialize)]
struct Route {
    dst: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gw: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<u8>,
}

#[derive(Debug, Serialize)]
struct Dns<'a> {
    #[serde(skip_serializing_if = "<[Ipv4Addr]>::is_empty")]
    nameservers: &'a [Ipv4Addr],
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    search: &'a [String],
}

#[derive(Debug, Serialize)]
struct Wire<'a> {
    #[serde(rename = "cniVersion")]
    cni_version: &'static str,
    ips: Vec<Ip>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<Dns<'a>>,
}

/// The ADD result as printed, and what was left out of it (for stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub json: String,
    pub warnings: Vec<String>,
}

/// The ADD result for `a` in version `v`, as one line of JSON.
pub fn render(v: Version, a: &Addressing) -> Rendered {
    let mut warnings = Vec::new();
    let subnet = a.address.trunc();
    let mut routes = Vec::new();
    if a.routes.is_empty()
        && let Some(gw) = a.gateway
    {
        routes.push(Route {
            dst: "0.0.0.0/0".into(),
            gw: Some(gw),
            scope: None,
        });
    }
    for &(dst, gw) in &a.routes {
        if !gw.is_unspecified() {
            routes.push(Route {
                dst: dst.to_string(),
                gw: Some(gw),
                scope: None,
            });
        } else if dst.trunc() == subnet {
            // The kernel's own route for the prefix.
        } else if v.routes_have_scope() && a.gateway.is_none() {
            routes.push(Route {
                dst: dst.to_string(),
                gw: None,
                scope: Some(SCOPE_LINK),
            });
        } else {
            warnings.push(format!(
                "the on-link route to {dst} the DHCP server sent (option 121) is left out: {}",
                if v.routes_have_scope() {
                    "the main plugin would route it through the gateway".to_string()
                } else {
                    format!("CNI {v} cannot say a route is on link (1.1.0 can)")
                }
            ));
        }
    }
    let dns = Dns {
        nameservers: &a.nameservers,
        domain: a.domain.as_deref(),
        search: &a.search,
    };
    let has_dns = !a.nameservers.is_empty() || a.domain.is_some() || !a.search.is_empty();
    let wire = Wire {
        cni_version: v.as_str(),
        ips: vec![Ip {
            version: v.ips_carry_ip_version().then_some("4"),
            address: a.address.to_string(),
            gateway: a.gateway,
        }],
        routes,
        dns: has_dns.then_some(dns),
    };
    Rendered {
        // Strings, addresses and numbers always serialise.
        json: serde_json::to_string(&wire).unwrap_or_default(),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::version::SUPPORTED;

    fn lab() -> Addressing {
        Addressing {
            address: "192.168.77.57/24".parse().unwrap(),
            gateway: Some(Ipv4Addr::new(192, 168, 77, 1)),
            routes: vec![],
            nameservers: vec![Ipv4Addr::new(192, 168, 77, 1)],
            domain: Some("lab".into()),
            search: vec!["lab".into()],
        }
    }

    #[test]
    fn the_result_of_every_version_is_golden() {
        let golden = [
            (
                Version::V0_3_0,
                r#"{"cniVersion":"0.3.0","ips":[{"version":"4","address":"192.168.77.57/24","gateway":"192.168.77.1"}],"routes":[{"dst":"0.0.0.0/0","gw":"192.168.77.1"}],"dns":{"nameservers":["192.168.77.1"],"domain":"lab","search":["lab"]}}"#,
            ),
            (
                Version::V0_3_1,
                r#"{"cniVersion":"0.3.1","ips":[{"version":"4","address":"192.168.77.57/24","gateway":"192.168.77.1"}],"routes":[{"dst":"0.0.0.0/0","gw":"192.168.77.1"}],"dns":{"nameservers":["192.168.77.1"],"domain":"lab","search":["lab"]}}"#,
            ),
            (
                Version::V0_4_0,
                r#"{"cniVersion":"0.4.0","ips":[{"version":"4","address":"192.168.77.57/24","gateway":"192.168.77.1"}],"routes":[{"dst":"0.0.0.0/0","gw":"192.168.77.1"}],"dns":{"nameservers":["192.168.77.1"],"domain":"lab","search":["lab"]}}"#,
            ),
            (
                Version::V1_0_0,
                r#"{"cniVersion":"1.0.0","ips":[{"address":"192.168.77.57/24","gateway":"192.168.77.1"}],"routes":[{"dst":"0.0.0.0/0","gw":"192.168.77.1"}],"dns":{"nameservers":["192.168.77.1"],"domain":"lab","search":["lab"]}}"#,
            ),
            (
                Version::V1_1_0,
                r#"{"cniVersion":"1.1.0","ips":[{"address":"192.168.77.57/24","gateway":"192.168.77.1"}],"routes":[{"dst":"0.0.0.0/0","gw":"192.168.77.1"}],"dns":{"nameservers":["192.168.77.1"],"domain":"lab","search":["lab"]}}"#,
            ),
        ];
        assert_eq!(golden.len(), SUPPORTED.len());
        for (v, want) in golden {
            let r = render(v, &lab());
            assert_eq!(r.json, want, "{v}");
            assert!(r.warnings.is_empty());
            // Never the main plugin's parts.
            assert!(!r.json.contains("interface"));
        }
    }

    #[test]
    fn without_a_router_or_dns_there_is_no_gateway_no_route_and_no_dns() {
        let a = Addressing {
            gateway: None,
            nameservers: vec![],
            domain: None,
            search: vec![],
            ..lab()
        };
        assert_eq!(
            render(Version::V1_0_0, &a).json,
            r#"{"cniVersion":"1.0.0","ips":[{"address":"192.168.77.57/24"}]}"#
        );
        let only_search = Addressing {
            search: vec!["a.example".into()],
            ..a
        };
        assert_eq!(
            render(Version::V0_4_0, &only_search).json,
            r#"{"cniVersion":"0.4.0","ips":[{"version":"4","address":"192.168.77.57/24"}],"dns":{"search":["a.example"]}}"#
        );
    }

    #[test]
    fn classless_routes_replace_the_default_route_and_the_subnet_s_own_route_is_left_out() {
        let a = Addressing {
            routes: vec![
                (
                    "10.0.0.0/8".parse().unwrap(),
                    Ipv4Addr::new(192, 168, 77, 2),
                ),
                ("0.0.0.0/0".parse().unwrap(), Ipv4Addr::new(192, 168, 77, 1)),
                ("192.168.77.0/24".parse().unwrap(), Ipv4Addr::UNSPECIFIED),
            ],
            nameservers: vec![],
            domain: None,
            search: vec![],
            ..lab()
        };
        let r = render(Version::V1_0_0, &a);
        assert_eq!(
            r.json,
            r#"{"cniVersion":"1.0.0","ips":[{"address":"192.168.77.57/24","gateway":"192.168.77.1"}],"routes":[{"dst":"10.0.0.0/8","gw":"192.168.77.2"},{"dst":"0.0.0.0/0","gw":"192.168.77.1"}]}"#
        );
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn an_on_link_route_is_said_with_link_scope_at_1_1_0_without_a_gateway_and_left_out_with_a_warning_else()
     {
        let on_link = ("10.1.0.0/16".parse().unwrap(), Ipv4Addr::UNSPECIFIED);
        let no_gw = Addressing {
            gateway: None,
            routes: vec![on_link],
            nameservers: vec![],
            domain: None,
            search: vec![],
            ..lab()
        };
        let r = render(Version::V1_1_0, &no_gw);
        assert_eq!(
            r.json,
            r#"{"cniVersion":"1.1.0","ips":[{"address":"192.168.77.57/24"}],"routes":[{"dst":"10.1.0.0/16","scope":253}]}"#
        );
        assert!(r.warnings.is_empty());
        let r = render(Version::V1_0_0, &no_gw);
        assert_eq!(
            r.json,
            r#"{"cniVersion":"1.0.0","ips":[{"address":"192.168.77.57/24"}]}"#
        );
        assert_eq!(
            r.warnings,
            [
                "the on-link route to 10.1.0.0/16 the DHCP server sent (option 121) is left out: CNI 1.0.0 cannot say a route is on link (1.1.0 can)"
            ]
        );
        let with_gw = Addressing {
            routes: vec![
                on_link,
                ("0.0.0.0/0".parse().unwrap(), Ipv4Addr::new(192, 168, 77, 1)),
            ],
            ..no_gw
        };
        let with_gw = Addressing {
            gateway: Some(Ipv4Addr::new(192, 168, 77, 1)),
            ..with_gw
        };
        let r = render(Version::V1_1_0, &with_gw);
        assert_eq!(
            r.json,
            r#"{"cniVersion":"1.1.0","ips":[{"address":"192.168.77.57/24","gateway":"192.168.77.1"}],"routes":[{"dst":"0.0.0.0/0","gw":"192.168.77.1"}]}"#
        );
        assert!(r.warnings[0].ends_with("the main plugin would route it through the gateway"));
    }

    #[test]
    fn a_lease_record_becomes_its_addressing() {
        let l: Lease = serde_json::from_value(serde_json::json!({
            "ip": "192.168.77.57", "prefix_len": 24, "subnet": "192.168.77.0/24",
            "mac": "02:42:c0:a8:4d:39", "gateway": "192.168.77.1", "dns": ["192.168.77.1"],
            "domain": "lab", "search": ["lab"], "server_id": "192.168.77.1",
            "lease_time": 120, "renewal_time": 60, "rebinding_time": 105,
            "obtained_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:02:00Z",
            "hostname": "web1", "client_id": "00:64", "interface": "eth0", "network": null,
            "routes": [{"destination": "10.0.0.0/8", "gateway": "192.168.77.2"}]
        }))
        .unwrap();
        let a = Addressing::from(&l);
        assert_eq!(
            a,
            Addressing {
                routes: vec![(
                    "10.0.0.0/8".parse().unwrap(),
                    Ipv4Addr::new(192, 168, 77, 2)
                )],
                ..lab()
            }
        );
    }
}
