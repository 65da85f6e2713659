//! Fuzzing the reply path on the stable toolchain: a frame as it comes off
//! the wire -> UDP/IP parsing -> BOOTREPLY parsing -> the client state machine
//! in every state -> the lease record -> the daemon's schedule -> the shim's
//! routes. Every host on the LAN can send these bytes, so no input may panic,
//! and nothing that is not a unicast host address inside a sane subnet may
//! come out the other end as a lease.
//!
//! A reply that binds must make a record that passes its own checks
//! (`Lease::check`) and that a table writes and reads back unchanged: one
//! forged ACK must never make the records unreadable. Long lists (options
//! 6, 15, 42, 119, 121 split into RFC 3396 pieces, up to about 1,500
//! bytes) are generated for that.
//!
//! Inputs are generated with structure (a well-formed reply whose header
//! fields and options are drawn at random, with the right xid and MAC so the
//! deep paths are reached) and then mutated byte by byte. The case count is
//! `DHCPNET_FUZZ_CASES` (default 200,000 per target, about 10 s with the
//! optimised dependencies of the dev profile); CI runs the default, a long run
//! sets it higher.

use std::net::Ipv4Addr;
use std::time::SystemTime;

use chrono::Utc;
use dhcpnet::daemon::schedule;
use dhcpnet::dhcp::client::{Exchange, Goal, Reply, Step};
use dhcpnet::dhcp::message::{INFINITE, Identity};
use dhcpnet::dhcp::reply::{Bootreply, MIN_PREFIX, is_unicast};
use dhcpnet::lease::Lease;
use dhcpnet::links::shim::wanted_routes;
use dhcpnet::net::frame::{self, UdpFrame};
use dhcpnet::net::mac::Mac;
use dhcpnet::store::table::{encode_record, parse_record};
use proptest::prelude::*;

const XID: u32 = 0x0bad_cafe;
const MAC: Mac = Mac([2, 0, 0, 0, 0, 0x42]);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const SERVER_MAC: Mac = Mac([2, 0, 0, 0, 0, 1]);
const LEASED: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 50);

fn cases() -> u32 {
    std::env::var("DHCPNET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

/// Option codes the client reads, and a few it does not, with a bias to the
/// ones whose decoding has rules.
fn option() -> impl Strategy<Value = Vec<u8>> {
    let code = prop_oneof![
        Just(1u8),
        Just(3),
        Just(6),
        Just(12),
        Just(15),
        Just(26),
        Just(28),
        Just(42),
        Just(51),
        Just(52),
        Just(53),
        Just(54),
        Just(56),
        Just(58),
        Just(59),
        Just(61),
        Just(119),
        Just(121),
        any::<u8>(),
    ];
    (
        code,
        prop::collection::vec(any::<u8>(), 0..24),
        any::<bool>(),
    )
        .prop_map(|(c, data, lie)| {
            let mut o = vec![c, data.len() as u8];
            if lie {
                // A length that does not match the data that follows.
                o[1] = o[1].wrapping_add(3);
            }
            o.extend_from_slice(&data);
            o
        })
}

/// Addresses near the interesting ones: the lease, the server, the subnet's
/// edges, broadcast, multicast, loopback, anything.
fn address() -> impl Strategy<Value = [u8; 4]> {
    prop_oneof![
        Just(LEASED.octets()),
        Just(SERVER.octets()),
        Just([10, 9, 0, 0]),
        Just([10, 9, 0, 255]),
        Just([255, 255, 255, 255]),
        Just([224, 0, 0, 5]),
        Just([127, 0, 0, 1]),
        Just([0, 0, 0, 0]),
        Just([1, 1, 1, 1]),
        any::<[u8; 4]>(),
    ]
}

/// A long list option in RFC 3396 pieces: a list option's code and up to
/// six pieces of up to 255 bytes of `n` distinct entries (addresses,
/// names, routes), some bytes of them changed at random.
fn long_list() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(6u8), Just(15), Just(42), Just(119), Just(121)],
        0usize..400,
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
    )
        .prop_map(|(code, n, flips)| {
            let mut data: Vec<u8> = (0..n)
                .flat_map(|i| {
                    let (hi, lo) = ((i / 250) as u8, (i % 250 + 1) as u8);
                    match code {
                        6 | 42 => vec![10, 9, hi, lo],
                        15 => format!("n{i}.example ").into_bytes(),
                        119 => {
                            let l = format!("n{i}");
                            let mut v = vec![l.len() as u8];
                            v.extend_from_slice(l.as_bytes());
                            v.push(0);
                            v
                        }
                        _ => vec![24, 10, hi, lo, 10, 9, 0, 1],
                    }
                })
                .collect();
            data.truncate(1500);
            for (at, b) in flips {
                if !data.is_empty() {
                    let i = at % data.len();
                    data[i] = b;
                }
            }
            let mut out = Vec::new();
            for c in data.chunks(255) {
                out.push(code);
                out.push(c.len() as u8);
                out.extend_from_slice(c);
            }
            out
        })
}

#[derive(Debug, Clone)]
struct Input {
    kind: u8,
    hlen: u8,
    yiaddr: [u8; 4],
    server_id: Option<[u8; 4]>,
    mask: Option<[u8; 4]>,
    router: Option<[u8; 4]>,
    lease: Option<u32>,
    options: Vec<Vec<u8>>,
    lists: Vec<Vec<u8>>,
    file: Vec<u8>,
    sname: Vec<u8>,
    mutations: Vec<(usize, u8)>,
}

fn input() -> impl Strategy<Value = Input> {
    (
        (
            prop_oneof![Just(2u8), Just(5), Just(6), any::<u8>()],
            prop_oneof![Just(6u8), any::<u8>()],
            address(),
            prop::option::of(address()),
            prop::option::of(prop_oneof![Just([255, 255, 255, 0]), any::<[u8; 4]>()]),
            prop::option::of(address()),
        ),
        (
            prop::option::of(prop_oneof![Just(600u32), Just(u32::MAX), any::<u32>()]),
            prop::collection::vec(option(), 0..12),
            prop::option::weighted(0.3, long_list()),
            prop::collection::vec(any::<u8>(), 0..128),
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec((0usize..700, any::<u8>()), 0..4),
        ),
    )
        .prop_map(
            |(
                (kind, hlen, yiaddr, server_id, mask, router),
                (lease, options, list, file, sname, mutations),
            )| Input {
                kind,
                hlen,
                yiaddr,
                server_id,
                mask,
                router,
                lease,
                options,
                lists: list.into_iter().collect(),
                file,
                sname,
                mutations,
            },
        )
}

/// The Ethernet frame of the reply `i` describes.
fn frame_of(i: &Input) -> Vec<u8> {
    let mut b = vec![0u8; 240];
    b[0] = 2;
    b[1] = 1;
    b[2] = i.hlen;
    b[4..8].copy_from_slice(&XID.to_be_bytes());
    b[16..20].copy_from_slice(&i.yiaddr);
    b[28..34].copy_from_slice(&MAC.0);
    b[44..44 + i.sname.len()].copy_from_slice(&i.sname);
    b[108..108 + i.file.len()].copy_from_slice(&i.file);
    b[236..240].copy_from_slice(&[99, 130, 83, 99]);
    b.extend_from_slice(&[53, 1, i.kind]);
    if let Some(s) = i.server_id {
        b.extend_from_slice(&[54, 4]);
        b.extend_from_slice(&s);
    }
    if let Some(m) = i.mask {
        b.extend_from_slice(&[1, 4]);
        b.extend_from_slice(&m);
    }
    if let Some(r) = i.router {
        b.extend_from_slice(&[3, 4]);
        b.extend_from_slice(&r);
    }
    if let Some(t) = i.lease {
        b.extend_from_slice(&[51, 4]);
        b.extend_from_slice(&t.to_be_bytes());
    }
    for o in i.options.iter().chain(&i.lists) {
        b.extend_from_slice(o);
    }
    b.push(255);
    let mut f = frame::build_udp(&UdpFrame {
        src_mac: SERVER_MAC,
        dst_mac: MAC,
        src_ip: SERVER,
        dst_ip: Ipv4Addr::BROADCAST,
        src_port: 67,
        dst_port: 68,
        payload: &b,
    });
    let len = f.len();
    for (at, v) in &i.mutations {
        // Mutations spare the headers often enough for the payload to parse.
        if *at >= 42 && *at < len {
            f[*at] = *v;
        }
    }
    f
}

fn exchanges() -> Vec<Exchange> {
    let id = Identity::new(MAC);
    let mut out = Vec::new();
    let goals = [
        Goal::Acquire { requested: None },
        Goal::Renew {
            ip: LEASED,
            server_id: SERVER,
            server_mac: SERVER_MAC,
        },
        Goal::Rebind { ip: LEASED },
        Goal::Reboot { ip: LEASED },
    ];
    for g in goals {
        let mut x = Exchange::new(id.clone(), g, true);
        x.start(XID);
        out.push(x);
    }
    // REQUESTING: a genuine offer of LEASED already taken.
    let mut x = Exchange::new(id, Goal::Acquire { requested: None }, true);
    x.start(XID);
    let offer = frame_of(&Input {
        kind: 2,
        hlen: 6,
        yiaddr: LEASED.octets(),
        server_id: Some(SERVER.octets()),
        mask: Some([255, 255, 255, 0]),
        router: None,
        lease: Some(600),
        options: vec![],
        lists: vec![],
        file: vec![],
        sname: vec![],
        mutations: vec![],
    });
    let udp = frame::parse_udp(&offer).expect("the genuine offer parses");
    let m = Bootreply::parse(udp.payload).expect("a BOOTREPLY");
    let step = x.on_reply(&Reply {
        msg: &m,
        src_mac: SERVER_MAC,
        src_ip: SERVER,
    });
    assert!(matches!(step, Step::Send(_)), "the genuine offer is taken");
    out.push(x);
    out
}

fn check_lease(l: &Lease, explicit_infinite: bool) -> Result<(), TestCaseError> {
    prop_assert!(is_unicast(l.ip), "leased {}", l.ip);
    prop_assert!(l.prefix_len >= MIN_PREFIX && l.prefix_len <= 32);
    prop_assert!(l.ip != l.server_id);
    if let Some(g) = l.gateway {
        prop_assert!(g != l.ip && is_unicast(g));
    }
    if l.lease_time.is_none() {
        prop_assert!(
            explicit_infinite,
            "an infinite lease without option 51 = 0xffffffff"
        );
    }
    if let Some(m) = l.mtu {
        prop_assert!(m >= 576);
    }
    for s in l.domain.iter().chain(l.search.iter()) {
        prop_assert!(
            !s.chars().any(|c| c.is_control() || c.is_whitespace()),
            "{s:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_reply_panics_or_records_an_address_a_host_cannot_hold(i in input()) {
        let f = frame_of(&i);
        let Some(udp) = frame::parse_udp(&f) else { return Ok(()) };
        let Some(m) = Bootreply::parse(udp.payload) else { return Ok(()) };
        let _ = m.server_message();
        let _ = m.server_hostname();
        let explicit_infinite = m.option(51) == Some(&[255, 255, 255, 255][..]);
        for mut x in exchanges() {
            let r = Reply { msg: &m, src_mac: udp.src_mac, src_ip: udp.src_ip };
            let Step::Bound(mut b) = x.on_reply(&r) else { continue };
            b.requested_at = Some(SystemTime::now());
            if !matches!(x.goal, Goal::Acquire { .. }) {
                prop_assert_eq!(b.params.ip, LEASED, "an extension must keep the lease's address");
            }
            let now = Utc::now();
            let l = Lease::from_bound(&b, &x.id, "eth0", None, now);
            check_lease(&l, explicit_infinite)?;
            // What dhcpnet would record must load again, unchanged.
            prop_assert!(l.check().is_ok(), "{:?}", l.check());
            let bytes = encode_record(&l).map_err(TestCaseError::fail)?;
            let back: Lease = parse_record(std::path::Path::new("leases.d/x.json"), &bytes)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, &l);
            let _ = l.seconds_left(now);
            let _ = schedule::plan(std::slice::from_ref(&l), &Default::default(), now);
            let routes = wanted_routes(std::slice::from_ref(&l), "eth0", &[], Some((SERVER, 24)));
            for ip in routes {
                prop_assert!(is_unicast(ip) && ip.octets()[..3] == [10, 9, 0]);
            }
        }
    }

    #[test]
    fn arbitrary_frames_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1600)) {
        if let Some(udp) = frame::parse_udp(&bytes)
            && let Some(m) = Bootreply::parse(udp.payload)
        {
            for mut x in exchanges() {
                let _ = x.on_reply(&Reply { msg: &m, src_mac: udp.src_mac, src_ip: udp.src_ip });
            }
        }
        let _ = frame::parse_arp(&bytes);
        if let Some(m) = Bootreply::parse(&bytes) {
            let _ = m.params(SERVER);
        }
    }
}

proptest! {
    // Each case is a frame of about 1,500 bytes: a twentieth of the cases
    // (10,000 by default) takes as long as the targets above.
    #![proptest_config(ProptestConfig { cases: cases() / 20, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn an_ack_with_long_lists_in_pieces_binds_to_a_record_that_loads_back_unchanged(
        lists in prop::collection::vec(long_list(), 1..4),
        options in prop::collection::vec(option(), 0..4),
    ) {
        let i = Input {
            kind: 5,
            hlen: 6,
            yiaddr: LEASED.octets(),
            server_id: Some(SERVER.octets()),
            mask: Some([255, 255, 255, 0]),
            router: Some(SERVER.octets()),
            lease: Some(600),
            options,
            lists,
            file: vec![],
            sname: vec![],
            mutations: vec![],
        };
        let f = frame_of(&i);
        let Some(udp) = frame::parse_udp(&f) else { return Ok(()) };
        let Some(m) = Bootreply::parse(udp.payload) else { return Ok(()) };
        for mut x in exchanges() {
            let r = Reply { msg: &m, src_mac: udp.src_mac, src_ip: udp.src_ip };
            let Step::Bound(b) = x.on_reply(&r) else { continue };
            let l = Lease::from_bound(&b, &x.id, "eth0", None, Utc::now());
            prop_assert!(l.check().is_ok(), "{:?}", l.check());
            let bytes = encode_record(&l).map_err(TestCaseError::fail)?;
            let back: Lease = parse_record(std::path::Path::new("leases.d/x.json"), &bytes)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, &l);
        }
    }
}

#[test]
fn the_generated_replies_reach_a_binding() {
    // Guard against a harness that only ever feeds rejected input: a sane
    // generated ACK must bind, so the deep checks above do run.
    let i = Input {
        kind: 5,
        hlen: 6,
        yiaddr: LEASED.octets(),
        server_id: Some(SERVER.octets()),
        mask: Some([255, 255, 255, 0]),
        router: Some(SERVER.octets()),
        lease: Some(600),
        options: vec![],
        lists: vec![],
        file: vec![],
        sname: vec![],
        mutations: vec![],
    };
    let f = frame_of(&i);
    let udp = frame::parse_udp(&f).expect("frame");
    let m = Bootreply::parse(udp.payload).expect("reply");
    let bound = exchanges()
        .into_iter()
        .filter_map(|mut x| {
            match x.on_reply(&Reply {
                msg: &m,
                src_mac: udp.src_mac,
                src_ip: udp.src_ip,
            }) {
                Step::Bound(b) => Some(b),
                _ => None,
            }
        })
        .count();
    assert_eq!(bound, 4, "renew, rebind, reboot and requesting all bind");
    assert_eq!(INFINITE, u32::MAX);
}

#[test]
fn a_generated_ack_with_three_hundred_dns_servers_in_pieces_binds_to_a_record_that_loads() {
    // The long lists reach a binding too: what the property checks above
    // is the record such a reply makes.
    let dns: Vec<u8> = (0..300usize)
        .flat_map(|i| [10, 9, (i / 250) as u8, (i % 250 + 1) as u8])
        .collect();
    let mut list = Vec::new();
    for c in dns.chunks(255) {
        list.push(6);
        list.push(c.len() as u8);
        list.extend_from_slice(c);
    }
    let i = Input {
        kind: 5,
        hlen: 6,
        yiaddr: LEASED.octets(),
        server_id: Some(SERVER.octets()),
        mask: Some([255, 255, 255, 0]),
        router: Some(SERVER.octets()),
        lease: Some(600),
        options: vec![],
        lists: vec![list],
        file: vec![],
        sname: vec![],
        mutations: vec![],
    };
    let f = frame_of(&i);
    let udp = frame::parse_udp(&f).expect("frame");
    let m = Bootreply::parse(udp.payload).expect("reply");
    let mut bound = 0;
    for mut x in exchanges() {
        let r = Reply {
            msg: &m,
            src_mac: udp.src_mac,
            src_ip: udp.src_ip,
        };
        if let Step::Bound(b) = x.on_reply(&r) {
            let l = Lease::from_bound(&b, &x.id, "eth0", None, Utc::now());
            assert!(l.check().is_ok(), "{:?}", l.check());
            assert!(!l.dns.is_empty() && l.dns.len() <= 8, "{}", l.dns.len());
            bound += 1;
        }
    }
    assert_eq!(bound, 4);
}
