//! Fuzzing, on the stable toolchain, of what the IPAM plugin reads from its
//! socket: the HTTP request parser (`daemon::http`) and the decoding of the
//! engine's IPAM requests (`daemon::ipam`, `PoolId::decode`).
//!
//! Each target runs a fixed number of generated inputs (`CASES`, or
//! `PROPTEST_CASES` for a longer run), both arbitrary bytes and valid
//! requests with random mutations. Nothing may panic, and the parser's
//! verdict may depend on no byte past its limits.

use std::collections::HashMap;

use dhcpnet::daemon::http::{self, MAX_BODY, MAX_HEADER, MAX_REQUEST, Parse, Parser};
use dhcpnet::daemon::ipam::{
    self, ADDRESS_TYPE_OPTION, AddressRequest, GATEWAY_TYPE, INTERFACE_OPTION, MAC_OPTION, PoolId,
    PoolRequest, ReleaseAddressRequest, Subnet,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Inputs per target: 200,000 (about 10-25 s each in a debug build on the
/// 2-core build machines); `PROPTEST_CASES` overrides.
const CASES: u32 = 200_000;

fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Failures are shrunk and reported; no files written under tests/.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const PATHS: &[&str] = &[
    "/Plugin.Activate",
    "/IpamDriver.GetCapabilities",
    "/IpamDriver.GetDefaultAddressSpaces",
    "/IpamDriver.RequestPool",
    "/IpamDriver.ReleasePool",
    "/IpamDriver.RequestAddress",
    "/IpamDriver.ReleaseAddress",
];

/// A request as the engine sends it.
fn request(path: &str, body: &[u8], extra: &[(String, String)]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: plugin\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: {}\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Type: application/json\r\n",
        body.len()
    );
    for (k, v) in extra {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        Just(b":".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"Content-Length: 99999999999999999999\r\n".to_vec()),
        Just(b"Content-Length: 5\r\n".to_vec()),
        Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
        Just(b"Connection: close\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..16),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), interesting).prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 0usize..32).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn mutate(mut v: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        let len = v.len();
        let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
        match m {
            Mutation::Flip(i, b) if len > 0 => v[i % len] = *b,
            Mutation::Flip(..) => {}
            Mutation::Insert(i, ins) => {
                let i = at(*i);
                v.splice(i..i, ins.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = at(*i);
                let end = (i + n).min(len);
                v.drain(i..end);
            }
            Mutation::Truncate(i) => v.truncate(at(*i)),
            Mutation::Duplicate(i, n) => {
                let i = at(*i);
                let end = (i + n).min(len);
                let copy = v[i..end].to_vec();
                v.splice(i..i, copy);
            }
        }
    }
    v
}

/// Parse `buf` as it arrives in pieces of the given sizes.
fn parse_in_pieces(buf: &[u8], sizes: &[usize]) -> Parse {
    let mut p = Parser::new();
    let mut end = 0;
    let mut sizes = sizes.iter().cycle();
    loop {
        let step = sizes.next().copied().unwrap_or(1).max(1);
        end = (end + step).min(buf.len());
        match p.next(&buf[..end]) {
            Parse::Incomplete if end < buf.len() => continue,
            r => return r,
        }
    }
}

/// What must hold of any verdict on any input.
fn check_verdict(buf: &[u8]) -> Result<(), TestCaseError> {
    let whole = http::parse(buf);
    match &whole {
        Parse::Done(r, n) => {
            prop_assert!(
                *n <= buf.len() && *n <= MAX_REQUEST,
                "used {n} of {}",
                buf.len()
            );
            prop_assert!(r.body.len() <= MAX_BODY);
            // Decided by the bytes it used: the same on those bytes alone.
            prop_assert_eq!(&http::parse(&buf[..*n]), &whole);
        }
        Parse::Incomplete => {
            prop_assert!(
                buf.len() < MAX_REQUEST,
                "waits for more after {}",
                buf.len()
            );
            // With no end of headers yet, it never waits past the limit.
            if !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                prop_assert!(buf.len() < MAX_HEADER);
            }
        }
        Parse::Bad(_) => {}
    }
    // A verdict once reached stands whatever follows it: nothing past the
    // bytes that decided it is read.
    if !matches!(whole, Parse::Incomplete) {
        let mut more = buf.to_vec();
        more.extend_from_slice(b"\r\n\r\nPOST / HTTP/1.1\r\n\r\n");
        prop_assert_eq!(&http::parse(&more), &whole);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn the_request_parser_never_panics_on_arbitrary_bytes(
        buf in proptest::collection::vec(any::<u8>(), 0..600),
        sizes in proptest::collection::vec(1usize..64, 1..8),
    ) {
        check_verdict(&buf)?;
        // Read in pieces, the verdict is the same as read whole.
        prop_assert_eq!(parse_in_pieces(&buf, &sizes), http::parse(&buf));
    }

    #[test]
    fn the_request_parser_never_panics_on_mutated_engine_requests(
        path in proptest::sample::select(PATHS),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        extra in proptest::collection::vec(("[A-Za-z-]{0,12}", "[ -~]{0,24}"), 0..4),
        ms in proptest::collection::vec(mutation(), 0..6),
        sizes in proptest::collection::vec(1usize..128, 1..8),
    ) {
        let buf = mutate(request(path, &body, &extra), &ms);
        check_verdict(&buf)?;
        prop_assert_eq!(parse_in_pieces(&buf, &sizes), http::parse(&buf));
        if ms.is_empty() {
            let done = matches!(http::parse(&buf), Parse::Done(ref r, n) if n == buf.len() && r.body == body);
            prop_assert!(done, "an unmutated request was not read");
        }
    }
}

proptest! {
    // Inputs of up to 40 KiB: fewer of them.
    #![proptest_config(config(CASES / 100))]

    #[test]
    fn the_request_parser_keeps_to_its_limits_around_them(
        head_len in (MAX_HEADER - 64)..(MAX_HEADER + 64),
        terminated in any::<bool>(),
        body_len in prop_oneof![0usize..16, (MAX_BODY - 2)..(MAX_BODY + 3)],
        tail in 0usize..64,
        sizes in proptest::collection::vec(1usize..8192, 1..4),
    ) {
        let line = format!("POST /x HTTP/1.1\r\nContent-Length: {body_len}\r\nX: ");
        let mut buf = line.into_bytes();
        buf.resize(head_len.saturating_sub(4).max(buf.len()), b'a');
        if terminated {
            buf.extend_from_slice(b"\r\n\r\n");
        }
        // A body only as long as needed to see the verdict, plus a tail.
        buf.resize(buf.len() + body_len.min(64) + tail, b'{');
        check_verdict(&buf)?;
        let v = http::parse(&buf);
        if !terminated {
            prop_assert!(!matches!(v, Parse::Done(..)));
        }
        if terminated && (head_len > MAX_HEADER || body_len > MAX_BODY) {
            prop_assert!(matches!(v, Parse::Bad(_)), "over a limit and not refused: {v:?}");
        }
        prop_assert_eq!(parse_in_pieces(&buf, &sizes), v);
    }
}

// ------------------------------------------------------------------- IPAM

fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("dhcpnet:eth0:10.0.0.0/24:10.0.0.1".to_string()),
        Just("dhcpnet:eth0.10:192.168.1.0/24:".to_string()),
        Just("dhcpnet:::".to_string()),
        Just("dhcpnet:eth0:10.0.0.0/33:".to_string()),
        Just("dhcpnet:eth0:10.0.0.0/-1:".to_string()),
        Just("dhcpnet:eth0:10.0.0.0/24:1.2.3.4:x".to_string()),
        Just("10.0.0.5/24".to_string()),
        Just("255.255.255.255/0".to_string()),
        Just("0.0.0.0/32".to_string()),
        Just("02:42:ac:11:00:02".to_string()),
        Just("ff:ff:ff:ff:ff:ff".to_string()),
        "[0-9a-f:./]{0,40}",
        "dhcpnet:[ -~]{0,12}:[0-9./]{0,20}:[0-9.]{0,16}",
        any::<String>(),
    ]
}

fn options() -> impl Strategy<Value = Option<HashMap<String, String>>> {
    let key = prop_oneof![
        Just(MAC_OPTION.to_string()),
        Just(ADDRESS_TYPE_OPTION.to_string()),
        Just(INTERFACE_OPTION.to_string()),
        any::<String>(),
    ];
    let value = prop_oneof![Just(GATEWAY_TYPE.to_string()), interesting_string()];
    proptest::option::of(proptest::collection::hash_map(key, value, 0..4))
}

/// A JSON value that may stand where the engine puts a string.
fn json_field(s: String) -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => Just(Value::String(s)),
        1 => Just(Value::Null),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(json!([1, "a", null])),
        1 => Just(json!({"a": {"b": []}})),
    ]
}

fn engine_body() -> impl Strategy<Value = Vec<u8>> {
    (
        interesting_string(),
        interesting_string(),
        options(),
        any::<bool>(),
    )
        .prop_flat_map(|(a, b, opts, v6)| {
            (json_field(a), json_field(b)).prop_map(move |(a, b)| {
                json!({
                    "PoolID": a.clone(),
                    "Pool": b.clone(),
                    "Address": b,
                    "SubPool": "",
                    "AddressSpace": a,
                    "Options": opts,
                    "V6": v6,
                })
                .to_string()
                .into_bytes()
            })
        })
}

/// Everything the plugin does with a request body short of DHCP: decode it
/// for every call, then the checks and answers built from it.
fn handle_body(body: &[u8]) {
    if let Ok(r) = ipam::decode::<PoolRequest>(body, "RequestPool") {
        let requested = Subnet::parse_normalised(&r.pool).ok();
        if let Some(name) = r.options.as_ref().and_then(|o| o.get(INTERFACE_OPTION)) {
            let vlan = ipam::vlan_name(name);
            for offer in [
                None,
                Some(ipam::Offered {
                    subnet: Subnet::new([10, 0, 0, 0].into(), 24),
                    router: Some([10, 0, 0, 1].into()),
                }),
            ] {
                if let Ok(p) = ipam::decide_pool(name, requested, vlan, offer.as_ref()) {
                    let _ = ipam::pool_answer(&p);
                    let _ = p.gateway();
                }
            }
        }
    }
    if let Ok(r) = ipam::decode::<AddressRequest>(body, "RequestAddress")
        && let Ok(pool) = PoolId::decode(&r.pool_id)
    {
        let _ = pool.gateway();
        let _ = pool.subnet.first_usable();
        if let Ok(ask) = ipam::address_ask(&r, &pool) {
            let _ = format!("{ask:?}");
        }
    }
    if let Ok(r) = ipam::decode::<ReleaseAddressRequest>(body, "ReleaseAddress") {
        let _ = PoolId::decode(&r.pool_id);
        let _ = ipam::parse_address(&r.address);
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn ipam_requests_never_panic_the_decoders(
        body in prop_oneof![
            3 => engine_body(),
            1 => proptest::collection::vec(any::<u8>(), 0..200),
        ],
        ms in proptest::collection::vec(mutation(), 0..3),
    ) {
        handle_body(&body);
        handle_body(&mutate(body, &ms));
    }

    #[test]
    fn pool_ids_never_panic_and_round_trip_when_accepted(s in interesting_string()) {
        if let Ok(p) = PoolId::decode(&s) {
            prop_assert_eq!(PoolId::decode(&p.encode()), Ok(p.clone()));
            prop_assert!(p.subnet.prefix() <= 32);
            let _ = p.gateway();
        }
        let _ = Subnet::parse_normalised(&s);
        let _ = ipam::parse_address(&s);
        let _ = ipam::route(&s);
    }
}
