//! The DHCP client against a second real server: ISC Kea.

mod common;

use common::{IFACE, Lab, ok};

#[test]
fn lease_renew_release_against_kea() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4"]) else {
        return;
    };
    lab.start_kea(300);
    let mac = "02:42:0a:4d:00:21";
    let v = ok(&lab.dhcpnet(&[
        "lease",
        "-i",
        IFACE,
        "--mac",
        mac,
        "--hostname",
        "kea-1",
        "-o",
        "json",
    ]));
    assert_eq!(v["gateway"], "10.77.0.1");
    assert_eq!(v["dns"], serde_json::json!(["10.77.0.2"]));
    assert_eq!(v["lease_time"], 300);
    let ip = v["ip"].as_str().unwrap().to_string();
    let rows = lab.kea_leases();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str(), rows[0].4.as_str()),
        (ip.as_str(), mac, "kea-1")
    );
    let first_expiry = rows[0].3;

    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = ok(&lab.dhcpnet(&["renew", "--mac", mac, "-o", "json"]));
    assert_eq!(r[0]["result"], "renewed", "{r}");
    let rows = lab.kea_leases();
    assert!(
        rows[0].3 > first_expiry,
        "kea's expiry did not move: {first_expiry} -> {}",
        rows[0].3
    );

    ok(&lab.dhcpnet(&["release", "-i", IFACE, "--ip", &ip, "-o", "json"]));
    let t = std::time::Instant::now();
    while !lab.kea_leases().is_empty() && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        lab.kea_leases().is_empty(),
        "kea still holds the lease: {:?}",
        lab.kea_leases()
    );
    assert_eq!(
        ok(&lab.dhcpnet(&["leases", "-o", "json"])),
        serde_json::json!([])
    );
}
