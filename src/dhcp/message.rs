//! DHCPv4 messages: building what a client sends and reading what a server
//! answers. Pure functions over `dhcproto` types: no sockets, no clocks.
//!
//! What goes into each message follows RFC 2131 table 5; the golden-byte
//! tests at the bottom pin the exact wire format.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Encodable, Encoder};
use serde::{Deserialize, Serialize};

use crate::net::mac::Mac;

/// The smallest BOOTP message (RFC 951/1542); some relays and servers drop
/// anything shorter, and dhcproto does not pad on its own.
pub const MIN_MESSAGE_LEN: usize = 300;

/// Largest DHCP message we accept, advertised in option 57. Servers read it
/// as the whole IP datagram (as dhclient and dhcpcd send it): the Ethernet MTU.
pub const MAX_MESSAGE_SIZE: u16 = 1500;

/// Options asked for in option 55, in this order.
pub const PARAMETER_REQUEST_LIST: [OptionCode; 13] = [
    OptionCode::SubnetMask,           // 1
    OptionCode::Router,               // 3
    OptionCode::DomainNameServer,     // 6
    OptionCode::DomainName,           // 15
    OptionCode::InterfaceMtu,         // 26
    OptionCode::BroadcastAddr,        // 28
    OptionCode::NtpServers,           // 42
    OptionCode::AddressLeaseTime,     // 51
    OptionCode::ServerIdentifier,     // 54
    OptionCode::Renewal,              // 58
    OptionCode::Rebinding,            // 59
    OptionCode::DomainSearch,         // 119
    OptionCode::ClasslessStaticRoute, // 121
];

/// Who the client is on the wire: the same identity must be used for every
/// message of a lease, or the server sees a different client (RFC 4361).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub mac: Mac,
    /// Contents of option 61 (type octet first).
    pub client_id: Vec<u8>,
    pub hostname: Option<String>,
    pub vendor_class: Option<String>,
}

impl Identity {
    pub fn new(mac: Mac) -> Self {
        Identity {
            mac,
            client_id: default_client_id(mac),
            hostname: None,
            vendor_class: None,
        }
    }
}

/// RFC 2132 §9.14: hardware type 1 (Ethernet) followed by the MAC.
pub fn default_client_id(mac: Mac) -> Vec<u8> {
    let mut v = Vec::with_capacity(7);
    v.push(1);
    v.extend_from_slice(&mac.0);
    v
}

/// Parse `--client-id`: colon-separated hex octets are taken as the exact
/// contents of option 61; any other text is sent as type 0 (RFC 2132 §9.14:
/// "an identifier other than a hardware address") followed by the text.
pub fn parse_client_id(s: &str) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Err("the client identifier is empty".into());
    }
    let hex: Option<Vec<u8>> = if s.contains(':') {
        s.split(':')
            .map(|p| {
                if p.len() == 2 {
                    u8::from_str_radix(p, 16).ok()
                } else {
                    None
                }
            })
            .collect()
    } else {
        None
    };
    let id = match hex {
        Some(bytes) => bytes,
        None => {
            let mut v = vec![0u8];
            v.extend_from_slice(s.as_bytes());
            v
        }
    };
    if id.len() < 2 {
        return Err(format!(
            "client identifier {s:?} is too short: RFC 2132 needs at least 2 octets"
        ));
    }
    if id.len() > 255 {
        return Err(format!(
            "client identifier {s:?} is longer than the 255 octets an option holds"
        ));
    }
    Ok(id)
}

/// Option 61 as type 0 (not a hardware address) followed by `text`; a text
/// longer than the option holds is cut and ends in `~` and a hash of the
/// whole (`cut`: SHA-256, stable across versions and hosts, as ids must
/// be, and not open to crafted collisions).
pub fn text_client_id(text: &str) -> Vec<u8> {
    text_id(text, crate::cut::tail)
}

/// The id an older dhcpnet made of `text` when that differs from
/// `text_client_id`'s (a text cut with FNV-1a): leases granted under it
/// are still recognised as `text`'s.
pub fn legacy_text_client_id(text: &str) -> Option<Vec<u8>> {
    (text.len() > TEXT_ID_MAX).then(|| text_id(text, crate::cut::legacy_tail))
}

/// The longest text of a type-0 client id: the option's 255 octets less
/// the type.
const TEXT_ID_MAX: usize = 254;

fn text_id(text: &str, tail: fn(&[u8]) -> String) -> Vec<u8> {
    let mut id = vec![0u8];
    id.extend(crate::cut::cut(text.as_bytes(), TEXT_ID_MAX, tail));
    id
}

pub fn format_client_id(id: &[u8]) -> String {
    id.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A host name for option 12: dot-separated labels of letters, digits and
/// hyphens, none starting or ending with a hyphen (RFC 1123 §2.1).
pub fn validate_hostname(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err(format!("hostname {s:?} must be 1 to 253 characters long"));
    }
    for label in s.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "hostname {s:?} is not valid: each dot-separated label must be 1-63 letters, digits \
                 or hyphens, not starting or ending with a hyphen (e.g. web-1)"
            ));
        }
    }
    Ok(())
}

fn base(xid: u32, secs: u16, id: &Identity, broadcast: bool) -> Message {
    let mut m = Message::default();
    m.set_opcode(Opcode::BootRequest)
        .set_xid(xid)
        .set_secs(secs)
        .set_chaddr(&id.mac.0)
        .set_flags(if broadcast {
            Flags::default().set_broadcast()
        } else {
            Flags::default()
        });
    m
}

/// Options a client sends in DISCOVER and REQUEST (RFC 2131 table 5 "MAY").
fn add_request_options(m: &mut Message, id: &Identity, with_hostname: bool) {
    let o = m.opts_mut();
    o.insert(DhcpOption::ClientIdentifier(id.client_id.clone()));
    o.insert(DhcpOption::ParameterRequestList(
        PARAMETER_REQUEST_LIST.to_vec(),
    ));
    o.insert(DhcpOption::MaxMessageSize(MAX_MESSAGE_SIZE));
    if with_hostname && let Some(h) = &id.hostname {
        o.insert(DhcpOption::Hostname(h.clone()));
    }
    if let Some(v) = &id.vendor_class {
        o.insert(DhcpOption::ClassIdentifier(v.as_bytes().to_vec()));
    }
}

/// DHCPDISCOVER, optionally asking for an address (option 50).
pub fn discover(
    xid: u32,
    secs: u16,
    id: &Identity,
    broadcast: bool,
    requested: Option<Ipv4Addr>,
) -> Message {
    let mut m = base(xid, secs, id, broadcast);
    m.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Discover));
    if let Some(ip) = requested {
        m.opts_mut().insert(DhcpOption::RequestedIpAddress(ip));
    }
    add_request_options(&mut m, id, true);
    m
}

/// DHCPREQUEST in SELECTING state: accept `offered` from `server`.
pub fn request_selecting(
    xid: u32,
    secs: u16,
    id: &Identity,
    broadcast: bool,
    offered: Ipv4Addr,
    server: Ipv4Addr,
) -> Message {
    let mut m = base(xid, secs, id, broadcast);
    m.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Request));
    m.opts_mut().insert(DhcpOption::RequestedIpAddress(offered));
    m.opts_mut().insert(DhcpOption::ServerIdentifier(server));
    add_request_options(&mut m, id, true);
    m
}

/// DHCPREQUEST in INIT-REBOOT state: ask for a known address back (option 50,
/// no server identifier, ciaddr zero).
pub fn request_reboot(
    xid: u32,
    secs: u16,
    id: &Identity,
    broadcast: bool,
    ip: Ipv4Addr,
) -> Message {
    let mut m = base(xid, secs, id, broadcast);
    m.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Request));
    m.opts_mut().insert(DhcpOption::RequestedIpAddress(ip));
    add_request_options(&mut m, id, true);
    m
}

/// DHCPREQUEST in RENEWING (unicast to the server) or REBINDING (broadcast)
/// state: ciaddr carries the address, and options 50 and 54 MUST NOT appear.
pub fn request_extend(xid: u32, secs: u16, id: &Identity, ip: Ipv4Addr) -> Message {
    let mut m = base(xid, secs, id, false);
    m.set_ciaddr(ip);
    m.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Request));
    add_request_options(&mut m, id, true);
    m
}

/// DHCPRELEASE: ciaddr, server identifier and the lease's client identifier,
/// and nothing else (table 5; dnsmasq drops a RELEASE that carries option 50).
pub fn release(xid: u32, id: &Identity, ip: Ipv4Addr, server: Ipv4Addr) -> Message {
    let mut m = base(xid, 0, id, false);
    m.set_ciaddr(ip);
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(MessageType::Release));
    o.insert(DhcpOption::ServerIdentifier(server));
    o.insert(DhcpOption::ClientIdentifier(id.client_id.clone()));
    m
}

/// DHCPDECLINE: the offered address is in use (RFC 2131 §3.1.5, RFC 5227).
pub fn decline(xid: u32, id: &Identity, ip: Ipv4Addr, server: Ipv4Addr) -> Message {
    let mut m = base(xid, 0, id, false);
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(MessageType::Decline));
    o.insert(DhcpOption::RequestedIpAddress(ip));
    o.insert(DhcpOption::ServerIdentifier(server));
    o.insert(DhcpOption::ClientIdentifier(id.client_id.clone()));
    m
}

/// Encode and pad to the 300-byte BOOTP minimum.
pub fn encode(m: &Message) -> Vec<u8> {
    let mut buf = Vec::with_capacity(MIN_MESSAGE_LEN + 64);
    let mut e = Encoder::new(&mut buf);
    // Encoding our own well-formed messages only fails on options longer
    // than 255 octets, which the builders above never create.
    if m.encode(&mut e).is_err() {
        log::error!("failed to encode a DHCP message; sending it truncated");
    }
    if buf.len() < MIN_MESSAGE_LEN {
        buf.resize(MIN_MESSAGE_LEN, 0);
    }
    buf
}

/// A route from option 121 (or 3 for the default route).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: ipnet::Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// What a server's OFFER or ACK says about an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub ip: Ipv4Addr,
    pub server_id: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    /// Seconds; `u32::MAX` is an infinite lease.
    pub lease_time: u32,
    pub renewal_time: u32,
    pub rebinding_time: u32,
    pub mtu: Option<u16>,
    pub broadcast: Option<Ipv4Addr>,
    pub ntp: Vec<Ipv4Addr>,
    pub routes: Vec<Route>,
}

pub const INFINITE: u32 = u32::MAX;

pub use crate::net::subnet::{mask_to_prefix, prefix_to_mask, subnet_of};

/// T1 and T2 (RFC 2131 §4.4.5): the server's values when they are sane
/// (T1 < T2 < lease), else 50% and 87.5% of the lease.
pub fn timers(lease: u32, t1: Option<u32>, t2: Option<u32>) -> (u32, u32) {
    if lease == INFINITE {
        return (INFINITE, INFINITE);
    }
    let d1 = lease / 2;
    let d2 = ((lease as u64) * 7 / 8) as u32;
    let t2 = t2.filter(|&t| t < lease).unwrap_or(d2);
    let t1 = t1.filter(|&t| t < t2).unwrap_or(d1.min(t2));
    (t1, t2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident() -> Identity {
        let mut id = Identity::new(Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]));
        id.hostname = Some("web-1".into());
        id
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The fixed BOOTP header of a client message.
    fn header(b: &[u8], op: u8, xid: [u8; 4], flags: [u8; 2], ciaddr: [u8; 4]) {
        assert_eq!(b[0], op);
        assert_eq!(&b[1..3], &[1, 6], "htype Ethernet, hlen 6");
        assert_eq!(&b[4..8], &xid);
        assert_eq!(&b[10..12], &flags);
        assert_eq!(&b[12..16], &ciaddr);
        assert_eq!(&b[16..28], &[0; 12], "yiaddr, siaddr, giaddr zero");
        assert_eq!(&b[28..34], &[0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
        assert_eq!(&b[34..236], &[0; 202][..], "chaddr padding, sname, file");
        assert_eq!(&b[236..240], &[99, 130, 83, 99], "magic cookie");
    }

    #[test]
    fn discover_golden_bytes() {
        let b = encode(&discover(0x11223344, 3, &ident(), true, None));
        assert_eq!(b.len(), 300);
        header(&b, 1, [0x11, 0x22, 0x33, 0x44], [0x80, 0x00], [0; 4]);
        assert_eq!(&b[8..10], &[0, 3], "secs");
        // Options in code order, as dhcproto writes them, then End and padding.
        let opts = hex(&b[240..]);
        let want = concat!(
            "0c05",
            "7765622d31", // 12 hostname "web-1"
            "3501",
            "01", // 53 DISCOVER
            "370d",
            "0103060f1a1c2a33363a3b7779", // 55 parameter request list
            "3902",
            "05dc", // 57 max size 1500
            "3d07",
            "01",
            "0242ac110002", // 61 client id type 1 + MAC
            "ff"
        );
        assert!(opts.starts_with(want), "{opts}");
        assert!(
            opts[want.len()..].bytes().all(|c| c == b'0'),
            "zero padding"
        );
    }

    #[test]
    fn request_selecting_carries_50_and_54() {
        let m = request_selecting(
            7,
            0,
            &ident(),
            false,
            Ipv4Addr::new(10, 77, 0, 50),
            Ipv4Addr::new(10, 77, 0, 1),
        );
        let b = encode(&m);
        header(&b, 1, [0, 0, 0, 7], [0, 0], [0; 4]);
        let opts = hex(&b[240..]);
        assert!(opts.starts_with("0c05"));
        assert!(opts.contains("32040a4d0032"), "50 requested address");
        assert!(opts.contains("350103"), "53 REQUEST");
        assert!(opts.contains("36040a4d0001"), "54 server id");
    }

    #[test]
    fn release_golden_bytes() {
        let b = encode(&release(
            0xdeadbeef,
            &ident(),
            Ipv4Addr::new(10, 77, 0, 50),
            Ipv4Addr::new(10, 77, 0, 1),
        ));
        assert_eq!(b.len(), 300);
        header(&b, 1, [0xde, 0xad, 0xbe, 0xef], [0, 0], [10, 77, 0, 50]);
        let want = concat!("350107", "36040a4d0001", "3d07010242ac110002", "ff");
        let opts = hex(&b[240..]);
        assert!(opts.starts_with(want), "{opts}");
        assert!(
            !opts[..want.len()].contains("3204"),
            "no option 50 in RELEASE"
        );
    }

    #[test]
    fn renew_has_ciaddr_and_no_50_54() {
        let m = request_extend(1, 0, &ident(), Ipv4Addr::new(10, 77, 0, 50));
        assert_eq!(m.ciaddr(), Ipv4Addr::new(10, 77, 0, 50));
        assert!(m.opts().get(OptionCode::RequestedIpAddress).is_none());
        assert!(m.opts().get(OptionCode::ServerIdentifier).is_none());
        assert!(!m.flags().broadcast());
    }

    #[test]
    fn decline_carries_requested_address() {
        let m = decline(
            1,
            &ident(),
            Ipv4Addr::new(10, 0, 0, 9),
            Ipv4Addr::new(10, 0, 0, 1),
        );
        assert_eq!(m.opts().msg_type(), Some(MessageType::Decline));
        assert!(matches!(
            m.opts().get(OptionCode::RequestedIpAddress),
            Some(DhcpOption::RequestedIpAddress(_))
        ));
        assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn timers_follow_rfc_defaults_and_reject_insane_values() {
        assert_eq!(timers(100, None, None), (50, 87));
        assert_eq!(timers(100, Some(30), Some(60)), (30, 60));
        assert_eq!(timers(100, Some(90), Some(60)), (50, 60));
        assert_eq!(timers(100, Some(10), Some(200)), (10, 87));
        assert_eq!(timers(INFINITE, Some(10), None), (INFINITE, INFINITE));
    }

    #[test]
    fn masks_and_prefixes() {
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(mask_to_prefix(Ipv4Addr::UNSPECIFIED), Some(0));
        assert_eq!(prefix_to_mask(20), Ipv4Addr::new(255, 255, 240, 0));
        assert_eq!(
            subnet_of(Ipv4Addr::new(192, 168, 7, 200), 20).to_string(),
            "192.168.0.0/20"
        );
    }

    #[test]
    fn client_id_parsing() {
        assert_eq!(
            parse_client_id("01:02:42:ac:11:00:02").unwrap(),
            vec![1, 2, 0x42, 0xac, 0x11, 0, 2]
        );
        assert_eq!(parse_client_id("web").unwrap(), b"\0web".to_vec());
        assert!(parse_client_id("").is_err());
        assert!(parse_client_id("01").is_err() || parse_client_id("01").unwrap().len() >= 2);
        assert_eq!(format_client_id(&[1, 2, 0xff]), "01:02:ff");
    }

    #[test]
    fn hostnames() {
        for ok in ["web", "web-1", "a.b.c", "x1"] {
            assert!(validate_hostname(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-web", "web-", "we_b", "a..b", "héllo", &"a".repeat(64)] {
            assert!(validate_hostname(bad).is_err(), "{bad}");
        }
    }
}
