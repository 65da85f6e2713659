//! DHCP Unique Identifiers (RFC 8415 §11): who a DHCPv6 client or server is.
//!
//! A client's DUID and IAID play the part of DHCPv4's client identifier:
//! the server binds addresses to them, so they must stay the same for every
//! message of a lease and across restarts (they are written in the record).
//! dhcpnet makes DUID-LL from the container's MAC (stable for as long as
//! the MAC is, like the IPv4 identity); where containers share one MAC
//! (ipvlan), a DUID of the container's own is built with `Duid::en` or
//! `Duid::uuid`. Server DUIDs are only compared and shown: every type is
//! decoded for display, none is trusted further.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::net::mac::Mac;

/// DUID types (RFC 8415 §11.1, RFC 6355).
pub const DUID_LLT: u16 = 1;
pub const DUID_EN: u16 = 2;
pub const DUID_LL: u16 = 3;
pub const DUID_UUID: u16 = 4;

/// Hardware type of Ethernet (IANA ARP hardware types).
pub const HW_ETHERNET: u16 = 1;

/// The longest DUID: a 2-octet type and at most 128 octets (RFC 8415 §11.1).
pub const MAX_DUID_LEN: usize = 130;

/// A DUID as it goes on the wire (type code first). Always 3 to 130 octets.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Duid(Vec<u8>);

/// What a DUID says, decoded for display and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DuidKind {
    /// Link-layer address plus time (seconds since 2000-01-01 UTC, mod 2^32).
    Llt {
        hw_type: u16,
        time: u32,
        addr: Vec<u8>,
    },
    /// Vendor-assigned: an IANA enterprise number and an identifier.
    En { enterprise: u32, id: Vec<u8> },
    /// Link-layer address.
    Ll { hw_type: u16, addr: Vec<u8> },
    /// A UUID (RFC 6355).
    Uuid([u8; 16]),
    /// A type this code does not know, or a known type of the wrong length.
    Other { duid_type: u16 },
}

impl Duid {
    /// DUID-LL of an Ethernet MAC: 00:03 00:01 and the six octets.
    pub fn ll(mac: Mac) -> Duid {
        let mut v = Vec::with_capacity(10);
        v.extend_from_slice(&DUID_LL.to_be_bytes());
        v.extend_from_slice(&HW_ETHERNET.to_be_bytes());
        v.extend_from_slice(&mac.0);
        Duid(v)
    }

    /// DUID-EN: `enterprise` (an IANA private enterprise number) and an
    /// identifier of at most 122 octets (longer is cut).
    pub fn en(enterprise: u32, id: &[u8]) -> Duid {
        let mut v = Vec::with_capacity(6 + id.len());
        v.extend_from_slice(&DUID_EN.to_be_bytes());
        v.extend_from_slice(&enterprise.to_be_bytes());
        v.extend_from_slice(&id[..id.len().min(MAX_DUID_LEN - 6)]);
        if v.len() == 6 {
            v.push(0); // an identifier of at least one octet
        }
        Duid(v)
    }

    /// DUID-UUID (RFC 6355).
    pub fn uuid(uuid: [u8; 16]) -> Duid {
        let mut v = Vec::with_capacity(18);
        v.extend_from_slice(&DUID_UUID.to_be_bytes());
        v.extend_from_slice(&uuid);
        Duid(v)
    }

    /// A DUID from the wire or a record: None unless it is 3 to 130 octets
    /// (a type code and at least one octet of identifier).
    pub fn from_bytes(b: &[u8]) -> Option<Duid> {
        (3..=MAX_DUID_LEN)
            .contains(&b.len())
            .then(|| Duid(b.to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn duid_type(&self) -> u16 {
        u16::from_be_bytes([self.0[0], self.0[1]])
    }

    pub fn kind(&self) -> DuidKind {
        let t = self.duid_type();
        let b = &self.0[2..];
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        match t {
            DUID_LLT if b.len() > 6 => DuidKind::Llt {
                hw_type: u16_at(0),
                time: u32_at(2),
                addr: b[6..].to_vec(),
            },
            DUID_EN if b.len() > 4 => DuidKind::En {
                enterprise: u32_at(0),
                id: b[4..].to_vec(),
            },
            DUID_LL if b.len() > 2 => DuidKind::Ll {
                hw_type: u16_at(0),
                addr: b[2..].to_vec(),
            },
            DUID_UUID if b.len() == 16 => {
                let mut u = [0u8; 16];
                u.copy_from_slice(b);
                DuidKind::Uuid(u)
            }
            _ => DuidKind::Other { duid_type: t },
        }
    }

    /// The Ethernet MAC in a DUID-LL or DUID-LLT, if it holds one.
    pub fn mac(&self) -> Option<Mac> {
        let (hw_type, addr) = match self.kind() {
            DuidKind::Ll { hw_type, addr } | DuidKind::Llt { hw_type, addr, .. } => (hw_type, addr),
            _ => return None,
        };
        let m: [u8; 6] = addr.as_slice().try_into().ok()?;
        (hw_type == HW_ETHERNET).then_some(Mac(m))
    }

    /// A short description for people: "LL 02:42:ac:11:00:02",
    /// "EN 43793 ...", "UUID ...", or the type number.
    pub fn describe(&self) -> String {
        let colons = |b: &[u8]| {
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        match self.kind() {
            DuidKind::Llt {
                hw_type,
                time,
                addr,
            } => format!("LLT hw {hw_type} time {time} {}", colons(&addr)),
            DuidKind::En { enterprise, id } => format!("EN {enterprise} {}", colons(&id)),
            DuidKind::Ll { hw_type, addr } => format!("LL hw {hw_type} {}", colons(&addr)),
            DuidKind::Uuid(u) => format!("UUID {}", colons(&u)),
            DuidKind::Other { duid_type } => format!("type {duid_type} {self}"),
        }
    }
}

/// Colon-separated hex octets, as dnsmasq and kea print DUIDs.
impl fmt::Display for Duid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Duid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Duid({self})")
    }
}

impl FromStr for Duid {
    type Err = String;
    fn from_str(s: &str) -> Result<Duid, String> {
        let bytes: Option<Vec<u8>> = s
            .split(':')
            .map(|p| {
                (p.len() == 2)
                    .then(|| u8::from_str_radix(p, 16).ok())
                    .flatten()
            })
            .collect();
        bytes.and_then(|b| Duid::from_bytes(&b)).ok_or_else(|| {
            format!(
                "{s:?} is not a DUID: give 3 to {MAX_DUID_LEN} colon-separated hex octets, the type first (e.g. 00:03:00:01:02:42:ac:11:00:02)"
            )
        })
    }
}

impl Serialize for Duid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duid, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC: Mac = Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);

    #[test]
    fn duid_ll_of_a_mac_is_type_3_ethernet_and_the_mac() {
        let d = Duid::ll(MAC);
        assert_eq!(d.as_bytes(), &[0, 3, 0, 1, 0x02, 0x42, 0xac, 0x11, 0, 2]);
        assert_eq!(d.to_string(), "00:03:00:01:02:42:ac:11:00:02");
        assert_eq!(d.mac(), Some(MAC));
        assert_eq!(d.describe(), "LL hw 1 02:42:ac:11:00:02");
    }

    #[test]
    fn every_duid_type_decodes() {
        // dnsmasq's own DUID is a DUID-LLT.
        let llt =
            Duid::from_bytes(&[0, 1, 0, 1, 0x2c, 0x5e, 0x11, 0x22, 2, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(
            llt.kind(),
            DuidKind::Llt {
                hw_type: 1,
                time: 0x2c5e_1122,
                addr: vec![2, 0, 0, 0, 0, 1]
            }
        );
        assert_eq!(llt.mac(), Some(Mac([2, 0, 0, 0, 0, 1])));
        let en = Duid::en(43793, b"web");
        assert_eq!(en.as_bytes(), &[0, 2, 0, 0, 0xab, 0x11, b'w', b'e', b'b']);
        assert_eq!(
            en.kind(),
            DuidKind::En {
                enterprise: 43793,
                id: b"web".to_vec()
            }
        );
        assert_eq!(en.mac(), None);
        let u = Duid::uuid([7; 16]);
        assert_eq!(u.kind(), DuidKind::Uuid([7; 16]));
        assert_eq!(
            Duid::from_bytes(&[0, 4, 1, 2, 3]).unwrap().kind(),
            DuidKind::Other { duid_type: 4 },
            "a UUID DUID of the wrong length"
        );
        assert_eq!(
            Duid::from_bytes(&[0xff, 0xff, 1]).unwrap().kind(),
            DuidKind::Other { duid_type: 0xffff }
        );
    }

    #[test]
    fn duids_shorter_than_3_or_longer_than_130_octets_are_refused() {
        assert!(Duid::from_bytes(&[]).is_none());
        assert!(Duid::from_bytes(&[0, 3]).is_none());
        assert!(Duid::from_bytes(&[0; 131]).is_none());
        assert!(Duid::from_bytes(&[0; 130]).is_some());
        assert_eq!(Duid::en(1, &[9; 300]).as_bytes().len(), MAX_DUID_LEN);
        assert_eq!(Duid::en(1, &[]).as_bytes().len(), 7);
    }

    #[test]
    fn a_duid_round_trips_through_its_text_and_json() {
        let d = Duid::ll(MAC);
        assert_eq!(d.to_string().parse::<Duid>().unwrap(), d);
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(j, "\"00:03:00:01:02:42:ac:11:00:02\"");
        assert_eq!(serde_json::from_str::<Duid>(&j).unwrap(), d);
        assert!("00:03".parse::<Duid>().is_err());
        assert!("00:03:0g".parse::<Duid>().is_err());
        assert!("".parse::<Duid>().is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(b in proptest::collection::vec(any::<u8>(), 0..140)) {
            if let Some(d) = Duid::from_bytes(&b) {
                let _ = (d.kind(), d.mac(), d.describe());
                prop_assert_eq!(d.to_string().parse::<Duid>().unwrap(), d);
            }
        }
    }
}
