//! Ethernet frames carrying IPv4/UDP or ARP, built and parsed by hand.
//!
//! dhcpnet sends from the parent interface with a container's MAC as the
//! source, so it cannot use the kernel's UDP stack: it writes whole frames on
//! an AF_PACKET socket. Everything here is pure and unit-tested.

use std::net::Ipv4Addr;

use super::mac::Mac;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const IPPROTO_UDP: u8 = 17;
const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const UDP_LEN: usize = 8;

/// Internet checksum (RFC 1071) over `data`, starting from `sum` (also used
/// by the IPv6 frames of `dhcp6::frame`).
pub(crate) fn checksum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u32) << 8;
    }
    sum
}

/// Fold a running sum into the final (complemented) checksum.
pub(crate) fn checksum_fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpFrame<'a> {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// Build Ethernet + IPv4 + UDP around `payload`, with both checksums.
pub fn build_udp(f: &UdpFrame<'_>) -> Vec<u8> {
    let udp_len = UDP_LEN + f.payload.len();
    let ip_total = IP_LEN + udp_len;
    let mut b = Vec::with_capacity(ETH_LEN + ip_total);
    b.extend_from_slice(&f.dst_mac.0);
    b.extend_from_slice(&f.src_mac.0);
    b.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    // IPv4 header: version 4, IHL 5, TOS 0x10 (low delay, as DHCP clients
    // traditionally use), no fragmentation, TTL 64.
    let ip_start = b.len();
    b.extend_from_slice(&[0x45, 0x10]);
    b.extend_from_slice(&(ip_total as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0, 0x40, 0, 64, IPPROTO_UDP, 0, 0]);
    b.extend_from_slice(&f.src_ip.octets());
    b.extend_from_slice(&f.dst_ip.octets());
    let ip_sum = checksum_fold(checksum_add(0, &b[ip_start..ip_start + IP_LEN]));
    b[ip_start + 10..ip_start + 12].copy_from_slice(&ip_sum.to_be_bytes());
    // UDP header and payload; checksum over the pseudo-header.
    let udp_start = b.len();
    b.extend_from_slice(&f.src_port.to_be_bytes());
    b.extend_from_slice(&f.dst_port.to_be_bytes());
    b.extend_from_slice(&(udp_len as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(f.payload);
    let mut sum = checksum_add(0, &f.src_ip.octets());
    sum = checksum_add(sum, &f.dst_ip.octets());
    sum += IPPROTO_UDP as u32 + udp_len as u32;
    sum = checksum_add(sum, &b[udp_start..]);
    let mut udp_sum = checksum_fold(sum);
    if udp_sum == 0 {
        udp_sum = 0xffff;
    }
    b[udp_start + 6..udp_start + 8].copy_from_slice(&udp_sum.to_be_bytes());
    b
}

/// Parse an Ethernet frame holding an unfragmented IPv4/UDP datagram.
/// Returns None for anything else or anything truncated or inconsistent.
pub fn parse_udp(frame: &[u8]) -> Option<UdpFrame<'_>> {
    if frame.len() < ETH_LEN + IP_LEN + UDP_LEN {
        return None;
    }
    if u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = &frame[ETH_LEN..];
    if ip[0] >> 4 != 4 || ip[9] != IPPROTO_UDP {
        return None;
    }
    let ihl = ((ip[0] & 0x0f) as usize) * 4;
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if ihl < IP_LEN || total < ihl + UDP_LEN || total > ip.len() || frag & 0x3fff != 0 {
        return None;
    }
    if checksum_fold(checksum_add(0, &ip[..ihl])) != 0 {
        return None;
    }
    let udp = &ip[ihl..total];
    let udp_len = u16::from_be_bytes([udp[4], udp[5]]) as usize;
    if udp_len < UDP_LEN || udp_len > udp.len() {
        return None;
    }
    let mut src = [0u8; 6];
    let mut dst = [0u8; 6];
    dst.copy_from_slice(&frame[0..6]);
    src.copy_from_slice(&frame[6..12]);
    Some(UdpFrame {
        dst_mac: Mac(dst),
        src_mac: Mac(src),
        src_ip: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        dst_ip: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        src_port: u16::from_be_bytes([udp[0], udp[1]]),
        dst_port: u16::from_be_bytes([udp[2], udp[3]]),
        payload: &udp[UDP_LEN..udp_len],
    })
}

/// An ARP request or reply for IPv4 over Ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;

pub fn parse_arp(frame: &[u8]) -> Option<Arp> {
    if frame.len() < ETH_LEN + 28 || u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_ARP {
        return None;
    }
    let a = &frame[ETH_LEN..];
    // htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4
    if a[0..6] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    let mac = |o: usize| {
        let mut m = [0u8; 6];
        m.copy_from_slice(&a[o..o + 6]);
        Mac(m)
    };
    let ip = |o: usize| Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]);
    Some(Arp {
        op: u16::from_be_bytes([a[6], a[7]]),
        sender_mac: mac(8),
        sender_ip: ip(14),
        target_mac: mac(18),
        target_ip: ip(24),
    })
}

/// An ARP frame; requests go to broadcast, replies to the asker.
pub fn build_arp(a: &Arp) -> Vec<u8> {
    let dst = if a.op == ARP_REQUEST {
        Mac::BROADCAST
    } else {
        a.target_mac
    };
    let mut b = Vec::with_capacity(60);
    b.extend_from_slice(&dst.0);
    b.extend_from_slice(&a.sender_mac.0);
    b.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    b.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    b.extend_from_slice(&a.op.to_be_bytes());
    b.extend_from_slice(&a.sender_mac.0);
    b.extend_from_slice(&a.sender_ip.octets());
    b.extend_from_slice(&a.target_mac.0);
    b.extend_from_slice(&a.target_ip.octets());
    b.resize(60, 0); // minimum Ethernet frame without FCS
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        build_udp(&UdpFrame {
            src_mac: Mac([2, 0, 0, 0, 0, 1]),
            dst_mac: Mac::BROADCAST,
            src_ip: Ipv4Addr::UNSPECIFIED,
            dst_ip: Ipv4Addr::BROADCAST,
            src_port: 68,
            dst_port: 67,
            payload: b"hello",
        })
    }

    #[test]
    /// Checksums cross-checked with an independent RFC 1071 implementation.
    fn udp_golden_bytes() {
        let b = sample();
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(
            hex,
            concat!(
                "ffffffffffff",
                "020000000001",
                "0800",
                "4510",
                "0021",
                "0000",
                "4000",
                "40",
                "11",
                "3abd",
                "00000000",
                "ffffffff",
                "0044",
                "0043",
                "000d",
                "bb7b",
                "68656c6c6f"
            )
        );
    }

    #[test]
    fn udp_round_trip() {
        let b = sample();
        let f = parse_udp(&b).unwrap();
        assert_eq!((f.src_port, f.dst_port, f.payload), (68, 67, &b"hello"[..]));
        assert_eq!(f.src_mac, Mac([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.dst_ip, Ipv4Addr::BROADCAST);
    }

    #[test]
    fn rejects_bad_ip_checksum_fragments_and_truncation() {
        let mut b = sample();
        b[24] ^= 1;
        assert!(parse_udp(&b).is_none());
        let mut b = sample();
        b[20] = 0x20; // more-fragments
        assert!(parse_udp(&b).is_none());
        let b = sample();
        assert!(parse_udp(&b[..30]).is_none());
        assert!(
            parse_udp(&b[..b.len() - 1]).is_none(),
            "IP total length beyond the frame"
        );
    }

    #[test]
    fn arp_round_trip() {
        let a = Arp {
            op: ARP_REPLY,
            sender_mac: Mac([2, 0, 0, 0, 0, 1]),
            sender_ip: Ipv4Addr::new(10, 0, 0, 2),
            target_mac: Mac([2, 0, 0, 0, 0, 9]),
            target_ip: Ipv4Addr::new(10, 0, 0, 1),
        };
        let b = build_arp(&a);
        assert_eq!(b.len(), 60);
        assert_eq!(&b[0..6], &[2, 0, 0, 0, 0, 9]);
        assert_eq!(parse_arp(&b), Some(a));
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_frames_never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = parse_udp(&b);
            let _ = parse_arp(&b);
        }
    }
}
