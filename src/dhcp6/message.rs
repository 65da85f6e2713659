//! DHCPv6 messages (RFC 8415): building what a client sends. Pure: no
//! sockets, no clocks, no randomness (transaction ids come from the caller).
//!
//! A message is a type, a 24-bit transaction id and options, each a 16-bit
//! code, a 16-bit length and data (RFC 8415 §8, §21.1). What each client
//! message carries follows §18.2 and appendix B:
//!
//! | message      | CLIENTID | SERVERID | IA_NA (addresses)  | ORO | ELAPSED | RAPID | FQDN |
//! |--------------|----------|----------|--------------------|-----|---------|-------|------|
//! | SOLICIT      | yes      |          | a hint, if any     | yes | yes     | asked | name |
//! | REQUEST      | yes      | yes      | the advertised     | yes | yes     |       | name |
//! | RENEW        | yes      | yes      | the lease's        | yes | yes     |       | name |
//! | REBIND       | yes      |          | the lease's        | yes | yes     |       | name |
//! | CONFIRM      | yes      |          | the lease's        |     | yes     |       |      |
//! | RELEASE      | yes      | yes      | the lease's        |     | yes     |       |      |
//! | DECLINE      | yes      | yes      | the declined       |     | yes     |       |      |
//! | INFO-REQUEST | yes      |          |                    | yes | yes     |       |      |
//!
//! T1, T2 and lifetimes a client sends are 0 (§21.4, §21.6: the server
//! ignores them). Options are written in code order; the golden-byte tests
//! below pin the wire format, checked by hand against the RFC layouts and
//! against what dnsmasq and kea answer in a namespace lab.
//!
//! Why not `dhcproto::v6`: the reply side must be a parser of our own (see
//! `reply`), and the builders are a few lines each over the same option
//! layout, so both directions share one vocabulary (`code`) and one set of
//! golden bytes.

use std::net::Ipv6Addr;
use std::time::Duration;

pub use super::duid::Duid;
use crate::net::mac::Mac;

/// A lifetime, T1 or T2 of 0xffffffff: forever (RFC 8415 §7.7).
pub const INFINITY: u32 = u32::MAX;

/// Transaction ids are 24 bits (RFC 8415 §8).
pub const XID_MASK: u32 = 0x00ff_ffff;

/// Message types (RFC 8415 §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Solicit = 1,
    Advertise = 2,
    Request = 3,
    Confirm = 4,
    Renew = 5,
    Rebind = 6,
    Reply = 7,
    Release = 8,
    Decline = 9,
    Reconfigure = 10,
    InformationRequest = 11,
    RelayForw = 12,
    RelayRepl = 13,
}

impl MessageType {
    pub fn from_u8(t: u8) -> Option<MessageType> {
        use MessageType::*;
        Some(match t {
            1 => Solicit,
            2 => Advertise,
            3 => Request,
            4 => Confirm,
            5 => Renew,
            6 => Rebind,
            7 => Reply,
            8 => Release,
            9 => Decline,
            10 => Reconfigure,
            11 => InformationRequest,
            12 => RelayForw,
            13 => RelayRepl,
            _ => return None,
        })
    }

    /// The name the RFC uses, for logs and `watch`.
    pub fn name(self) -> &'static str {
        use MessageType::*;
        match self {
            Solicit => "SOLICIT",
            Advertise => "ADVERTISE",
            Request => "REQUEST",
            Confirm => "CONFIRM",
            Renew => "RENEW",
            Rebind => "REBIND",
            Reply => "REPLY",
            Release => "RELEASE",
            Decline => "DECLINE",
            Reconfigure => "RECONFIGURE",
            InformationRequest => "INFORMATION-REQUEST",
            RelayForw => "RELAY-FORW",
            RelayRepl => "RELAY-REPL",
        }
    }
}

/// Option codes (RFC 8415 §21, RFC 3646, RFC 4704, RFC 8415 §21.24-25).
pub mod code {
    pub const CLIENTID: u16 = 1;
    pub const SERVERID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IA_TA: u16 = 4;
    pub const IAADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const PREFERENCE: u16 = 7;
    pub const ELAPSED_TIME: u16 = 8;
    pub const RELAY_MSG: u16 = 9;
    pub const AUTH: u16 = 11;
    pub const UNICAST: u16 = 12;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const RECONF_ACCEPT: u16 = 20;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_LIST: u16 = 24;
    pub const IA_PD: u16 = 25;
    pub const INFORMATION_REFRESH_TIME: u16 = 32;
    pub const CLIENT_FQDN: u16 = 39;
    pub const SOL_MAX_RT: u16 = 82;
    pub const INF_MAX_RT: u16 = 83;
}

/// Options asked for (ORO, §21.7) in SOLICIT, REQUEST, RENEW and REBIND:
/// DNS servers, the search list and SOL_MAX_RT (which a client MUST ask for
/// in a SOLICIT, §18.2.1).
pub const ORO_LEASE: [u16; 3] = [code::DNS_SERVERS, code::DOMAIN_LIST, code::SOL_MAX_RT];

/// Options asked for in an INFORMATION-REQUEST: the same, with the
/// information refresh time and INF_MAX_RT that it MUST ask for (§18.2.6).
pub const ORO_INFORMATION: [u16; 4] = [
    code::DNS_SERVERS,
    code::DOMAIN_LIST,
    code::INFORMATION_REFRESH_TIME,
    code::INF_MAX_RT,
];

/// Client FQDN flags (RFC 4704 §4.1): S asks the server to do the AAAA
/// (forward) update, so the name shows in its table and DNS; N would ask
/// for no update at all; O is the server's, set when it overrode S.
pub const FQDN_S: u8 = 0x01;
pub const FQDN_O: u8 = 0x02;
pub const FQDN_N: u8 = 0x04;

/// Who the client is on the wire: a DUID and the IAID of its one IA_NA,
/// which must stay the same for every message of a lease (the server binds
/// addresses to the pair), the MAC frames go out from, and the name the
/// server should register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub mac: Mac,
    pub duid: Duid,
    pub iaid: u32,
    /// A host name (one label: the server adds its domain) or a fully
    /// qualified name, sent in CLIENT_FQDN. Checked with
    /// `dhcp::message::validate_hostname` by whoever sets it.
    pub fqdn: Option<String>,
}

impl Identity {
    /// DUID-LL of the MAC and the IAID of the MAC (`iaid_of`).
    pub fn new(mac: Mac) -> Identity {
        Identity {
            mac,
            duid: Duid::ll(mac),
            iaid: iaid_of(mac),
            fqdn: None,
        }
    }
}

/// The IAID of the one IA_NA of a client with this MAC: its last four
/// octets, as ISC dhclient derives it. Stable for as long as the MAC is;
/// containers that share a MAC have DUIDs of their own, so their IAIDs
/// may coincide.
pub fn iaid_of(mac: Mac) -> u32 {
    u32::from_be_bytes([mac.0[2], mac.0[3], mac.0[4], mac.0[5]])
}

/// A DHCPv6 message: type, transaction id, options in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub msg_type: MessageType,
    /// The 24-bit transaction id (higher bits are dropped when encoding).
    pub xid: u32,
    pub options: Vec<(u16, Vec<u8>)>,
}

impl Message {
    pub fn new(msg_type: MessageType, xid: u32) -> Message {
        Message {
            msg_type,
            xid: xid & XID_MASK,
            options: Vec::new(),
        }
    }

    pub fn push(&mut self, code: u16, data: Vec<u8>) {
        self.options.push((code, data));
    }

    /// The data of the first option `code`.
    pub fn option(&self, code: u16) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// Set the elapsed time (§21.9) of a message about to be sent again.
    pub fn set_elapsed(&mut self, since_first: Duration) {
        let v = elapsed_centis(since_first).to_be_bytes().to_vec();
        match self
            .options
            .iter_mut()
            .find(|(c, _)| *c == code::ELAPSED_TIME)
        {
            Some((_, d)) => *d = v,
            None => self.options.push((code::ELAPSED_TIME, v)),
        }
    }

    /// The bytes that go in the UDP datagram.
    pub fn encode(&self) -> Vec<u8> {
        let len: usize = self.options.iter().map(|(_, d)| 4 + d.len()).sum();
        let mut b = Vec::with_capacity(4 + len);
        b.push(self.msg_type as u8);
        b.extend_from_slice(&(self.xid & XID_MASK).to_be_bytes()[1..]);
        for (c, d) in &self.options {
            put_option(&mut b, *c, d);
        }
        b
    }
}

/// Append one option. Option data is at most 65535 octets; nothing a
/// client builds comes near it, and longer data is cut rather than
/// written with a length that lies.
pub fn put_option(b: &mut Vec<u8>, code: u16, data: &[u8]) {
    let data = &data[..data.len().min(u16::MAX as usize)];
    b.extend_from_slice(&code.to_be_bytes());
    b.extend_from_slice(&(data.len() as u16).to_be_bytes());
    b.extend_from_slice(data);
}

/// Elapsed time in hundredths of a second, 0xffff from 655.35 s on (§21.9).
pub fn elapsed_centis(d: Duration) -> u16 {
    (d.as_millis() / 10).min(u16::MAX as u128) as u16
}

/// IA_NA (§21.4) with T1 = T2 = 0, holding an IAADDR (§21.6) with zero
/// lifetimes for each address.
pub fn ia_na(iaid: u32, addrs: &[Ipv6Addr]) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + 28 * addrs.len());
    v.extend_from_slice(&iaid.to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    for a in addrs {
        let mut ia = Vec::with_capacity(24);
        ia.extend_from_slice(&a.octets());
        ia.extend_from_slice(&[0; 8]);
        put_option(&mut v, code::IAADDR, &ia);
    }
    v
}

/// ORO data: the codes, two octets each.
pub fn oro(codes: &[u16]) -> Vec<u8> {
    codes.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// CLIENT_FQDN data (RFC 4704 §4): the S flag, then the name in DNS wire
/// format. A single label goes as a partial name (no terminating zero
/// octet: the server qualifies it with its own domain, §4.2); a name with
/// dots as a fully qualified one. None when a label is empty or longer
/// than 63 octets or the whole longer than 255.
pub fn client_fqdn(name: &str) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let full = name.contains('.');
    let mut v = vec![FQDN_S];
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    if full {
        v.push(0);
    }
    (v.len() <= 256).then_some(v)
}

fn base(msg_type: MessageType, xid: u32, id: &Identity) -> Message {
    let mut m = Message::new(msg_type, xid);
    m.push(code::CLIENTID, id.duid.as_bytes().to_vec());
    m
}

fn finish(m: &mut Message, id: &Identity, ask: Option<&[u16]>, fqdn: bool) {
    if let Some(codes) = ask {
        m.push(code::ORO, oro(codes));
    }
    m.push(code::ELAPSED_TIME, vec![0, 0]);
    if fqdn && let Some(data) = id.fqdn.as_deref().and_then(client_fqdn) {
        m.push(code::CLIENT_FQDN, data);
    }
}

/// SOLICIT (§18.2.1): any server, please; `hint` names an address the
/// client would like (its last one), and `rapid_commit` asks for the
/// two-message exchange (§18.2.1, §21.14).
pub fn solicit(xid: u32, id: &Identity, hint: Option<Ipv6Addr>, rapid_commit: bool) -> Message {
    let mut m = base(MessageType::Solicit, xid, id);
    m.push(code::IA_NA, ia_na(id.iaid, hint.as_slice()));
    finish(&mut m, id, Some(&ORO_LEASE), false);
    if rapid_commit {
        m.push(code::RAPID_COMMIT, Vec::new());
    }
    if let Some(data) = id.fqdn.as_deref().and_then(client_fqdn) {
        m.push(code::CLIENT_FQDN, data);
    }
    m
}

/// REQUEST (§18.2.2): the addresses `server` advertised, from it.
pub fn request(xid: u32, id: &Identity, server: &Duid, addrs: &[Ipv6Addr]) -> Message {
    let mut m = base(MessageType::Request, xid, id);
    m.push(code::SERVERID, server.as_bytes().to_vec());
    m.push(code::IA_NA, ia_na(id.iaid, addrs));
    finish(&mut m, id, Some(&ORO_LEASE), true);
    m
}

/// RENEW (§18.2.4): extend the lease with the server that granted it.
pub fn renew(xid: u32, id: &Identity, server: &Duid, addrs: &[Ipv6Addr]) -> Message {
    let mut m = base(MessageType::Renew, xid, id);
    m.push(code::SERVERID, server.as_bytes().to_vec());
    m.push(code::IA_NA, ia_na(id.iaid, addrs));
    finish(&mut m, id, Some(&ORO_LEASE), true);
    m
}

/// REBIND (§18.2.5): extend the lease with any server (no server id).
pub fn rebind(xid: u32, id: &Identity, addrs: &[Ipv6Addr]) -> Message {
    let mut m = base(MessageType::Rebind, xid, id);
    m.push(code::IA_NA, ia_na(id.iaid, addrs));
    finish(&mut m, id, Some(&ORO_LEASE), true);
    m
}

/// CONFIRM (§18.2.3): are these addresses still right for this link?
pub fn confirm(xid: u32, id: &Identity, addrs: &[Ipv6Addr]) -> Message {
    let mut m = base(MessageType::Confirm, xid, id);
    m.push(code::IA_NA, ia_na(id.iaid, addrs));
    finish(&mut m, id, None, false);
    m
}

/// RELEASE (§18.2.7): give the addresses back to the server that granted them.
pub fn release(xid: u32, id: &Identity, server: &Duid, addrs: &[Ipv6Addr]) -> Message {
    let mut m = base(MessageType::Release, xid, id);
    m.push(code::SERVERID, server.as_bytes().to_vec());
    m.push(code::IA_NA, ia_na(id.iaid, addrs));
    finish(&mut m, id, None, false);
    m
}

/// DECLINE (§18.2.8): these addresses are in use by another node (DAD).
pub fn decline(xid: u32, id: &Identity, server: &Duid, addrs: &[Ipv6Addr]) -> Message {
    let mut m = base(MessageType::Decline, xid, id);
    m.push(code::SERVERID, server.as_bytes().to_vec());
    m.push(code::IA_NA, ia_na(id.iaid, addrs));
    finish(&mut m, id, None, false);
    m
}

/// INFORMATION-REQUEST (§18.2.6): configuration without addresses (what a
/// probe asks a stateless server, or what M=0 O=1 calls for).
pub fn information_request(xid: u32, id: &Identity) -> Message {
    let mut m = base(MessageType::InformationRequest, xid, id);
    finish(&mut m, id, Some(&ORO_INFORMATION), false);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);

    fn ident() -> Identity {
        let mut id = Identity::new(MAC);
        id.fqdn = Some("web-1".into());
        id
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    const CLIENTID: &str = "0001000a00030001" /* DUID-LL, Ethernet */;
    const SERVER: [u8; 14] = [0, 1, 0, 1, 0x2c, 0x5e, 0x11, 0x22, 2, 0, 0, 0, 0, 1];

    fn addr() -> Ipv6Addr {
        "2001:db8:77::150".parse().unwrap()
    }

    /// These bytes (with other transaction ids) are what dnsmasq 2.90 and
    /// kea-dhcp6 2.2 answered with an ADVERTISE in the namespace lab, and
    /// both registered the name "web-1" (see `reply::tests`).
    #[test]
    fn a_solicit_has_these_bytes() {
        let b = solicit(0x0abcde, &ident(), None, false).encode();
        assert_eq!(
            hex(&b),
            concat!(
                "01",
                "0abcde",
                "0001000a", // CLIENTID, 10 octets
                "00030001", // DUID-LL, Ethernet
                "0242ac110002",
                "0003000c", // IA_NA, 12 octets
                "ac110002", // IAID: the MAC's last four octets
                "00000000", // T1
                "00000000", // T2
                "00060006", // ORO, 6 octets
                "0017",     // DNS servers
                "0018",     // domain list
                "0052",     // SOL_MAX_RT
                "00080002", // ELAPSED_TIME
                "0000",
                "00270007", // CLIENT_FQDN, 7 octets
                "01",       // S: the server updates the AAAA record
                "05",
                "7765622d31" // "web-1", a partial name
            )
        );
        assert!(hex(&b).contains(CLIENTID));
    }

    #[test]
    fn a_solicit_for_rapid_commit_with_a_hint_carries_both() {
        let b = solicit(1, &ident(), Some(addr()), true).encode();
        let h = hex(&b);
        let ia = concat!(
            "00030028", // IA_NA, 12 + 28 octets
            "ac110002",
            "0000000000000000",
            "00050018", // IAADDR, 24 octets
            "20010db8007700000000000000000150",
            "00000000", // preferred lifetime
            "00000000"  // valid lifetime
        );
        assert!(h.contains(ia), "{h}");
        assert!(h.contains("000e0000"), "RAPID_COMMIT, empty: {h}");
    }

    #[test]
    fn a_request_names_the_server_and_the_advertised_address() {
        let server = Duid::from_bytes(&SERVER).unwrap();
        let b = request(0x123456, &ident(), &server, &[addr()]).encode();
        let h = hex(&b);
        assert!(h.starts_with("03123456"), "{h}");
        assert!(
            h.contains("0002000e00010001"),
            "SERVERID with the server's DUID-LLT: {h}"
        );
        assert!(h.contains("20010db8007700000000000000000150"));
        assert!(!h.contains("000e0000"), "no rapid commit outside SOLICIT");
    }

    #[test]
    fn release_and_decline_carry_no_oro_and_no_fqdn() {
        let server = Duid::from_bytes(&SERVER).unwrap();
        let rel = release(7, &ident(), &server, &[addr()]);
        assert_eq!(rel.msg_type, MessageType::Release);
        let dec = decline(7, &ident(), &server, &[addr()]);
        for m in [&rel, &dec] {
            assert!(m.option(code::ORO).is_none());
            assert!(m.option(code::CLIENT_FQDN).is_none());
            assert_eq!(m.option(code::SERVERID), Some(&SERVER[..]));
            assert_eq!(m.option(code::ELAPSED_TIME), Some(&[0u8, 0][..]));
        }
        assert_eq!(
            hex(&rel.encode()),
            concat!(
                "08000007",
                "0001000a00030001",
                "0242ac110002",
                "0002000e",
                "000100012c5e1122020000000001",
                "00030028",
                "ac1100020000000000000000",
                "00050018",
                "20010db8007700000000000000000150",
                "0000000000000000",
                "00080002",
                "0000"
            )
        );
    }

    #[test]
    fn rebind_and_confirm_name_no_server() {
        for m in [
            rebind(1, &ident(), &[addr()]),
            confirm(1, &ident(), &[addr()]),
        ] {
            assert!(m.option(code::SERVERID).is_none());
            assert!(m.option(code::IA_NA).is_some());
        }
        assert!(confirm(1, &ident(), &[addr()]).option(code::ORO).is_none());
    }

    #[test]
    fn an_information_request_asks_for_inf_max_rt_and_the_refresh_time() {
        let m = information_request(9, &ident());
        assert_eq!(m.option(code::ORO), Some(&[0, 23, 0, 24, 0, 32, 0, 83][..]));
        assert!(m.option(code::IA_NA).is_none());
        assert_eq!(hex(&m.encode()[..4]), "0b000009");
    }

    #[test]
    fn the_transaction_id_is_24_bits() {
        let m = solicit(0xff12_3456, &ident(), None, false);
        assert_eq!(m.xid, 0x12_3456);
        assert_eq!(&m.encode()[..4], &[1, 0x12, 0x34, 0x56]);
    }

    #[test]
    fn elapsed_time_counts_hundredths_and_saturates() {
        assert_eq!(elapsed_centis(Duration::from_millis(1234)), 123);
        assert_eq!(elapsed_centis(Duration::from_secs(655)), 65500);
        assert_eq!(elapsed_centis(Duration::from_secs(656)), 0xffff);
        assert_eq!(elapsed_centis(Duration::MAX), 0xffff);
        let mut m = solicit(1, &ident(), None, false);
        m.set_elapsed(Duration::from_secs(2));
        assert_eq!(m.option(code::ELAPSED_TIME), Some(&[0, 200][..]));
        assert_eq!(
            m.options
                .iter()
                .filter(|(c, _)| *c == code::ELAPSED_TIME)
                .count(),
            1
        );
    }

    #[test]
    fn fqdn_names_are_partial_for_one_label_and_terminated_for_several() {
        assert_eq!(client_fqdn("web").unwrap(), b"\x01\x03web");
        assert_eq!(
            client_fqdn("web.lab.example.").unwrap(),
            b"\x01\x03web\x03lab\x07example\x00"
        );
        assert_eq!(client_fqdn(""), None);
        assert_eq!(client_fqdn("a..b"), None);
        assert_eq!(client_fqdn(&"a".repeat(64)), None);
        let long = vec!["abcdefghi"; 30].join(".");
        assert_eq!(client_fqdn(&long), None, "longer than 255 octets");
        let mut id = ident();
        id.fqdn = Some("a..b".into());
        assert!(
            solicit(1, &id, None, false)
                .option(code::CLIENT_FQDN)
                .is_none(),
            "an unencodable name is left out, not sent broken"
        );
    }

    #[test]
    fn the_iaid_is_the_macs_last_four_octets() {
        assert_eq!(iaid_of(MAC), 0xac11_0002);
        assert_eq!(Identity::new(MAC).duid, Duid::ll(MAC));
    }
}
