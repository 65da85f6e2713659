//! The DHCP client against a real dnsmasq in a namespace lab.

mod common;

use std::time::{Duration, Instant};

use common::{IFACE, Lab, ok, text};
use serde_json::Value;

fn lab() -> Option<Lab> {
    let mut lab = Lab::new(&["dnsmasq"])?;
    lab.start_dnsmasq(&[]);
    Some(lab)
}

const LEASE_FIELDS: [&str; 15] = [
    "ip",
    "prefix_len",
    "mac",
    "gateway",
    "dns",
    "domain",
    "server_id",
    "lease_time",
    "obtained_at",
    "expires_at",
    "hostname",
    "client_id",
    "interface",
    "network",
    "status",
];

#[test]
fn probe_reports_the_offer_and_commits_nothing() {
    let Some(lab) = lab() else { return };
    let v = ok(&lab.dhcpnet(&["probe", IFACE, "--collect", "0.3", "-o", "json"]));
    for f in [
        "interface",
        "server_id",
        "server_mac",
        "offered_ip",
        "subnet",
        "netmask",
        "gateway",
        "dns",
        "domain",
        "lease_time",
        "renewal_time",
        "rebinding_time",
        "mtu",
        "routes",
        "offers",
    ] {
        assert!(v.get(f).is_some(), "probe JSON lacks {f}: {v}");
    }
    assert_eq!(v["interface"], IFACE);
    assert_eq!(v["server_id"], "10.77.0.1");
    assert_eq!(v["subnet"], "10.77.0.0/24");
    assert_eq!(v["netmask"], "255.255.255.0");
    assert_eq!(v["gateway"], "10.77.0.1");
    assert_eq!(v["dns"], serde_json::json!(["10.77.0.2"]));
    assert_eq!(v["domain"], "lab.test");
    assert_eq!(v["lease_time"], 300);
    assert_eq!(v["offers"].as_array().map(Vec::len), Some(1));
    // Give dnsmasq a moment to write anything it would have written.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        lab.server_leases().is_empty(),
        "probe committed a lease: {:?}",
        lab.server_leases()
    );
    assert!(
        lab.server_log().contains("DHCPOFFER"),
        "dnsmasq saw no DISCOVER"
    );
    assert!(
        !lab.server_log().contains("DHCPREQUEST"),
        "probe sent a REQUEST"
    );
    let out = lab.dhcpnet(&["leases", "-o", "json"]);
    assert_eq!(ok(&out), serde_json::json!([]));
}

#[test]
fn lease_appears_in_server_table_with_mac_and_hostname_then_release_removes_it() {
    let Some(lab) = lab() else { return };
    let mac = "02:42:0a:4d:00:07";
    let v = ok(&lab.dhcpnet(&[
        "lease",
        "--interface",
        IFACE,
        "--mac",
        mac,
        "--hostname",
        "web-1",
        "-o",
        "json",
    ]));
    for f in LEASE_FIELDS {
        assert!(v.get(f).is_some(), "lease JSON lacks {f}: {v}");
    }
    assert_eq!(v["mac"], mac);
    assert_eq!(v["hostname"], "web-1");
    assert_eq!(v["client_id"], "01:02:42:0a:4d:00:07");
    assert_eq!(v["prefix_len"], 24);
    assert_eq!(v["gateway"], "10.77.0.1");
    assert_eq!(v["interface"], IFACE);
    assert_eq!(v["lease_time"], 300);
    let ip = v["ip"].as_str().unwrap().to_string();
    let obtained = chrono_secs(&v["obtained_at"]);
    let expires = chrono_secs(&v["expires_at"]);
    assert_eq!(expires - obtained, 300);

    let rows = lab.server_leases();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, mac);
    assert_eq!(rows[0].1, ip);
    assert_eq!(rows[0].2, "web-1");
    assert_eq!(rows[0].3, "01:02:42:0a:4d:00:07");

    let list = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let left = list[0]["seconds_left"].as_i64().unwrap();
    assert!((290..=300).contains(&left), "{left}");

    let rel = ok(&lab.dhcpnet(&["release", "--interface", IFACE, "--mac", mac, "-o", "json"]));
    assert_eq!(rel[0]["ip"], ip.as_str());
    wait_for(
        || lab.server_leases().is_empty(),
        "dnsmasq to drop the released lease",
    );
    assert_eq!(
        ok(&lab.dhcpnet(&["leases", "-o", "json"])),
        serde_json::json!([])
    );
}

fn chrono_secs(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    assert!(
        s.ends_with('Z') && s.len() == 20,
        "not RFC 3339 UTC seconds: {s}"
    );
    let t = std::process::Command::new("date")
        .args(["-d", s, "+%s"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&t.stdout).trim().parse().unwrap()
}

fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn twenty_concurrent_lease_processes_lose_nothing() {
    let Some(lab) = lab() else { return };
    let state = lab.state_dir();
    let children: Vec<_> = (0..20)
        .map(|i| {
            std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &lab.cli,
                    env!("CARGO_BIN_EXE_dhcpnet"),
                    "--state-dir",
                ])
                .arg(&state)
                .args([
                    "lease",
                    "-i",
                    IFACE,
                    "--hostname",
                    &format!("c{i}"),
                    "-o",
                    "json",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ips = std::collections::BTreeSet::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        ips.insert(ok(&out)["ip"].as_str().unwrap().to_string());
    }
    assert_eq!(ips.len(), 20, "addresses not distinct: {ips:?}");
    let list = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    let recorded: std::collections::BTreeSet<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ip"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recorded, ips, "the store lost records");
    assert_eq!(lab.server_leases().len(), 20);
}

#[test]
fn count_leases_many_macs_in_one_process() {
    let Some(lab) = lab() else { return };
    let v = ok(&lab.dhcpnet(&["lease", "-i", IFACE, "--count", "50", "-o", "json"]));
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 50);
    let ips: std::collections::BTreeSet<_> =
        arr.iter().map(|l| l["ip"].as_str().unwrap()).collect();
    let macs: std::collections::BTreeSet<_> =
        arr.iter().map(|l| l["mac"].as_str().unwrap()).collect();
    assert_eq!((ips.len(), macs.len()), (50, 50));
    assert_eq!(lab.server_leases().len(), 50);
    assert_eq!(
        ok(&lab.dhcpnet(&["leases", "-o", "json"]))
            .as_array()
            .map(Vec::len),
        Some(50)
    );
    ok(&lab.dhcpnet(&["release", "-i", IFACE, "--all", "-o", "json"]));
    wait_for(
        || lab.server_leases().is_empty(),
        "dnsmasq to drop 50 released leases",
    );
}

#[test]
fn unicast_replies_are_received_without_the_broadcast_flag() {
    let Some(lab) = lab() else { return };
    let v = ok(&lab.dhcpnet(&[
        "lease",
        "-i",
        IFACE,
        "--no-broadcast",
        "--timeout",
        "5",
        "-o",
        "json",
    ]));
    assert!(v["ip"].as_str().unwrap().starts_with("10.77.0."));
    let p = ok(&lab.dhcpnet(&[
        "probe",
        IFACE,
        "--no-broadcast",
        "--collect",
        "0.2",
        "-o",
        "json",
    ]));
    assert_eq!(p["server_id"], "10.77.0.1");
}

#[test]
fn renew_extends_the_lease_at_the_server() {
    let Some(lab) = lab() else { return };
    let v = ok(&lab.dhcpnet(&["lease", "-i", IFACE, "--hostname", "r1", "-o", "json"]));
    let before: i64 = lab.server_expiry(v["mac"].as_str().unwrap());
    std::thread::sleep(Duration::from_millis(2100));
    let r = ok(&lab.dhcpnet(&["renew", "--all", "-o", "json"]));
    assert_eq!(r[0]["result"], "renewed", "{r}");
    let after = lab.server_expiry(v["mac"].as_str().unwrap());
    assert!(
        after >= before + 2,
        "server expiry did not move: {before} -> {after}"
    );
    let l = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    assert!(
        l[0]["expires_at"].as_str() > v["expires_at"].as_str(),
        "record not updated: {l}"
    );
    assert_eq!(l[0]["hostname"], "r1");
}

#[test]
fn renew_works_while_a_container_with_that_mac_is_up() {
    let Some(lab) = lab() else { return };
    let mac = "02:42:0a:4d:00:99";
    let v = ok(&lab.dhcpnet(&["lease", "-i", IFACE, "--mac", mac, "-o", "json"]));
    let ip = v["ip"].as_str().unwrap();
    // A macvlan "container" with the same MAC and the leased address, up on
    // the same parent, in its own namespace.
    let ctr = format!("{}-ctr", lab.cli);
    let _ctr = common::Netns::add(&ctr);
    common::must(&[
        "ip", "-n", &lab.cli, "link", "add", "mv0", "link", IFACE, "address", mac, "type",
        "macvlan", "mode", "bridge",
    ]);
    common::must(&["ip", "-n", &lab.cli, "link", "set", "mv0", "netns", &ctr]);
    common::must(&[
        "ip",
        "-n",
        &ctr,
        "addr",
        "add",
        &format!("{ip}/24"),
        "dev",
        "mv0",
    ]);
    common::must(&["ip", "-n", &ctr, "link", "set", "mv0", "up"]);
    let ping = common::sh(&["ip", "netns", "exec", &lab.srv, "ping", "-c1", "-W2", ip]);
    assert!(
        ping.status.success(),
        "the container is not reachable: {}",
        text(&ping)
    );
    let r = ok(&lab.dhcpnet(&["renew", "--mac", mac, "-o", "json"]));
    assert_eq!(r[0]["result"], "renewed", "{r}");
}

#[test]
fn a_lease_released_while_it_was_being_renewed_stays_released_at_the_server_too() {
    let Some(lab) = lab() else { return };
    let mac = "02:42:0a:4d:00:9a";
    let v = ok(&lab.dhcpnet(&["lease", "-i", IFACE, "--mac", mac, "-o", "json"]));
    let ip = v["ip"].as_str().expect("ip").to_string();
    // Another process holds the lock while `renew` talks to the server, and
    // releases the lease meanwhile (here: drops the record, as `release`
    // does after its DHCPRELEASE).
    let lock_path = lab.state_dir().join("lock");
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(&lock_path)
        .expect("lock file");
    lock.lock().expect("take the state lock");
    let renew = std::thread::scope(|s| {
        let r = s.spawn(|| lab.dhcpnet(&["renew", "--mac", mac, "-o", "json"]));
        let acks = || {
            lab.server_log()
                .lines()
                .filter(|l| l.contains("DHCPACK(veth0)") && l.contains(mac))
                .count()
        };
        wait_for(|| acks() >= 2 || r.is_finished(), "the renewal's DHCPACK");
        common::clear_table(&lab.state_dir(), "leases.d");
        lock.unlock().expect("unlock");
        r.join().expect("renew")
    });
    // The renewal bound the address again after the release: it must not
    // come back as a record, and must be given back to the server.
    let r: Value =
        serde_json::from_slice(&renew.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&renew)));
    assert_eq!(r[0]["result"], "failed", "{r}");
    assert!(
        r[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("given back"),
        "{r}"
    );
    assert_eq!(
        ok(&lab.dhcpnet(&["leases", "-o", "json"])),
        serde_json::json!([])
    );
    wait_for(
        || lab.released(&ip, mac),
        "the DHCPRELEASE of the renewed address",
    );
}

#[test]
fn no_server_is_a_clear_error_within_the_timeout() {
    let Some(lab) = Lab::new(&[]) else { return };
    let t = Instant::now();
    let out = lab.dhcpnet(&["lease", "-i", IFACE, "--timeout", "2"]);
    let took = t.elapsed();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no DHCP server answered"));
    assert!(took < Duration::from_secs(4), "{took:?}");
    let out = lab.dhcpnet(&["probe", IFACE, "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        ok(&lab.dhcpnet(&["leases", "-o", "json"])),
        serde_json::json!([])
    );
}

#[test]
fn nak_on_renew_is_reported_and_the_lease_marked_lost() {
    let Some(mut lab) = lab() else { return };
    let v = ok(&lab.dhcpnet(&["lease", "-i", IFACE, "-o", "json"]));
    // The server forgets the lease and becomes authoritative for another
    // network only (keeping its address, so the unicast renewal reaches it):
    // it must NAK the renewal.
    lab.stop_servers();
    std::fs::remove_file(&lab.lease_file).unwrap();
    common::must(&[
        "ip",
        "-n",
        &lab.srv,
        "addr",
        "add",
        "10.88.0.1/24",
        "dev",
        IFACE,
    ]);
    lab.start_dnsmasq_with_range(
        "10.88.0.50,10.88.0.60,255.255.255.0,300",
        &["--dhcp-authoritative"],
    );
    let out = lab.dhcpnet(&["renew", "--all", "--timeout", "3", "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"));
    let l = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    assert_eq!(l[0]["status"], "lost");
    assert_eq!(l[0]["ip"], v["ip"]);
}

#[test]
fn bad_input_is_refused_with_documented_codes_and_changes_nothing() {
    let Some(lab) = lab() else { return };
    let code = |args: &[&str]| {
        let o = lab.dhcpnet(args);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (c, e) = code(&["lease", "-i", IFACE, "--mac", "01:00:5e:00:00:01"]);
    assert_eq!(c, Some(2), "{e}");
    assert!(e.contains("multicast"), "{e}");
    let (c, e) = code(&["lease", "-i", IFACE, "--mac", "nonsense"]);
    assert_eq!(c, Some(2), "{e}");
    let (c, e) = code(&["lease", "-i", IFACE, "--hostname", "bad_name"]);
    assert_eq!(c, Some(2), "{e}");
    let (c, e) = code(&["lease", "-i", "nosuch0"]);
    assert_eq!(c, Some(3), "{e}");
    assert!(e.contains("no interface named nosuch0"), "{e}");
    let (c, e) = code(&["probe", "lo"]);
    assert_eq!(c, Some(3), "{e}");
    assert!(e.contains("loopback"), "{e}");
    common::must(&[
        "ip", "-n", &lab.cli, "link", "add", "down0", "type", "veth", "peer", "name", "down1",
    ]);
    let (c, e) = code(&["lease", "-i", "down0"]);
    assert_eq!(c, Some(3), "{e}");
    assert!(e.contains("is down"), "{e}");
    let (c, e) = code(&["release", "-i", IFACE, "--mac", "02:00:00:00:00:01"]);
    assert_eq!(c, Some(6), "{e}");
    let (c, _) = code(&["renew", "--ip", "10.77.0.77"]);
    assert_eq!(c, Some(6));
    // Nothing was recorded or leased by any of that.
    assert_eq!(
        ok(&lab.dhcpnet(&["leases", "-o", "json"])),
        serde_json::json!([])
    );
    assert!(lab.server_leases().is_empty());
}

#[test]
fn a_corrupt_state_file_is_named_and_never_replaced() {
    let Some(lab) = lab() else { return };
    std::fs::create_dir_all(lab.state_dir()).unwrap();
    let f = lab.state_dir().join("leases.json");
    std::fs::write(&f, b"{\"version\": 1, \"leases\": [ garbage").unwrap();
    for args in [&["leases"][..], &["lease", "-i", IFACE][..]] {
        let o = lab.dhcpnet(args);
        assert_eq!(o.status.code(), Some(7), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("leases.json"), "{e}");
    }
    assert_eq!(
        std::fs::read(&f).unwrap(),
        b"{\"version\": 1, \"leases\": [ garbage"
    );
    // The lease taken by the failing command was given back.
    std::thread::sleep(Duration::from_millis(200));
    assert!(lab.server_leases().is_empty(), "{:?}", lab.server_leases());
}

#[test]
fn two_servers_are_both_reported_with_a_warning() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    // Server side becomes a bridge with a second server namespace behind it.
    let srv2 = format!("{}-2", lab.srv);
    let _srv2 = common::Netns::add(&srv2);
    let s = lab.srv.clone();
    common::must(&["ip", "-n", &s, "link", "add", "br0", "type", "bridge"]);
    common::must(&["ip", "-n", &s, "addr", "flush", "dev", IFACE]);
    common::must(&["ip", "-n", &s, "link", "set", IFACE, "master", "br0"]);
    common::must(&["ip", "-n", &s, "addr", "add", "10.77.0.1/24", "dev", "br0"]);
    common::must(&["ip", "-n", &s, "link", "set", "br0", "up"]);
    common::must(&[
        "ip", "-n", &s, "link", "add", "vb0", "type", "veth", "peer", "name", "veth0", "netns",
        &srv2,
    ]);
    common::must(&["ip", "-n", &s, "link", "set", "vb0", "master", "br0"]);
    common::must(&["ip", "-n", &s, "link", "set", "vb0", "up"]);
    common::must(&[
        "ip",
        "-n",
        &srv2,
        "addr",
        "add",
        "10.77.0.9/24",
        "dev",
        "veth0",
    ]);
    common::must(&["ip", "-n", &srv2, "link", "set", "veth0", "up"]);
    lab.spawn_dnsmasq(&s, "br0", "10.77.0.50,10.77.0.99,255.255.255.0,300", &[]);
    lab.spawn_dnsmasq(
        &srv2,
        "veth0",
        "10.77.0.100,10.77.0.150,255.255.255.0,300",
        &[],
    );
    let out = lab.dhcpnet(&["probe", IFACE, "--collect", "1", "-o", "json"]);
    let v = ok(&out);
    let servers: std::collections::BTreeSet<&str> = v["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["server_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        servers,
        ["10.77.0.1", "10.77.0.9"].into_iter().collect(),
        "{v}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 DHCP servers answered") && err.contains("rogue"),
        "{err}"
    );
}

#[test]
fn missing_privilege_names_the_capability() {
    let Some(lab) = lab() else { return };
    if !common::require(&["setpriv"]) {
        return;
    }
    let state = lab.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.cli,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_dhcpnet"))
        .arg("--state-dir")
        .arg(&state)
        .args(["lease", "-i", IFACE, "--timeout", "2"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("CAP_NET_RAW"));
    assert!(lab.server_leases().is_empty());
}

#[test]
fn a_lossy_link_does_not_lose_or_stall_a_batch() {
    let Some(lab) = lab() else { return };
    if !common::require(&["nft"]) {
        return;
    }
    // Drop a quarter of what reaches the server (RFC 2131 retransmission
    // and the batch pacer have to recover every exchange).
    let rules = "table inet loss {\n chain in {\n  type filter hook input priority 0;\n  udp dport 67 numgen random mod 100 < 25 drop\n }\n}\n";
    let f = lab.dir.path().join("loss.nft");
    std::fs::write(&f, rules).unwrap();
    common::must(&[
        "ip",
        "netns",
        "exec",
        &lab.srv,
        "nft",
        "-f",
        f.to_str().unwrap(),
    ]);
    let t = Instant::now();
    let v = ok(&lab.dhcpnet(&[
        "lease",
        "-i",
        IFACE,
        "--count",
        "40",
        "--timeout",
        "30",
        "-o",
        "json",
    ]));
    let took = t.elapsed();
    assert_eq!(v.as_array().map(Vec::len), Some(40));
    assert_eq!(lab.server_leases().len(), 40);
    eprintln!("40 leases through 25% loss took {took:?}");
}

#[test]
fn arp_check_declines_an_address_already_in_use() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    // A one-address pool, and a host on the LAN (the server's side of the
    // wire) squatting on that address.
    lab.start_dnsmasq_with_range("10.77.0.50,10.77.0.50,255.255.255.0,300", &[]);
    let squat = format!("{}-sq", lab.cli);
    let _sq = common::Netns::add(&squat);
    common::must(&[
        "ip", "-n", &lab.srv, "link", "add", "sq0", "link", IFACE, "type", "macvlan", "mode",
        "bridge",
    ]);
    common::must(&["ip", "-n", &lab.srv, "link", "set", "sq0", "netns", &squat]);
    common::must(&[
        "ip",
        "-n",
        &squat,
        "addr",
        "add",
        "10.77.0.50/24",
        "dev",
        "sq0",
    ]);
    common::must(&["ip", "-n", &squat, "link", "set", "sq0", "up"]);
    let out = lab.dhcpnet(&["lease", "-i", IFACE, "--arp-check", "0.6", "--timeout", "3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("10.77.0.50") && err.contains("in use"),
        "{err}"
    );
    assert!(
        lab.server_log().contains("DHCPDECLINE"),
        "no DECLINE reached the server: {}",
        lab.server_log()
    );
    assert_eq!(
        ok(&lab.dhcpnet(&["leases", "-o", "json"])),
        serde_json::json!([])
    );
    // Without the squatter the same check passes and the lease is kept.
    drop(_sq);
    lab.stop_servers();
    let _ = std::fs::remove_file(&lab.lease_file);
    lab.start_dnsmasq_with_range("10.77.0.50,10.77.0.50,255.255.255.0,300", &[]);
    let v = ok(&lab.dhcpnet(&["lease", "-i", IFACE, "--arp-check", "0.3", "-o", "json"]));
    assert_eq!(v["ip"], "10.77.0.50");
}

/// A fresh dnsmasq with a fresh lease file and an empty state directory.
fn restart_fresh(lab: &mut Lab, range: &str) {
    lab.stop_servers();
    let _ = std::fs::remove_file(&lab.lease_file);
    let _ = std::fs::remove_dir_all(lab.state_dir());
    lab.start_dnsmasq_with_range(range, &[]);
}

#[test]
fn ten_batches_in_a_row_that_fill_the_pool_lose_no_lease() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    // 101 addresses: one lease first, then a batch of 100 takes the rest.
    // dnsmasq offers one free address to two clients whose DISCOVERs cross
    // and NAKs the slower REQUEST; the batch must never let that cost a lease.
    for run in 1..=10 {
        restart_fresh(&mut lab, "10.77.0.50,10.77.0.150,255.255.255.0,300");
        ok(&lab.dhcpnet(&["lease", "-i", IFACE, "-o", "json"]));
        let t = Instant::now();
        let out = lab.dhcpnet(&["lease", "-i", IFACE, "--count", "100", "-o", "json"]);
        let took = t.elapsed();
        let v = ok(&out);
        assert_eq!(v.as_array().map(Vec::len), Some(100), "run {run}");
        assert_eq!(lab.server_leases().len(), 101, "run {run}");
        let naks = lab.server_log().matches("DHCPNAK").count();
        eprintln!("run {run}: 100 leases in {took:?}, {naks} NAK(s) from dnsmasq");
    }
}

#[test]
fn an_exhausted_pool_is_reported_once_with_the_macs_that_got_nothing() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    restart_fresh(&mut lab, "10.77.0.50,10.77.0.59,255.255.255.0,300");
    let t = Instant::now();
    let out = lab.dhcpnet(&["lease", "-i", IFACE, "--count", "15", "-o", "json"]);
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON of what was granted");
    assert_eq!(v.as_array().map(Vec::len), Some(10), "{v}");
    assert_eq!(lab.server_leases().len(), 10);
    let recorded = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    assert_eq!(recorded.as_array().map(Vec::len), Some(10));
    assert!(
        lab.server_log().contains("no address available"),
        "{}",
        lab.server_log()
    );
    // One message for the five, naming each, and no cabling advice.
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("exhausted")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    let granted: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["mac"].as_str())
        .collect();
    let named = lines[0].matches(':').count();
    assert!(named >= 5 * 5, "five MACs are named: {}", lines[0]);
    for m in granted {
        assert!(!lines[0].contains(m), "{m} was granted: {}", lines[0]);
    }
    assert!(!err.contains("cabling"), "{err}");
    assert!(err.contains("5 of 15"), "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn probe_with_default_options_lists_dnsmasq_and_a_slow_udhcpd() {
    let Some(mut lab) = Lab::new(&["dnsmasq", "busybox"]) else {
        return;
    };
    // dnsmasq answers at once; busybox udhcpd ARP-probes about 2 s first.
    let slow = lab.second_host("ud", Some("10.77.0.9"));
    let s = lab.srv.clone();
    lab.spawn_dnsmasq(&s, "br0", "10.77.0.50,10.77.0.99,255.255.255.0,300", &[]);
    lab.spawn_udhcpd(&slow.0, "10.77.0.100", "10.77.0.150", "10.77.0.9");
    let t = Instant::now();
    let out = lab.dhcpnet(&["-v", "probe", IFACE, "-o", "json"]);
    let took = t.elapsed();
    let v = ok(&out);
    let servers: std::collections::BTreeSet<&str> = v["offers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["server_id"].as_str())
        .collect();
    assert_eq!(
        servers,
        ["10.77.0.1", "10.77.0.9"].into_iter().collect(),
        "{v}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listened = v["listened_s"].as_f64().expect("listened_s");
    assert!((2.5..=4.0).contains(&listened), "listened {listened} s");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 DHCP servers answered") && err.contains("10.77.0.9"),
        "{err}"
    );
    let table = text(&lab.dhcpnet(&["probe", IFACE, "--collect", "0.2"]));
    assert!(table.contains("listened"), "{table}");
    for l in err.lines().filter(|l| l.contains("offer from")) {
        eprintln!("{l}");
    }
    eprintln!("probe with defaults: {took:?}, listened {listened} s");
}

fn dhcpnet_in(ns: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_dhcpnet")]);
    cmd.args(args);
    cmd
}

#[test]
fn watch_shows_another_clients_exchange_and_sends_nothing() {
    let Some(mut lab) = Lab::new(&["dnsmasq", "busybox"]) else {
        return;
    };
    // A third host on the segment, without an address or IPv6: whatever
    // its veth transmits, dhcpnet watch sent.
    let w = lab.second_host("w", None);
    let s = lab.srv.clone();
    lab.spawn_dnsmasq(&s, "br0", "10.77.0.50,10.77.0.99,255.255.255.0,300", &[]);
    // udhcpc asks for unicast replies; a learning bridge (a switch) then
    // sends them to its port only. A watcher sees them on a hub or a mirror
    // port: make the bridge flood like one.
    common::must(&[
        "ip",
        "-n",
        &s,
        "link",
        "set",
        "br0",
        "type",
        "bridge",
        "ageing_time",
        "0",
    ]);
    let tx_before = Lab::tx_packets(&w.0, IFACE);
    let watcher = dhcpnet_in(
        &w.0,
        &[
            "watch",
            IFACE,
            "--count",
            "4",
            "--timeout",
            "15",
            "-o",
            "json",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("start watch");
    std::thread::sleep(Duration::from_millis(500));
    let udhcpc = common::sh(&[
        "ip",
        "netns",
        "exec",
        &lab.cli,
        "busybox",
        "udhcpc",
        "-i",
        IFACE,
        "-f",
        "-q",
        "-n",
        "-t",
        "3",
        "-s",
        "/bin/true",
        "-x",
        "hostname:watched",
    ]);
    assert!(
        udhcpc.status.success(),
        "udhcpc: {}",
        String::from_utf8_lossy(&udhcpc.stderr)
    );
    let out = watcher.wait_with_output().expect("watch output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines: Vec<Value> = text(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    assert_eq!(kinds, ["DISCOVER", "OFFER", "REQUEST", "ACK"], "{lines:?}");
    let client = lines[0]["client_mac"].as_str().expect("client MAC");
    let xid = lines[0]["xid"].as_str().expect("xid");
    for l in &lines {
        assert_eq!(l["client_mac"], client, "{l}");
        assert_eq!(l["xid"], xid, "{l}");
        for f in [
            "time",
            "type",
            "xid",
            "client_mac",
            "requested_ip",
            "offered_ip",
            "server_id",
            "hostname",
            "lease_time",
        ] {
            assert!(l.get(f).is_some(), "{f} missing: {l}");
        }
    }
    assert_eq!(lines[0]["hostname"], "watched");
    assert_eq!(lines[1]["server_id"], "10.77.0.1");
    assert_eq!(lines[1]["lease_time"], 300);
    let offered = lines[1]["offered_ip"].as_str().expect("offered");
    assert_eq!(lines[2]["requested_ip"], offered);
    assert_eq!(lines[3]["offered_ip"], offered);
    let tx_after = Lab::tx_packets(&w.0, IFACE);
    assert_eq!(tx_before, tx_after, "the watcher's veth transmitted");

    // Table lines, and Ctrl-C ends it cleanly.
    let out = common::sh(&[
        "timeout",
        "--preserve-status",
        "-s",
        "INT",
        "1",
        "ip",
        "netns",
        "exec",
        &w.0,
        env!("CARGO_BIN_EXE_dhcpnet"),
        "watch",
        IFACE,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(Lab::tx_packets(&w.0, IFACE), tx_before);
}

#[test]
fn watch_flags_replies_from_a_second_server() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    let rogue = lab.second_host("r", Some("10.77.0.9"));
    let s = lab.srv.clone();
    lab.spawn_dnsmasq(&s, "br0", "10.77.0.50,10.77.0.99,255.255.255.0,300", &[]);
    lab.spawn_dnsmasq(
        &rogue.0,
        IFACE,
        "10.77.0.100,10.77.0.150,255.255.255.0,300",
        &[],
    );
    let w = lab.second_host("w", None);
    let watcher = dhcpnet_in(&w.0, &["watch", IFACE, "--timeout", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start watch");
    std::thread::sleep(Duration::from_millis(500));
    ok(&lab.dhcpnet(&["probe", IFACE, "--collect", "0.5", "-o", "json"]));
    let out = watcher.wait_with_output().expect("watch output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let table = text(&out);
    eprintln!("{table}");
    assert_eq!(table.matches("OFFER").count(), 2, "{table}");
    assert_eq!(table.matches("[another server]").count(), 1, "{table}");
    assert_eq!(
        err.matches("another DHCP server answers").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("10.77.0.1") && err.contains("10.77.0.9"),
        "{err}"
    );
}
