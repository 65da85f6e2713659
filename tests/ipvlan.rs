//! ipvlan identities on the host: many leases for one MAC, told apart by
//! client id (option 61), against a real dnsmasq in a namespace lab. The
//! ipvlan links themselves need a kernel with ipvlan (tests/ipvlan_uml.rs).

mod common;

use std::time::Duration;

use common::{IFACE, Lab, ok, sh, text};

/// The MAC of the client end of the lab: the "parent" every lease shares.
fn parent_mac(lab: &Lab) -> String {
    let o = sh(&[
        "ip",
        "netns",
        "exec",
        &lab.cli,
        "cat",
        &format!("/sys/class/net/{IFACE}/address"),
    ]);
    text(&o).trim().to_string()
}

/// dnsmasq's rows as (ip, client id, expiry) for `mac`.
fn server_rows(lab: &Lab, mac: &str) -> Vec<(String, String, i64)> {
    let raw = std::fs::read_to_string(&lab.lease_file).unwrap_or_default();
    let mut rows: Vec<(String, String, i64)> = raw
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5 && f[1] == mac).then(|| {
                (
                    f[2].to_string(),
                    f[4].to_string(),
                    f[0].parse().unwrap_or(0),
                )
            })
        })
        .collect();
    rows.sort();
    rows
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn leases_for_one_mac_and_several_client_ids_get_distinct_addresses_and_renew_and_release_alone() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let mac = parent_mac(&lab);
    assert_eq!(mac.len(), 17, "the lab's MAC: {mac:?}");
    let mut ips = Vec::new();
    for name in ["web", "db", "cache"] {
        let cid = format!("dhcpnet:net/{name}");
        let v = ok(&lab.dhcpnet(&[
            "lease",
            "--interface",
            IFACE,
            "--mac",
            &mac,
            "--client-id",
            &cid,
            "-o",
            "json",
        ]));
        assert_eq!(v["mac"], mac.as_str(), "{v}");
        let hex: Vec<String> = std::iter::once(0u8)
            .chain(cid.bytes())
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(v["client_id"], hex.join(":"), "{v}");
        ips.push(v["ip"].as_str().expect("an address").to_string());
    }
    let mut distinct = ips.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "one address per client id: {ips:?}");
    let list = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(3),
        "three records: {list}"
    );
    let rows = server_rows(&lab, &mac);
    assert_eq!(
        rows.len(),
        3,
        "dnsmasq holds three leases for {mac}: {rows:?}"
    );

    // Renew one: only its expiry moves at the server.
    let before = server_rows(&lab, &mac);
    std::thread::sleep(Duration::from_millis(2100));
    let r = ok(&lab.dhcpnet(&["renew", "--ip", &ips[1], "-o", "json"]));
    assert_eq!(r.as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r[0]["result"], "renewed", "{r}");
    let after = server_rows(&lab, &mac);
    for (b, a) in before.iter().zip(&after) {
        if a.0 == ips[1] {
            assert!(a.2 >= b.2 + 2, "renewed at the server: {b:?} -> {a:?}");
        } else {
            assert_eq!(a, b, "the others are untouched");
        }
    }

    // Release one: the other two stay, here and at the server.
    let rel = ok(&lab.dhcpnet(&["release", "--ip", &ips[0], "-o", "json"]));
    assert_eq!(rel.as_array().map(Vec::len), Some(1), "{rel}");
    wait_until("dnsmasq to drop the released lease", || {
        server_rows(&lab, &mac).len() == 2
    });
    let left: Vec<String> = server_rows(&lab, &mac).into_iter().map(|r| r.0).collect();
    assert!(!left.contains(&ips[0]), "{left:?}");
    let list = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    let mut recorded: Vec<String> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|l| l["ip"].as_str().unwrap_or_default().to_string())
        .collect();
    recorded.sort();
    let mut want = vec![ips[1].clone(), ips[2].clone()];
    want.sort();
    assert_eq!(recorded, want);
}

#[test]
fn create_with_the_ipvlan_driver_dry_run_prints_an_ipvlan_l2_network_on_the_parent_and_changes_nothing()
 {
    // No engine needed: a dry run never reaches Docker.
    let Some(mut lab) = Lab::with_root_parent(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let parent = lab.parent().to_string();
    let env = vec![(
        "DHCPNET_DOCKER".to_string(),
        "/nonexistent/docker".to_string(),
    )];
    let o = lab.dhcpnet_root(
        &[
            "create",
            "ipv",
            "--parent",
            &parent,
            "--driver",
            "ipvlan",
            "--dry-run",
            "-o",
            "json",
        ],
        &env,
    );
    let v = ok(&o);
    let want: Vec<String> = [
        "network",
        "create",
        "--driver",
        "ipvlan",
        "--subnet",
        "10.77.0.0/24",
        "--gateway",
        "10.77.0.1",
        "--ip-range",
        "10.77.0.1/32",
        "--opt",
        &format!("parent={parent}"),
        "--opt",
        "ipvlan_mode=l2",
        "--label",
        "io.dhcpnet.managed=true",
        "--label",
        &format!("io.dhcpnet.dhcp-interface={parent}"),
        "--label",
        &format!("io.dhcpnet.parent={parent}"),
        "ipv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(v["argv"], serde_json::json!(want), "{v}");
    assert_eq!(v["dry_run"], true);
    assert!(
        !lab.state_dir().join("networks.d").exists(),
        "no record was written"
    );
    // The same rules as macvlan: a VLAN parent needs --subnet.
    let o = lab.dhcpnet_root(
        &["create", "v", "--parent", "eth0.10", "--driver", "ipvlan"],
        &env,
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_server_that_ignores_client_ids_is_reported_and_the_lease_it_shares_is_kept() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&["--dhcp-ignore-clid"]);
    let mac = parent_mac(&lab);
    let lease = |cid: &str| {
        lab.dhcpnet(&[
            "lease",
            "--interface",
            IFACE,
            "--mac",
            &mac,
            "--client-id",
            cid,
            "-o",
            "json",
        ])
    };
    let first = ok(&lease("dhcpnet:net/web"));
    let ip = first["ip"].as_str().expect("an address").to_string();
    let second = lease("dhcpnet:net/db");
    let err = String::from_utf8_lossy(&second.stderr).to_string();
    assert_eq!(second.status.code(), Some(5), "{err}");
    assert!(
        err.contains("ignores the client identifier") && err.contains(&ip),
        "{err}"
    );
    // Nothing recorded for db, nothing released: web's lease stands, here
    // and at the server.
    let list = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["ip"], ip.as_str());
    std::thread::sleep(Duration::from_millis(300));
    assert!(!lab.released(&ip, &mac), "{}", lab.server_log());
    assert_eq!(server_rows(&lab, &mac).len(), 1);
}

/// A docker CLI stand-in (the host kernel has no ipvlan, so no engine here
/// can make an ipvlan network): logs its arguments to `docker.log` in
/// `dir`, answers `network create`, `run` (writes the cidfile and an inspect
/// document whose endpoint MAC is `mac`, the shared parent's, as Docker
/// reports for ipvlan), `container inspect`, `rm -f` and `ps`.
fn fake_docker(dir: &std::path::Path, mac: &str) -> std::path::PathBuf {
    let script = format!(
        r#"#!/bin/sh
D={dir}
echo "$*" >> $D/docker.log
case "$1" in
  network)
    [ "$2" = create ] && {{ for last; do :; done; echo "fakeid-$last"; exit 0; }}
    echo "Error: No such network" >&2; exit 1;;
  container)
    [ -f "$D/c-$4" ] && {{ cat "$D/c-$4"; exit 0; }}
    echo "Error: No such container: $4" >&2; exit 1;;
  run)
    shift; cid=""; net=""; ip=""; name=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --cidfile) cid=$2; shift;; --network) net=$2; shift;; --ip) ip=$2; shift;;
        --name) name=$2; shift;; --hostname|--dns|--dns-search|--mac-address) shift;;
      esac; shift
    done
    id=$(printf %s "$name" | sha256sum | cut -c1-64)
    doc="[{{\"Id\":\"$id\",\"Name\":\"/$name\",\"State\":{{\"Running\":true}},\"NetworkSettings\":{{\"Networks\":{{\"$net\":{{\"MacAddress\":\"{mac}\",\"IPAddress\":\"$ip\"}}}}}}}}]"
    echo "$doc" > "$D/c-$id"; echo "$doc" > "$D/c-$name"
    printf %s "$id" > "$cid"; echo "$id"; exit 0;;
  rm)
    for last; do :; done
    n=$(sed -n 's/.*"Name":"\/\([^"]*\)".*/\1/p' "$D/c-$last" 2>/dev/null)
    rm -f "$D/c-$last" "$D/c-$n"; echo "$last"; exit 0;;
  ps) exit 0;;
esac
echo "fake docker: unexpected: $*" >&2
exit 1
"#,
        dir = dir.display()
    );
    let p = dir.join("fakedocker");
    std::fs::write(&p, script).expect("fake docker");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    p
}

#[test]
fn run_on_an_ipvlan_network_leases_by_container_name_without_a_mac_and_rm_releases_that_container_alone()
 {
    let Some(mut lab) = Lab::with_root_parent(&["dnsmasq", "sha256sum"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let parent = lab.parent().to_string();
    let mac = std::fs::read_to_string(format!("/sys/class/net/{parent}/address"))
        .expect("the parent's MAC")
        .trim()
        .to_string();
    let fake = tempfile::tempdir().expect("tempdir");
    let docker = fake_docker(fake.path(), &mac);
    let env = vec![(
        "DHCPNET_DOCKER".to_string(),
        docker.to_string_lossy().to_string(),
    )];
    let run = |args: &[&str]| lab.dhcpnet_root(args, &env);
    ok(&run(&[
        "create",
        "lan",
        "--parent",
        &parent,
        "--driver",
        "ipvlan",
        "--subnet",
        "10.77.0.0/24",
        "-o",
        "json",
    ]));
    let started = |name: &str| {
        ok(&run(&[
            "run", "lan", "-o", "json", "--", "-d", "--name", name, "img",
        ]))
    };
    let web = started("web");
    let db = started("db");
    let client_id = |name: &str| {
        common::text_client_id(&format!("dhcpnet:{}:lan/{name}", mac.replace(':', "")))
    };
    for (v, name) in [(&web, "web"), (&db, "db")] {
        assert_eq!(v["lease"]["mac"], mac.as_str(), "{v}");
        assert_eq!(v["lease"]["client_id"], client_id(name), "{v}");
        assert_eq!(v["lease"]["hostname"], name, "{v}");
    }
    let web_ip = web["lease"]["ip"]
        .as_str()
        .expect("web's address")
        .to_string();
    let db_ip = db["lease"]["ip"]
        .as_str()
        .expect("db's address")
        .to_string();
    assert_ne!(web_ip, db_ip);
    let log = std::fs::read_to_string(fake.path().join("docker.log")).unwrap_or_default();
    let runs: Vec<&str> = log.lines().filter(|l| l.starts_with("run ")).collect();
    assert_eq!(runs.len(), 2, "{log}");
    assert!(
        runs.iter().all(|l| !l.contains("--mac-address")),
        "no MAC for ipvlan: {log}"
    );
    assert!(
        log.contains("--driver ipvlan") && log.contains("ipvlan_mode=l2"),
        "{log}"
    );
    assert_eq!(server_rows(&lab, &mac).len(), 2);
    // --mac makes no sense where every container has the parent's MAC.
    let o = run(&["run", "lan", "--mac", "02:00:00:00:00:09", "--", "img"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // rm web: its lease goes, db's stays (the MAC they share says nothing).
    ok(&run(&["rm", "web", "-o", "json"]));
    wait_until("dnsmasq to drop web's lease", || {
        server_rows(&lab, &mac).len() == 1
    });
    assert_eq!(server_rows(&lab, &mac)[0].0, db_ip);
    let list = ok(&run(&["leases", "-o", "json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["ip"], db_ip.as_str());

    // Re-created under its name: the same identity, the same address.
    let again = started("web");
    assert_eq!(again["lease"]["ip"], web_ip.as_str(), "{again}");
    assert_eq!(again["lease"]["client_id"], client_id("web"));

    // `lease NET` on an ipvlan network: the parent's MAC, a client id each.
    let many = ok(&run(&["lease", "lan", "--count", "2", "-o", "json"]));
    let many = many.as_array().expect("two leases").clone();
    assert_eq!(many.len(), 2);
    assert!(many.iter().all(|l| l["mac"] == mac.as_str()), "{many:?}");
    assert_ne!(many[0]["client_id"], many[1]["client_id"]);
    assert_ne!(many[0]["ip"], many[1]["ip"]);
    let o = run(&["lease", "lan", "--mac", "02:00:00:00:00:09"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn kea_gives_client_ids_on_one_mac_their_own_addresses_and_releases_one_alone() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4"]) else {
        return;
    };
    lab.start_kea(600);
    let mac = parent_mac(&lab);
    let mut ips = Vec::new();
    for name in ["web", "db"] {
        let v = ok(&lab.dhcpnet(&[
            "lease",
            "--interface",
            IFACE,
            "--mac",
            &mac,
            "--client-id",
            &format!("dhcpnet:net/{name}"),
            "-o",
            "json",
        ]));
        ips.push(v["ip"].as_str().expect("an address").to_string());
    }
    assert_ne!(ips[0], ips[1], "kea keys on the client id: {ips:?}");
    let r = ok(&lab.dhcpnet(&["renew", "--ip", &ips[0], "-o", "json"]));
    assert_eq!(r[0]["result"], "renewed", "{r}");
    ok(&lab.dhcpnet(&["release", "--ip", &ips[1], "-o", "json"]));
    let list = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["ip"], ips[0].as_str());
    // Kea's view (valid leases only): the released address is gone, the
    // other stays.
    wait_until("kea to record the release", || {
        let rows = lab.kea_leases();
        !rows.iter().any(|r| r.0 == ips[1]) && rows.iter().any(|r| r.0 == ips[0])
    });
}
