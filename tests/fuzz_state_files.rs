//! Property harness for the state-file loaders (issue 8): the record files
//! of the tables (`leases.d/*.json`, `links.d/*.json`, `networks.d/*.json`,
//! one record each) and the single files older dhcpnet wrote, which are
//! converted at first use (`leases.json`, `links.json`, `networks.json`),
//! fed arbitrary bytes and valid files with hostile field values (extreme
//! dates, huge numbers, bad strings, wrong types). A load never panics: it yields records that pass their
//! checks, or a state error (exit 7). The records it yields are then run
//! through what the daemon does with them (its schedule), which must not
//! panic either.
//!
//! Every record a load yields passes its own checks (`check`), and is
//! written back by a table (`encode_record`) as bytes that load again to
//! the same record: what dhcpnet reads it can always write, and what it
//! writes it can always read.
//!
//! Stable toolchain, no I/O per case. `DHCPNET_FUZZ_CASES` sets the cases
//! per target (default below: 100,000, about 10 s per target with the dev
//! profile's optimised dependencies on a 2-core machine); CI runs the
//! default, longer runs set it higher.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use dhcpnet::daemon::schedule;
use dhcpnet::error::{Error, ExitCode};
use dhcpnet::store::table::{Record, encode_record, parse_record};
use dhcpnet::{lease, links, network};

const DEFAULT_CASES: u32 = 100_000;

fn runner() -> TestRunner {
    let cases = std::env::var("DHCPNET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    })
}

/// A load's outcome is acceptable: records that pass their checks, or a
/// state error naming the file.
fn clean_error(e: &Error, file: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.exit_code(), ExitCode::State, "{}", e);
    prop_assert!(e.to_string().contains(file), "{}", e);
    Ok(())
}

fn nows() -> [DateTime<Utc>; 3] {
    [
        Utc.timestamp_opt(0, 0).unwrap(),
        Utc::now(),
        Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
    ]
}

/// A loaded record passes its checks and round-trips through what a
/// table writes.
fn round_trips<R: Record + std::fmt::Debug>(r: &R) -> Result<(), TestCaseError> {
    prop_assert!(r.check().is_ok(), "{:?}", r.check());
    let bytes = encode_record(r).map_err(TestCaseError::fail)?;
    let back: R = parse_record(Path::new("x.json"), &bytes)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, r);
    Ok(())
}

/// What the daemon does with loaded leases, which must not panic.
fn use_leases(leases: &[lease::Lease]) {
    for now in nows() {
        let _ = schedule::plan(leases, &HashMap::new(), now);
        for l in leases {
            let _ = (l.seconds_left(now), l.is_expired(now), l.identity());
            if let Some(a) = schedule::phase(l, now) {
                let b = schedule::retry_after(l, a, now);
                let _ = schedule::next_due(l, Some(&b), now);
            }
        }
    }
}

fn check_leases(bytes: &[u8]) -> Result<(), TestCaseError> {
    match lease::parse(Path::new("leases.json"), bytes) {
        Ok(ls) => {
            for l in &ls {
                round_trips(l)?;
            }
            use_leases(&ls);
        }
        Err(e) => clean_error(&e, "leases.json")?,
    }
    Ok(())
}

fn check_links(bytes: &[u8]) -> Result<(), TestCaseError> {
    match links::parse(Path::new("links.json"), bytes) {
        Ok(rs) => {
            for r in &rs {
                round_trips(r)?;
                let _ = (r.tag(), r.describe());
                let _ = links::judge(Some(r), None);
            }
        }
        Err(e) => clean_error(&e, "links.json")?,
    }
    Ok(())
}

fn check_networks(bytes: &[u8]) -> Result<(), TestCaseError> {
    match network::parse(Path::new("networks.json"), bytes) {
        Ok(ns) => {
            for n in &ns {
                round_trips(n)?;
                let s = n.subnet;
                let _ = (s.broadcast(), s.first_usable(), s.contains(n.gateway));
                let _ = s.to_string().parse::<network::Subnet>();
            }
        }
        Err(e) => clean_error(&e, "networks.json")?,
    }
    Ok(())
}

/// One record file of each table, parsed as the table reads it.
fn check_records(bytes: &[u8]) -> Result<(), TestCaseError> {
    let p = Path::new("leases.d/eth0@02-00-00-00-00-05.json");
    match parse_record::<lease::Lease>(p, bytes) {
        Ok(l) => {
            round_trips(&l)?;
            use_leases(std::slice::from_ref(&l));
        }
        Err(e) => clean_error(&e, "leases.d/eth0@02-00-00-00-00-05.json")?,
    }
    match parse_record::<links::LinkRecord>(Path::new("links.d/eth0.10.json"), bytes) {
        Ok(r) => {
            round_trips(&r)?;
            let _ = (r.tag(), r.describe(), links::judge(Some(&r), None));
        }
        Err(e) => clean_error(&e, "links.d/eth0.10.json")?,
    }
    match parse_record::<network::Network>(Path::new("networks.d/n.json"), bytes) {
        Ok(n) => {
            round_trips(&n)?;
            let s = n.subnet;
            let _ = (s.broadcast(), s.first_usable(), s.contains(n.gateway));
        }
        Err(e) => clean_error(&e, "networks.d/n.json")?,
    }
    Ok(())
}

fn good_lease() -> Value {
    json!({
        "ip": "10.0.0.5", "prefix_len": 24, "subnet": "10.0.0.0/24",
        "mac": "02:00:00:00:00:05", "gateway": "10.0.0.1", "dns": ["10.0.0.1"],
        "domain": "lan", "search": ["lan"], "server_id": "10.0.0.1",
        "server_mac": "02:00:00:00:00:01", "lease_time": 100, "renewal_time": 50,
        "rebinding_time": 87, "obtained_at": "2026-01-01T00:00:00Z",
        "expires_at": "2026-01-01T00:01:40Z", "hostname": "web",
        "client_id": "01:02:00:00:00:00:05", "interface": "eth0", "network": "n",
        "container": "abc", "mtu": 1500,
        "routes": [{"destination": "10.1.0.0/16", "gateway": "10.0.0.1"}],
        "status": "bound"
    })
}

fn good_link() -> Value {
    json!({
        "name": "eth0.10", "ifindex": 7, "kind": "vlan", "parent": "eth0", "vid": 10,
        "mac": null, "mode": null, "shim": false, "created_at": "2026-11-28T05:00:00Z"
    })
}

fn good_network() -> Value {
    json!({
        "name": "n", "id": "x", "parent": "eth0", "dhcp_interface": "eth0",
        "subnet": "10.0.0.0/24", "gateway": "10.0.0.1", "vlan": 10, "owned_link": "eth0.10",
        "created_at": "2026-01-01T00:00:00Z", "deleting": false,
        "members": [{"name": "web", "mac": "02:00:00:00:00:01", "ip": "10.0.0.9", "container": "abc"}]
    })
}

/// Dates near and past chrono's limits, and ordinary ones.
fn date() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "+262142-12-31T23:59:59Z",
            "-262143-01-01T00:00:00Z",
            "+262143-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "10000-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "2026-01-01T00:00:00+14:00",
            "2026-02-30T00:00:00Z",
            "2026-01-01T00:00:60Z",
        ])
        .prop_map(Value::from),
        (-262_200i64..262_200, 1u32..13, 1u32..29, 0u32..24)
            .prop_map(|(y, mo, d, h)| Value::from(format!("{y:+07}-{mo:02}-{d:02}T{h:02}:00:00Z"))),
        (1960i64..10_010, 1u32..13)
            .prop_map(|(y, mo)| Value::from(format!("{y:04}-{mo:02}-01T00:00:00Z"))),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            json!(0),
            json!(-1),
            json!(1),
            json!(15),
            json!(16),
            json!(32),
            json!(33),
            json!(255),
            json!(256),
            json!(4094),
            json!(4095),
            json!(65535),
            json!(65536),
            json!(4294967295u64),
            json!(4294967296u64),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1e308),
            json!(0.5),
        ]),
        any::<i64>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
    ]
}

fn string() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "".to_string(),
            "a/b".into(),
            "eth0\u{0}".into(),
            ".".into(),
            "..".into(),
            "x".repeat(15),
            "x".repeat(16),
            "x".repeat(300),
            "ev\u{0}il\n.com\u{1b}[2J".into(),
            "10.0.0.0/99".into(),
            "10.0.0.0/24".into(),
            "10.0.0.5/24".into(),
            "0.0.0.0/0".into(),
            "255.255.255.255".into(),
            "224.0.0.5".into(),
            "127.0.0.1".into(),
            "ff:ff:ff:ff:ff:ff".into(),
            "00:00:00:00:00:00".into(),
            "01:00:5e:00:00:01".into(),
            "02:00:00:00:00:09".into(),
            "01".into(),
            "€€€€€€€€".into(),
            "vlan".into(),
            "macvlan".into(),
            "lost".into(),
            "bound".into(),
        ])
        .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => date(),
        4 => number(),
        4 => string(),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
    ];
    prop_oneof![
        32 => leaf.clone(),
        4 => prop::collection::vec(leaf, 0..3).prop_map(Value::from),
        4 => Just(json!({"": []})),
        // Lists longer than a record may hold (as a forged reply made an
        // older dhcpnet record them): repaired on load, or refused. Rare:
        // each costs as much as many small values.
        1 => (250usize..300).prop_map(|n| json!(vec!["10.0.0.1"; n])),
        1 => (250usize..300).prop_map(|n| json!(vec!["lab.example"; n])),
    ]
}

/// A valid file of `records` (under `key`) with some fields of some
/// records (or of the file itself) replaced by hostile values.
fn mutated(key: &'static str, good: Value) -> impl Strategy<Value = Vec<u8>> {
    let fields: Vec<String> = good
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let n = fields.len();
    (
        1usize..4,
        prop::collection::vec((0usize..3, 0..n + 1, value()), 1..5),
        prop::option::weighted(0.05, value()),
    )
        .prop_map(move |(count, edits, version)| {
            let mut recs = vec![good.clone(); count];
            for (r, f, v) in edits {
                let r = r % count;
                match fields.get(f) {
                    Some(name) => recs[r][name.as_str()] = v,
                    None => {
                        // Drop a field instead.
                        if let Some(o) = recs[r].as_object_mut()
                            && let Some(k) = o.keys().nth(f % n.max(1)).cloned()
                        {
                            o.remove(&k);
                        }
                    }
                }
            }
            let mut doc = json!({"version": 1, key: recs});
            if let Some(v) = version {
                doc["version"] = v;
            }
            serde_json::to_vec(&doc).unwrap_or_default()
        })
}

/// A valid record file (`{"version": 1, "record": ...}`) with some fields
/// of the record (or the version) replaced by hostile values or dropped.
fn mutated_record(good: Value) -> impl Strategy<Value = Vec<u8>> {
    mutated("records", good).prop_map(|bytes| {
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let rec = doc["records"][0].clone();
        serde_json::to_vec(&json!({"version": doc["version"], "record": rec})).unwrap_or_default()
    })
}

fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        // Nearly JSON: a valid file cut or with one byte changed.
        (any::<usize>(), any::<u8>(), any::<bool>()).prop_map(|(at, b, cut)| {
            let mut v = serde_json::to_vec(&json!({"version": 1, "leases": [good_lease()],
                "links": [good_link()], "networks": [good_network()]}))
            .unwrap_or_default();
            let at = at % v.len().max(1);
            if cut {
                v.truncate(at);
            } else if let Some(x) = v.get_mut(at) {
                *x = b;
            }
            v
        }),
    ]
}

fn run(
    name: &str,
    strategy: impl Strategy<Value = Vec<u8>>,
    f: fn(&[u8]) -> Result<(), TestCaseError>,
) {
    let mut r = runner();
    let cases = r.config().cases;
    let t = std::time::Instant::now();
    let result = r.run(&strategy, |bytes| f(&bytes));
    eprintln!("{name}: {cases} cases in {:.1?}", t.elapsed());
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

#[test]
fn leases_json_with_hostile_fields_loads_checked_records_or_a_clean_error() {
    run(
        "leases.json mutated",
        mutated("leases", good_lease()),
        check_leases,
    );
}

#[test]
fn links_json_with_hostile_fields_loads_checked_records_or_a_clean_error() {
    run(
        "links.json mutated",
        mutated("links", good_link()),
        check_links,
    );
}

#[test]
fn networks_json_with_hostile_fields_loads_checked_records_or_a_clean_error() {
    run(
        "networks.json mutated",
        mutated("networks", good_network()),
        check_networks,
    );
}

#[test]
fn lease_record_files_with_hostile_fields_load_a_checked_record_or_a_clean_error() {
    run(
        "leases.d record mutated",
        mutated_record(good_lease()),
        check_records,
    );
}

#[test]
fn link_and_network_record_files_with_hostile_fields_load_a_checked_record_or_a_clean_error() {
    run(
        "links.d and networks.d records mutated",
        prop_oneof![mutated_record(good_link()), mutated_record(good_network())],
        check_records,
    );
}

#[test]
fn arbitrary_bytes_in_any_state_file_load_or_fail_cleanly() {
    run("arbitrary bytes", arbitrary_bytes(), |b| {
        check_leases(b)?;
        check_links(b)?;
        check_networks(b)?;
        check_records(b)
    });
}

#[test]
fn the_unmutated_samples_load() {
    let doc = |k: &str, v: Value| serde_json::to_vec(&json!({"version": 1, k: [v]})).unwrap();
    assert_eq!(
        lease::parse(Path::new("leases.json"), &doc("leases", good_lease()))
            .map(|v| v.len())
            .map_err(|e| e.to_string()),
        Ok(1)
    );
    assert_eq!(
        links::parse(Path::new("links.json"), &doc("links", good_link()))
            .map(|v| v.len())
            .map_err(|e| e.to_string()),
        Ok(1)
    );
    assert_eq!(
        network::parse(Path::new("networks.json"), &doc("networks", good_network()))
            .map(|v| v.len())
            .map_err(|e| e.to_string()),
        Ok(1)
    );
    let rec = |v: Value| serde_json::to_vec(&json!({"version": 1, "record": v})).unwrap();
    assert!(parse_record::<lease::Lease>(Path::new("l.json"), &rec(good_lease())).is_ok());
    assert!(parse_record::<links::LinkRecord>(Path::new("l.json"), &rec(good_link())).is_ok());
    assert!(parse_record::<network::Network>(Path::new("n.json"), &rec(good_network())).is_ok());
}
