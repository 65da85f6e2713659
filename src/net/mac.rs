//! Ethernet MAC addresses: parsing, validation and random generation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    /// The 12 hex digits, no separators (as client ids carry it).
    pub fn hex(&self) -> String {
        self.0.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// A random locally administered unicast address, as a container or a
    /// probe uses: the "locally administered" bit keeps it out of every
    /// vendor's range, and the multicast bit must be clear for a host.
    pub fn random_local() -> Mac {
        let mut b = [0u8; 6];
        fill_random(&mut b);
        b[0] = (b[0] & 0xfc) | 0x02;
        Mac(b)
    }

    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// The address as a host may use it: unicast and not all zeros.
    pub fn parse_unicast(s: &str) -> Result<Mac, String> {
        let mac: Mac = s.parse()?;
        if mac.is_zero() {
            return Err(format!(
                "{s} is the all-zero MAC address, which no host may use"
            ));
        }
        if mac.is_multicast() {
            return Err(format!(
                "{s} is a multicast (or broadcast) MAC address: the lowest bit of the first octet \
                 must be 0 for a host; locally administered unicast addresses start with x2, x6, xa or xe \
                 (for example 02:42:ac:11:00:02)"
            ));
        }
        Ok(mac)
    }
}

/// Fill a buffer from the OS random source. Falls back to a time-seeded mix
/// only when getrandom fails, which on Linux means a broken system; a
/// transaction id or MAC from that is still unique enough to work.
pub fn fill_random(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15)
            ^ (std::process::id() as u64) << 32;
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

pub fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    fill_random(&mut b);
    u32::from_ne_bytes(b)
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Mac, String> {
        let bad = || {
            format!(
                "invalid MAC address {s:?}: expected six hexadecimal octets like 02:42:ac:11:00:02"
            )
        };
        let parts: Vec<&str> = if s.contains(':') {
            s.split(':').collect()
        } else if s.contains('-') {
            s.split('-').collect()
        } else {
            return Err(bad());
        };
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.is_empty() || p.len() > 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_separators() {
        assert_eq!(
            "02:42:AC:11:00:02".parse::<Mac>().unwrap().0,
            [2, 0x42, 0xac, 0x11, 0, 2]
        );
        assert_eq!(
            "02-42-ac-11-00-02".parse::<Mac>().unwrap().0,
            [2, 0x42, 0xac, 0x11, 0, 2]
        );
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "0242ac110002",
            "02:42:ac:11:00:zz",
            "002:42:ac:11:00:02",
        ] {
            assert!(s.parse::<Mac>().is_err(), "{s}");
        }
    }

    #[test]
    fn rejects_multicast_and_zero_for_hosts() {
        assert!(
            Mac::parse_unicast("01:00:5e:00:00:01")
                .unwrap_err()
                .contains("multicast")
        );
        assert!(Mac::parse_unicast("ff:ff:ff:ff:ff:ff").is_err());
        assert!(
            Mac::parse_unicast("00:00:00:00:00:00")
                .unwrap_err()
                .contains("all-zero")
        );
        assert!(Mac::parse_unicast("02:00:00:00:00:01").is_ok());
    }

    #[test]
    fn random_is_local_unicast() {
        for _ in 0..100 {
            let m = Mac::random_local();
            assert!(m.is_local() && !m.is_multicast(), "{m}");
        }
    }

    #[test]
    fn display_round_trips() {
        let m = Mac([0x02, 0xab, 0, 1, 0xfe, 0x10]);
        assert_eq!(m.to_string(), "02:ab:00:01:fe:10");
        assert_eq!(m.to_string().parse::<Mac>().unwrap(), m);
    }
}
