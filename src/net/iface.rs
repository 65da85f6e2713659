//! What dhcpnet needs to know about an interface, read from sysfs, with the
//! checks that turn a confusing socket error into a clear message.

use std::path::Path;

use super::mac::Mac;
use crate::error::{Error, Result};

const ARPHRD_ETHER: u32 = 1;
const ARPHRD_LOOPBACK: u32 = 772;
const IFF_UP: u32 = 0x1;

#[derive(Debug, Clone)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub mac: Mac,
    pub mtu: u32,
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Check a name before it is used in a path: interface names are at most 15
/// bytes and never contain '/' or whitespace (IFNAMSIZ, dev_valid_name).
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
    {
        return Err(Error::Usage(format!(
            "{name:?} is not a valid interface name (1-15 characters, no '/', ':' or spaces)"
        )));
    }
    Ok(())
}

impl Interface {
    /// Look up an Ethernet interface that is up and can carry DHCP.
    pub fn lookup(name: &str) -> Result<Interface> {
        validate_name(name)?;
        let dir = Path::new("/sys/class/net").join(name);
        if !dir.exists() {
            return Err(Error::Interface(format!(
                "no interface named {name} in this network namespace; `ip link` lists the ones there are"
            )));
        }
        let num = |f: &str| read(&dir, f).and_then(|s| s.parse::<u32>().ok());
        let hex = |f: &str| {
            read(&dir, f).and_then(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        };
        let kind = num("type").unwrap_or(0);
        if kind == ARPHRD_LOOPBACK {
            return Err(Error::Interface(format!(
                "{name} is a loopback interface: DHCP needs an Ethernet interface on the LAN (e.g. eth0)"
            )));
        }
        if kind != ARPHRD_ETHER {
            return Err(Error::Interface(format!(
                "{name} is not an Ethernet interface (link type {kind}): macvlan and DHCP need Ethernet"
            )));
        }
        let index = num("ifindex").ok_or_else(|| {
            Error::Interface(format!("cannot read the index of {name} from sysfs"))
        })?;
        let mac: Mac = read(&dir, "address")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                Error::Interface(format!("cannot read the MAC address of {name} from sysfs"))
            })?;
        let flags = hex("flags").unwrap_or(0);
        if flags & IFF_UP == 0 {
            return Err(Error::Interface(format!(
                "{name} is down: bring it up with `ip link set {name} up`, then try again"
            )));
        }
        if dir.join("wireless").exists() || dir.join("phy80211").exists() {
            log::warn!(
                "{name} is a Wi-Fi interface: access points usually drop frames from MAC addresses \
                 that have not associated, so DHCP for container MACs (and macvlan) will likely fail"
            );
        }
        if read(&dir, "carrier").as_deref() == Some("0") {
            log::warn!(
                "{name} has no carrier (cable unplugged or peer down): DHCP will likely time out"
            );
        }
        Ok(Interface {
            name: name.to_string(),
            index,
            mac,
            mtu: num("mtu").unwrap_or(1500),
        })
    }
}

/// The IPv4 addresses assigned to interfaces of this network namespace
/// (empty when they cannot be read).
pub fn local_ipv4s() -> Vec<std::net::Ipv4Addr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list it allocated, or fails.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet
        // freed; an AF_INET ifa_addr points to a sockaddr_in.
        unsafe {
            let a = (*cur).ifa_addr;
            if !a.is_null() && i32::from((*a).sa_family) == libc::AF_INET {
                let sin = &*(a as *const libc::sockaddr_in);
                out.push(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            cur = (*cur).ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once, after its last use.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_before_touching_sysfs() {
        for bad in ["", "a/b", "../etc", "sixteen-chars-xx", "eth 0", "eth0:1"] {
            assert!(matches!(validate_name(bad), Err(Error::Usage(_))), "{bad}");
        }
        assert!(validate_name("eth0.10").is_ok());
    }

    #[test]
    fn missing_interface_is_an_interface_error() {
        let e = Interface::lookup("nosuchif0").unwrap_err();
        assert!(
            matches!(e, Error::Interface(ref m) if m.contains("no interface named nosuchif0")),
            "{e}"
        );
    }

    #[test]
    fn loopback_is_refused() {
        let e = Interface::lookup("lo").unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
    }
}
