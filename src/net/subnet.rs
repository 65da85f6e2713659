//! IPv4 subnets: one type over `ipnet::Ipv4Net`, normalised to the network
//! address, written as "10.77.0.0/24" in JSON and on screen.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// An IPv4 subnet in CIDR form, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet(Ipv4Net);

impl Subnet {
    /// The subnet of `ip` with `prefix` bits (over 32 counts as 32).
    pub fn new(ip: Ipv4Addr, prefix: u8) -> Subnet {
        Subnet(Ipv4Net::new_assert(ip, prefix.min(32)).trunc())
    }

    /// "a.b.c.d/len" with any host bits (dropped) and any prefix up to 32,
    /// as Docker's IPAM calls and older records give it.
    pub fn parse_normalised(s: &str) -> Result<Subnet, String> {
        let (ip, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a subnet like 192.168.1.0/24"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 subnet like 192.168.1.0/24"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|&p| p <= 32)
            .ok_or_else(|| format!("{s:?} has a bad prefix length"))?;
        Ok(Subnet::new(ip, prefix))
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.0.network()
    }

    pub fn prefix(&self) -> u8 {
        self.0.prefix_len()
    }

    pub fn net(&self) -> Ipv4Net {
        self.0
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.0.contains(&ip)
    }

    /// The first address a host may use: the one after the network
    /// address (the address itself for /31 and /32).
    pub fn first_usable(&self) -> Ipv4Addr {
        if self.prefix() >= 31 {
            self.addr()
        } else {
            Ipv4Addr::from(u32::from(self.addr()) + 1)
        }
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        self.0.broadcast()
    }
}

impl From<Subnet> for Ipv4Net {
    fn from(s: Subnet) -> Ipv4Net {
        s.0
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What a person gives `create --subnet`: host bits zero, room for
/// containers (/30 or shorter).
impl FromStr for Subnet {
    type Err = String;
    fn from_str(s: &str) -> Result<Subnet, String> {
        let bad = || format!("{s:?} is not an IPv4 subnet in CIDR form (e.g. 192.168.1.0/24)");
        let (ip, len) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = len.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        let net = Subnet::new(ip, prefix);
        if net.addr() != ip {
            return Err(format!("{s} has host bits set: the subnet is {net}"));
        }
        if prefix > 30 {
            return Err(format!(
                "{s} is too small for containers: use a prefix of /30 or shorter"
            ));
        }
        Ok(net)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Records load as they always did: host bits are dropped.
impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| serde::de::Error::custom(format!("bad subnet {s:?}")))?;
        let ip: Ipv4Addr = ip.parse().map_err(serde::de::Error::custom)?;
        let len: u8 = len.parse().map_err(serde::de::Error::custom)?;
        if len > 32 {
            return Err(serde::de::Error::custom(format!(
                "bad subnet {s:?}: the prefix is over 32"
            )));
        }
        Ok(Subnet::new(ip, len))
    }
}

/// The subnet of `ip`/`prefix` as an `Ipv4Net` (network address, as
/// "10.77.0.0/24").
pub fn subnet_of(ip: Ipv4Addr, prefix: u8) -> Ipv4Net {
    Subnet::new(ip, prefix).net()
}

/// Prefix length of a contiguous netmask, or None for a non-contiguous one.
pub fn mask_to_prefix(mask: Ipv4Addr) -> Option<u8> {
    ipnet::ipv4_mask_to_prefix(mask).ok()
}

/// The netmask of `prefix` bits (over 32 counts as 32).
pub fn prefix_to_mask(prefix: u8) -> Ipv4Addr {
    Subnet::new(Ipv4Addr::UNSPECIFIED, prefix).net().netmask()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_print_parse_and_serialize_as_cidr_text() {
        let s = Subnet::new(Ipv4Addr::new(10, 1, 2, 3), 8);
        assert_eq!(s.to_string(), "10.0.0.0/8");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"10.0.0.0/8\"");
        assert_eq!(
            serde_json::from_str::<Subnet>("\"10.1.2.3/8\"").unwrap(),
            s,
            "host bits are dropped on load, as before"
        );
        assert_eq!(Subnet::new(Ipv4Addr::new(10, 0, 0, 1), 40).prefix(), 32);
        assert_eq!(
            subnet_of(Ipv4Addr::new(192, 168, 7, 200), 20).to_string(),
            "192.168.0.0/20"
        );
        assert_eq!(prefix_to_mask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(prefix_to_mask(32), Ipv4Addr::BROADCAST);
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 0, 255, 0)), None);
    }
}
