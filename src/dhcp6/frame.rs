//! Ethernet frames carrying IPv6 with UDP (DHCPv6) or ICMPv6 (Neighbor
//! Discovery), built and parsed by hand, and the addresses they need.
//!
//! Why frames and not sockets: as for IPv4 (`net::frame`), dhcpnet speaks
//! for containers from the parent interface, each with the container's own
//! MAC as the source, so the kernel's UDP stack cannot send for it. A
//! DHCPv6 client must send from a link-local address (RFC 8415 §13.1); the
//! one used is the EUI-64 address the container's kernel derives from the
//! same MAC (RFC 4291 §2.5.1, RFC 4862), so the server's unicast answers go
//! to the address the container will hold anyway.
//!
//! Parsing is for hostile input: every length is checked against the bytes
//! there are, the UDP and ICMPv6 checksums are verified, extension headers
//! are walked a bounded number of times, and fragments (which would need
//! reassembly) are refused. Nothing here panics, whatever the bytes.
//!
//! Lives beside the DHCPv6 code for now; the restructuring of issue 18 may
//! move it next to `net::frame`.

use std::net::Ipv6Addr;

use crate::net::frame::{checksum_add, checksum_fold};
use crate::net::mac::Mac;

pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
const ETH_LEN: usize = 14;
const IP6_LEN: usize = 40;
const UDP_LEN: usize = 8;

/// Extension headers skipped before the upper layer is given up on: a real
/// DHCPv6 or ND packet has none (or one Hop-by-Hop with a router alert); a
/// long chain is a way to make a parser loop.
pub const MAX_EXTENSION_HEADERS: usize = 4;

/// The UDP ports of DHCPv6 (RFC 8415 §7.2).
pub const CLIENT_PORT: u16 = 546;
pub const SERVER_PORT: u16 = 547;

/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1): where a client sends.
pub const ALL_DHCP_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// All-routers, link scope (RFC 4291 §2.7.1): where a Router Solicitation goes.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// All-nodes, link scope: where unsolicited Router Advertisements go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Hop limit of what a DHCPv6 client multicasts on its link (it must not
/// leave it) and of what it unicasts.
pub const DHCP_HOP_LIMIT_MULTICAST: u8 = 1;
pub const DHCP_HOP_LIMIT_UNICAST: u8 = 64;
/// Neighbor Discovery messages are sent and accepted only with hop limit
/// 255, which proves they were not forwarded (RFC 4861 §6.1, §7.1).
pub const ND_HOP_LIMIT: u8 = 255;

/// The modified EUI-64 interface identifier of `mac` (RFC 4291 appendix A):
/// the universal/local bit flipped and ff:fe inserted in the middle.
pub fn eui64(mac: Mac) -> [u8; 8] {
    let m = mac.0;
    [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]
}

/// fe80::/64 with the EUI-64 identifier of `mac`: the link-local address a
/// Linux interface with this MAC gives itself (`addr_gen_mode` eui64, the
/// default), and the source of every DHCPv6 message sent for it.
pub fn link_local(mac: Mac) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8..].copy_from_slice(&eui64(mac));
    Ipv6Addr::from(a)
}

/// The Ethernet address a multicast IPv6 address maps to (RFC 2464 §7):
/// 33:33 and the last four octets.
pub fn multicast_mac(ip: Ipv6Addr) -> Mac {
    let o = ip.octets();
    Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// The solicited-node multicast address of `ip` (RFC 4291 §2.7.1), where
/// Neighbor Solicitations for it (and Duplicate Address Detection) go.
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Internet checksum of an upper-layer packet over IPv6 (RFC 8200 §8.1):
/// the pseudo-header (source, destination, 32-bit length, next header)
/// then `data`. Over a packet whose checksum field is filled in, a correct
/// one gives 0.
pub fn pseudo_checksum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> u16 {
    let mut sum = checksum_add(0, &src.octets());
    sum = checksum_add(sum, &dst.octets());
    let len = data.len() as u32;
    sum += len >> 16;
    sum += len & 0xffff;
    sum += next_header as u32;
    checksum_fold(checksum_add(sum, data))
}

/// The ICMPv6 checksum of `msg` (type, code, a zero checksum field, body)
/// between `src` and `dst` (RFC 4443 §2.3).
pub fn icmp6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    pseudo_checksum(src, dst, IPPROTO_ICMPV6, msg)
}

/// An IPv6 packet in an Ethernet frame, upper layer not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<'a> {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub src_ip: Ipv6Addr,
    pub dst_ip: Ipv6Addr,
    pub hop_limit: u8,
    /// The upper-layer protocol, after any extension headers.
    pub next_header: u8,
    /// The upper-layer packet (header included).
    pub payload: &'a [u8],
}

fn mac_at(b: &[u8], at: usize) -> Mac {
    let mut m = [0u8; 6];
    if let Some(s) = b.get(at..at + 6) {
        m.copy_from_slice(s);
    }
    Mac(m)
}

fn ip6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

/// Wrap an upper-layer packet into Ethernet + IPv6.
fn build_ipv6(
    src_mac: Mac,
    dst_mac: Mac,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    hop_limit: u8,
    next_header: u8,
    upper: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(ETH_LEN + IP6_LEN + upper.len());
    b.extend_from_slice(&dst_mac.0);
    b.extend_from_slice(&src_mac.0);
    b.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    // Version 6, traffic class 0, flow label 0.
    b.extend_from_slice(&[0x60, 0, 0, 0]);
    b.extend_from_slice(&(upper.len().min(u16::MAX as usize) as u16).to_be_bytes());
    b.push(next_header);
    b.push(hop_limit);
    b.extend_from_slice(&src_ip.octets());
    b.extend_from_slice(&dst_ip.octets());
    b.extend_from_slice(upper);
    b
}

/// Parse an Ethernet frame holding an unfragmented IPv6 packet, skipping
/// Hop-by-Hop, Routing and Destination Options headers (at most
/// `MAX_EXTENSION_HEADERS`). None for anything else, a fragment, an
/// encrypted or authenticated packet, a jumbogram, or anything truncated.
/// Trailing Ethernet padding past the payload length is cut off.
pub fn parse_ipv6(frame: &[u8]) -> Option<Ipv6Packet<'_>> {
    if frame.len() < ETH_LEN + IP6_LEN {
        return None;
    }
    if u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_IPV6 {
        return None;
    }
    let ip = &frame[ETH_LEN..];
    if ip[0] >> 4 != 6 {
        return None;
    }
    let payload_len = u16::from_be_bytes([ip[4], ip[5]]) as usize;
    let packet = ip.get(..IP6_LEN + payload_len)?;
    let mut next = ip[6];
    let hop_limit = ip[7];
    let mut at = IP6_LEN;
    let mut skipped = 0;
    loop {
        match next {
            // Hop-by-Hop, Routing, Destination Options: (next, length in
            // 8-octet units not counting the first 8).
            0 | 43 | 60 => {
                if skipped == MAX_EXTENSION_HEADERS || (next == 0 && skipped != 0) {
                    return None; // RFC 8200 §4.1: Hop-by-Hop only first
                }
                let h = packet.get(at..at + 2)?;
                next = h[0];
                at += 8 + 8 * h[1] as usize;
                if at > packet.len() {
                    return None;
                }
                skipped += 1;
            }
            // Fragment (no reassembly here), ESP, AH, No Next Header.
            44 | 50 | 51 | 59 => return None,
            _ => break,
        }
    }
    Some(Ipv6Packet {
        dst_mac: mac_at(frame, 0),
        src_mac: mac_at(frame, 6),
        src_ip: ip6_at(ip, 8)?,
        dst_ip: ip6_at(ip, 24)?,
        hop_limit,
        next_header: next,
        payload: &packet[at..],
    })
}

/// A UDP datagram over IPv6, as sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udp6Frame<'a> {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub src_ip: Ipv6Addr,
    pub dst_ip: Ipv6Addr,
    pub hop_limit: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// Build Ethernet + IPv6 + UDP around `payload`, with the UDP checksum
/// (mandatory over IPv6, RFC 8200 §8.1: a computed 0 is sent as 0xffff).
pub fn build_udp6(f: &Udp6Frame<'_>) -> Vec<u8> {
    let udp_len = UDP_LEN + f.payload.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&f.src_port.to_be_bytes());
    udp.extend_from_slice(&f.dst_port.to_be_bytes());
    udp.extend_from_slice(&(udp_len.min(u16::MAX as usize) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(f.payload);
    let mut sum = pseudo_checksum(f.src_ip, f.dst_ip, IPPROTO_UDP, &udp);
    if sum == 0 {
        sum = 0xffff;
    }
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    build_ipv6(
        f.src_mac,
        f.dst_mac,
        f.src_ip,
        f.dst_ip,
        f.hop_limit,
        IPPROTO_UDP,
        &udp,
    )
}

/// Whether the checksum of a received frame can be checked. A frame sent
/// by this host (a veth or macvlan peer in another namespace, a container
/// of the same host) reaches a packet socket before the checksum offload
/// fills it in: the kernel marks it `TP_STATUS_CSUMNOTREADY` in the
/// packet's auxiliary data (`PACKET_AUXDATA`), and its checksum field holds
/// only the pseudo-header sum (seen here on veth: dnsmasq's ADVERTISE).
/// Every other frame is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    Verify,
    /// The kernel said `TP_STATUS_CSUMNOTREADY`: local origin, not yet summed.
    NotReady,
}

/// Parse an Ethernet frame holding a UDP datagram over IPv6 whose checksum
/// is right (a zero checksum is refused: IPv6 does not allow it).
pub fn parse_udp6(frame: &[u8]) -> Option<Udp6Frame<'_>> {
    parse_udp6_with(frame, Checksum::Verify)
}

/// `parse_udp6`, trusting the checksum only when the kernel says it is ready.
pub fn parse_udp6_with(frame: &[u8], checksum: Checksum) -> Option<Udp6Frame<'_>> {
    let p = parse_ipv6(frame)?;
    if p.next_header != IPPROTO_UDP || p.payload.len() < UDP_LEN {
        return None;
    }
    let u = p.payload;
    let udp_len = u16::from_be_bytes([u[4], u[5]]) as usize;
    if udp_len < UDP_LEN || udp_len > u.len() {
        return None;
    }
    let u = &u[..udp_len];
    if checksum == Checksum::Verify
        && (u[6..8] == [0, 0] || pseudo_checksum(p.src_ip, p.dst_ip, IPPROTO_UDP, u) != 0)
    {
        return None;
    }
    Some(Udp6Frame {
        src_mac: p.src_mac,
        dst_mac: p.dst_mac,
        src_ip: p.src_ip,
        dst_ip: p.dst_ip,
        hop_limit: p.hop_limit,
        src_port: u16::from_be_bytes([u[0], u[1]]),
        dst_port: u16::from_be_bytes([u[2], u[3]]),
        payload: &u[UDP_LEN..],
    })
}

/// An ICMPv6 message over IPv6, as sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmp6Frame<'a> {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub src_ip: Ipv6Addr,
    pub dst_ip: Ipv6Addr,
    pub hop_limit: u8,
    pub icmp_type: u8,
    pub code: u8,
    /// What follows type, code and checksum.
    pub body: &'a [u8],
}

/// Build Ethernet + IPv6 + ICMPv6, with the checksum.
pub fn build_icmp6(f: &Icmp6Frame<'_>) -> Vec<u8> {
    let mut m = Vec::with_capacity(4 + f.body.len());
    m.extend_from_slice(&[f.icmp_type, f.code, 0, 0]);
    m.extend_from_slice(f.body);
    let sum = icmp6_checksum(f.src_ip, f.dst_ip, &m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    build_ipv6(
        f.src_mac,
        f.dst_mac,
        f.src_ip,
        f.dst_ip,
        f.hop_limit,
        IPPROTO_ICMPV6,
        &m,
    )
}

/// Parse an Ethernet frame holding an ICMPv6 message whose checksum is right.
pub fn parse_icmp6(frame: &[u8]) -> Option<Icmp6Frame<'_>> {
    parse_icmp6_with(frame, Checksum::Verify)
}

/// `parse_icmp6`, trusting the checksum only when the kernel says it is
/// ready (Linux sums ICMPv6 in software, so `NotReady` is rare here).
pub fn parse_icmp6_with(frame: &[u8], checksum: Checksum) -> Option<Icmp6Frame<'_>> {
    let p = parse_ipv6(frame)?;
    if p.next_header != IPPROTO_ICMPV6 || p.payload.len() < 4 {
        return None;
    }
    if checksum == Checksum::Verify && icmp6_checksum(p.src_ip, p.dst_ip, p.payload) != 0 {
        return None;
    }
    Some(Icmp6Frame {
        src_mac: p.src_mac,
        dst_mac: p.dst_mac,
        src_ip: p.src_ip,
        dst_ip: p.dst_ip,
        hop_limit: p.hop_limit,
        icmp_type: p.payload[0],
        code: p.payload[1],
        body: &p.payload[4..],
    })
}

/// A DHCPv6 client message for `mac` in a frame: from its link-local
/// address (or `src_ip`, when unicasting from a leased address) and port
/// 546 to `dst` (ff02::1:2 on 33:33:00:01:00:02 when multicast) port 547.
pub fn dhcp6_client_frame(
    mac: Mac,
    src_ip: Option<Ipv6Addr>,
    dst: Option<(Ipv6Addr, Mac)>,
    payload: &[u8],
) -> Vec<u8> {
    let (dst_ip, dst_mac, hop_limit) = match dst {
        Some((ip, m)) => (ip, m, DHCP_HOP_LIMIT_UNICAST),
        None => (
            ALL_DHCP_SERVERS,
            multicast_mac(ALL_DHCP_SERVERS),
            DHCP_HOP_LIMIT_MULTICAST,
        ),
    };
    build_udp6(&Udp6Frame {
        src_mac: mac,
        dst_mac,
        src_ip: src_ip.unwrap_or_else(|| link_local(mac)),
        dst_ip,
        hop_limit,
        src_port: CLIENT_PORT,
        dst_port: SERVER_PORT,
        payload,
    })
}

/// A frame that is a DHCPv6 server's (or relay's) message to a client:
/// UDP from port 547 to port 546, checksum right (see `Checksum`). The
/// payload is the DHCPv6 message, for `dhcp6::reply`.
pub fn parse_dhcp6_server_frame(frame: &[u8], checksum: Checksum) -> Option<Udp6Frame<'_>> {
    parse_udp6_with(frame, checksum)
        .filter(|u| u.src_port == SERVER_PORT && u.dst_port == CLIENT_PORT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC: Mac = Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn the_link_local_address_of_a_mac_is_its_modified_eui64() {
        assert_eq!(
            link_local(MAC),
            "fe80::42:acff:fe11:2".parse::<Ipv6Addr>().unwrap()
        );
        // A universal MAC gets its U/L bit set in the identifier.
        assert_eq!(
            link_local(Mac([0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e])),
            "fe80::21b:21ff:fe3c:4d5e".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn multicast_groups_map_to_33_33_macs_and_solicited_node_addresses() {
        assert_eq!(
            multicast_mac(ALL_DHCP_SERVERS),
            Mac([0x33, 0x33, 0, 1, 0, 2])
        );
        assert_eq!(multicast_mac(ALL_ROUTERS), Mac([0x33, 0x33, 0, 0, 0, 2]));
        assert_eq!(
            solicited_node("2001:db8::42:acff:fe11:2".parse().unwrap()),
            "ff02::1:ff11:2".parse::<Ipv6Addr>().unwrap()
        );
    }

    /// Checksum worked independently (Python, RFC 1071): the pseudo-header
    /// words fe80+0042+acff+fe11+0002 (source) + ff02+0001+0002
    /// (destination) + 000d (length) + 0011 (UDP), then 0222+0223+000d
    /// (the UDP header) and "hello" as 6865+6c6c+6f00: sum 0x4f11a, folded
    /// 0xf11e, complemented 0x0ee1.
    #[test]
    fn a_dhcp6_frame_to_all_servers_has_these_bytes() {
        let b = dhcp6_client_frame(MAC, None, None, b"hello");
        assert_eq!(
            hex(&b),
            concat!(
                "333300010002",                     // to 33:33:00:01:00:02
                "0242ac110002",                     // from the container's MAC
                "86dd",                             // IPv6
                "60000000",                         // version 6, no class or flow
                "000d",                             // payload length 13
                "11",                               // UDP
                "01",                               // hop limit 1
                "fe800000000000000042acfffe110002", // fe80::42:acff:fe11:2
                "ff020000000000000000000000010002", // ff02::1:2
                "0222",                             // port 546
                "0223",                             // port 547
                "000d",                             // UDP length
                "0ee1",                             // checksum
                "68656c6c6f"
            )
        );
    }

    #[test]
    fn a_built_udp6_frame_parses_back_and_a_flipped_bit_is_refused() {
        let b = dhcp6_client_frame(MAC, None, None, b"hello");
        let f = parse_udp6(&b).expect("parses");
        assert_eq!(
            (f.src_port, f.dst_port, f.payload),
            (546, 547, &b"hello"[..])
        );
        assert_eq!(
            (f.src_ip, f.dst_ip, f.hop_limit),
            (link_local(MAC), ALL_DHCP_SERVERS, 1)
        );
        for i in ETH_LEN + 8..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x01;
            assert!(parse_udp6(&c).is_none(), "a flip at {i} passed");
        }
        // The server side of the same datagram is not a server's frame.
        assert!(parse_dhcp6_server_frame(&b, Checksum::Verify).is_none());
    }

    /// The frame dnsmasq 2.90 sent as its ADVERTISE in the lab (veth, from
    /// another namespace of this host), as a packet socket received it: the
    /// checksum field holds only the pseudo-header sum (offload pending).
    const DNSMASQ_ADVERTISE_FRAME: &str = concat!(
        "0242ac11000202945d39759786dd6c064129009a1140fe8000000000000000945dfffe397597",
        "fe800000000000000042acfffe11000202230222009a7b67027ffe080001000a000300010242",
        "ac1100020002000e0001000132a5daa502945d39759700030028ac1100020000012c0000020d",
        "0005001820010db800770000000000000000012d0000025800000258000d"
    );

    #[test]
    fn a_frame_whose_checksum_the_kernel_has_not_filled_in_is_read_only_when_it_says_so() {
        let mut b: Vec<u8> = (0..DNSMASQ_ADVERTISE_FRAME.len() / 2)
            .map(|i| u8::from_str_radix(&DNSMASQ_ADVERTISE_FRAME[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        // The capture was cut at 150 octets: pad the payload to its length.
        let want = ETH_LEN + IP6_LEN + 0x9a;
        b.resize(want, 0);
        assert!(
            parse_udp6(&b).is_none(),
            "a partial checksum does not verify"
        );
        let f = parse_dhcp6_server_frame(&b, Checksum::NotReady).expect("read when not ready");
        assert_eq!((f.src_port, f.dst_port, f.payload[0]), (547, 546, 2));
        assert_eq!(f.dst_ip, link_local(MAC));
    }

    #[test]
    fn a_zero_udp_checksum_is_refused_over_ipv6() {
        let mut b = dhcp6_client_frame(MAC, None, None, b"x");
        b[ETH_LEN + IP6_LEN + 6..ETH_LEN + IP6_LEN + 8].copy_from_slice(&[0, 0]);
        assert!(parse_udp6(&b).is_none());
    }

    #[test]
    fn ethernet_padding_after_the_payload_is_ignored_and_truncation_refused() {
        let mut b = dhcp6_client_frame(MAC, None, None, b"hi");
        let n = b.len();
        b.resize(n + 10, 0);
        assert_eq!(parse_udp6(&b).expect("padded").payload, b"hi");
        assert!(parse_udp6(&b[..n - 1]).is_none());
    }

    /// Insert an extension header (next, len 0, 6 octets of padding) after
    /// the fixed header of a built frame.
    fn with_extension(mut b: Vec<u8>, kind: u8, count: usize) -> Vec<u8> {
        let upper = b[ETH_LEN + 6];
        let mut ext = Vec::new();
        for i in 0..count {
            let next = if i + 1 == count { upper } else { kind };
            ext.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]); // PadN
        }
        b[ETH_LEN + 6] = kind;
        let plen = u16::from_be_bytes([b[ETH_LEN + 4], b[ETH_LEN + 5]]) + ext.len() as u16;
        b[ETH_LEN + 4..ETH_LEN + 6].copy_from_slice(&plen.to_be_bytes());
        let at = ETH_LEN + IP6_LEN;
        b.splice(at..at, ext);
        b
    }

    #[test]
    fn destination_options_are_skipped_and_fragments_or_long_chains_refused() {
        let b = dhcp6_client_frame(MAC, None, None, b"hi");
        let one = with_extension(b.clone(), 60, 1);
        assert_eq!(parse_udp6(&one).expect("one header").payload, b"hi");
        let hbh = with_extension(b.clone(), 0, 1);
        assert!(parse_udp6(&hbh).is_some(), "a Hop-by-Hop header first");
        assert!(parse_udp6(&with_extension(b.clone(), 60, MAX_EXTENSION_HEADERS)).is_some());
        assert!(parse_udp6(&with_extension(b.clone(), 60, MAX_EXTENSION_HEADERS + 1)).is_none());
        assert!(
            parse_udp6(&with_extension(b.clone(), 0, 2)).is_none(),
            "Hop-by-Hop twice"
        );
        let mut frag = b.clone();
        frag[ETH_LEN + 6] = 44;
        assert!(parse_ipv6(&frag).is_none());
        // An extension header claiming more than the packet holds.
        let mut long = with_extension(b, 60, 1);
        long[ETH_LEN + IP6_LEN + 1] = 200;
        assert!(parse_ipv6(&long).is_none());
    }

    #[test]
    fn an_icmp6_frame_round_trips_with_its_checksum() {
        let body = [0u8; 4];
        let b = build_icmp6(&Icmp6Frame {
            src_mac: MAC,
            dst_mac: multicast_mac(ALL_ROUTERS),
            src_ip: link_local(MAC),
            dst_ip: ALL_ROUTERS,
            hop_limit: ND_HOP_LIMIT,
            icmp_type: 133,
            code: 0,
            body: &body,
        });
        let f = parse_icmp6(&b).expect("parses");
        assert_eq!(
            (f.icmp_type, f.code, f.hop_limit, f.body),
            (133, 0, 255, &body[..])
        );
        let mut bad = b.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        assert!(parse_icmp6(&bad).is_none());
        assert!(parse_udp6(&b).is_none(), "ICMPv6 is not UDP");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]
        #[test]
        fn arbitrary_frames_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_ipv6(&b);
            let _ = parse_udp6(&b);
            let _ = parse_icmp6(&b);
        }

        #[test]
        fn arbitrary_packets_behind_an_ipv6_ethertype_never_panic(
            next in prop_oneof![Just(0u8), Just(17), Just(43), Just(58), Just(60), any::<u8>()],
            plen in 0u16..400,
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut b = vec![0u8; ETH_LEN + IP6_LEN];
            b[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            b[ETH_LEN] = 0x60;
            b[ETH_LEN + 4..ETH_LEN + 6].copy_from_slice(&plen.to_be_bytes());
            b[ETH_LEN + 6] = next;
            b.extend_from_slice(&tail);
            if let Some(p) = parse_ipv6(&b) {
                prop_assert!(p.payload.len() <= plen as usize);
            }
            let _ = parse_udp6(&b);
            let _ = parse_icmp6(&b);
        }

        #[test]
        fn every_built_udp6_frame_parses_back(payload in proptest::collection::vec(any::<u8>(), 0..600), m in any::<[u8; 6]>()) {
            let mac = Mac(m);
            let b = dhcp6_client_frame(mac, None, None, &payload);
            let f = parse_udp6(&b).expect("our own frame");
            prop_assert_eq!(f.payload, &payload[..]);
            prop_assert_eq!(f.src_ip, link_local(mac));
        }
    }
}
