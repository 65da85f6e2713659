//! `dhcpnet doctor` against real servers in namespace labs.

mod common;

use std::time::{Duration, Instant};

use common::{IFACE, Lab, text};
use serde_json::Value;

fn doctor(lab: &Lab, extra: &[&str]) -> (Option<i32>, Value, String) {
    let sock = lab.dir.path().join("no-plugin.sock");
    let mut args = vec![
        "doctor",
        IFACE,
        "--plugin-socket",
        sock.to_str().unwrap(),
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let t = Instant::now();
    let out = lab.dhcpnet(&args);
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(took < Duration::from_secs(8), "doctor took {took:?}");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{err}", text(&out)));
    (out.status.code(), v, err)
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check: {v}"))
}

fn failing(v: &Value) -> Vec<String> {
    v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| format!("{}: {}", c["name"], c["detail"]))
        .collect()
}

#[test]
fn doctor_on_a_healthy_lab_fails_nothing_and_takes_no_lease() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let (code, v, err) = doctor(&lab, &[]);
    assert_eq!(code, Some(0), "{v}\n{err}");
    assert!(failing(&v).is_empty(), "{:?}", failing(&v));
    for c in v["checks"].as_array().unwrap() {
        for f in ["name", "status", "detail", "fix"] {
            assert!(c.get(f).is_some(), "{f} missing in {c}");
        }
    }
    let dhcp = check(&v, "dhcp");
    assert_eq!(dhcp["status"], "ok", "{dhcp}");
    let detail = dhcp["detail"].as_str().unwrap();
    assert!(
        detail.contains("10.77.0.1") && detail.contains("10.77.0.0/24") && detail.contains("300 s"),
        "{detail}"
    );
    assert_eq!(check(&v, "privileges")["status"], "ok");
    assert_eq!(check(&v, "interface")["status"], "ok");
    std::thread::sleep(Duration::from_millis(200));
    assert!(lab.server_leases().is_empty(), "{:?}", lab.server_leases());
    assert!(
        !lab.server_log().contains("DHCPREQUEST"),
        "doctor sent a REQUEST"
    );
    assert!(
        !lab.state_dir().exists(),
        "doctor created the state directory"
    );
    // The table has one row per check.
    let out = lab.dhcpnet(&["doctor", IFACE, "--plugin-socket", "/nonexistent/x.sock"]);
    assert!(
        text(&out).contains("privileges") && text(&out).contains("dhcp"),
        "{}",
        text(&out)
    );
}

#[test]
fn doctor_without_a_server_fails_the_dhcp_check_with_exit_13() {
    let Some(lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    let (code, v, err) = doctor(&lab, &["--timeout", "2"]);
    assert_eq!(code, Some(13), "{v}\n{err}");
    let dhcp = check(&v, "dhcp");
    assert_eq!(dhcp["status"], "fail", "{dhcp}");
    assert!(
        dhcp["fix"].as_str().unwrap().contains("DHCP server"),
        "{dhcp}"
    );
    assert!(err.contains("dhcp"), "{err}");
}

#[test]
fn doctor_names_both_servers_when_two_answer() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    let rogue = lab.second_host("r", Some("10.77.0.9"));
    let s = lab.srv.clone();
    lab.spawn_dnsmasq(&s, "br0", "10.77.0.50,10.77.0.99,255.255.255.0,300", &[]);
    lab.spawn_dnsmasq(
        &rogue.0,
        IFACE,
        "10.77.0.100,10.77.0.150,255.255.255.0,600",
        &[],
    );
    let (code, v, err) = doctor(&lab, &[]);
    assert_eq!(code, Some(0), "{v}\n{err}");
    let dhcp = check(&v, "dhcp");
    assert_eq!(dhcp["status"], "warn", "{dhcp}");
    let d = dhcp["detail"].as_str().unwrap();
    assert!(
        d.contains("2 servers") && d.contains("10.77.0.1 (") && d.contains("10.77.0.9 ("),
        "{d}"
    );
}

#[test]
fn doctor_reports_an_expired_lease_record() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let mac = "02:42:0a:4d:00:44";
    common::ok(&lab.dhcpnet(&["lease", "-i", IFACE, "--mac", mac, "-o", "json"]));
    // Age the record by a day: obtained and expired long ago.
    let mut doc: Value = common::table(&lab.state_dir(), "leases.d", "leases");
    for l in doc["leases"].as_array_mut().expect("leases") {
        for f in ["obtained_at", "expires_at"] {
            let t = chrono_back(l[f].as_str().unwrap());
            l[f] = Value::String(t);
        }
    }
    common::write_table(&lab.state_dir(), "leases.d", "leases", &doc);
    let (code, v, err) = doctor(&lab, &[]);
    let leases = check(&v, "leases");
    assert_eq!(leases["status"], "warn", "{leases}");
    assert!(leases["detail"].as_str().unwrap().contains(mac), "{leases}");
    assert!(
        leases["detail"].as_str().unwrap().contains("expired"),
        "{leases}"
    );
    // A lease is recorded and no daemon runs: nothing renews it.
    assert_eq!(check(&v, "daemon")["status"], "fail", "{v}");
    assert_eq!(code, Some(13), "{err}");
    assert_eq!(check(&v, "state directory")["status"], "ok", "{v}");
}

/// An RFC 3339 time one day earlier (the lab has no chrono: plain date math
/// on the day field would be wrong at month ends, so go through epoch).
fn chrono_back(t: &str) -> String {
    let out = common::sh(&[
        "date",
        "-u",
        "-d",
        &format!("{t} - 1 day"),
        "+%Y-%m-%dT%H:%M:%SZ",
    ]);
    text(&out).trim().to_string()
}
