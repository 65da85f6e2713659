//! Issue 17, items 1, 2 and 6, against real servers in namespace labs: one
//! forged ACK or one damaged file never makes the records unreadable;
//! `release` never frees a request still on its way; records whose names
//! an older dhcpnet cut with FNV-1a keep working.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{IFACE, Lab, ok, text, wait_for};
use serde_json::Value;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// `dhcpnet leases -o json`: the exit code, the list, stderr.
fn leases(lab: &Lab) -> (Option<i32>, Vec<Value>, String) {
    let out = lab.dhcpnet(&["leases", "-o", "json"]);
    let list = serde_json::from_slice::<Value>(&out.stdout)
        .unwrap_or_else(|e| panic!("leases: not JSON ({e}): {}\n{}", text(&out), stderr(&out)))
        .as_array()
        .cloned()
        .unwrap_or_default();
    (out.status.code(), list, stderr(&out))
}

// ------------------------------------------------- one forged ACK (item 1)

/// A lab whose server namespace runs tests/hostile_server.py in `case`.
fn hostile(case: &str, arg: &str) -> Option<(Lab, PathBuf)> {
    let mut lab = Lab::new(&["python3"])?;
    let log = lab.dir.path().join("hostile.log");
    let err = std::fs::File::create(lab.dir.path().join("hostile.stderr")).expect("stderr");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile_server.py");
    let child = Command::new("ip")
        .args(["netns", "exec", &lab.srv, "python3", script])
        .args(["--iface", IFACE, "--case", case, "--arg", arg])
        .args(["--seconds", "120", "--log"])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start tests/hostile_server.py");
    lab.servers.push(child);
    let started = wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("listening")
            .then_some(())
    });
    assert!(started.is_some(), "the hostile responder did not start");
    common::wait_udp67_in(&lab.srv);
    Some((lab, log))
}

/// The responder answers every DISCOVER and REQUEST with 256 entries of
/// list option `code` in RFC 3396 pieces. `lease` must succeed with the
/// list cut to its cap and one warning saying so (`warned`), the record
/// must pass `check` (`leases` exits 0 and lists it), and `kept` says
/// what the record holds. Today's code exits 7 here (the record it writes
/// cannot be read back) for every option the record stores.
fn a_long_list_is_capped(code: &str, warned: &str, kept: impl Fn(&Value)) {
    let Some((lab, log)) = hostile("long-list", code) else {
        return;
    };
    let mac = "02:42:0a:4d:17:01";
    let out = lab.dhcpnet(&[
        "lease",
        "-i",
        IFACE,
        "--mac",
        mac,
        "--timeout",
        "5",
        "-o",
        "json",
    ]);
    let err = stderr(&out);
    let sent = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        sent.contains("sent ACK"),
        "the responder sent no ACK:\n{sent}"
    );
    assert!(
        out.status.success(),
        "lease failed ({:?}): {err}",
        out.status.code()
    );
    assert!(
        err.contains("more than dhcpnet keeps") && err.contains(warned),
        "no warning naming {warned:?}: {err}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("lease JSON");
    kept(&v);
    let (code, list, err) = leases(&lab);
    assert_eq!(code, Some(0), "leases: {err}");
    assert_eq!(list.len(), 1, "{list:?}");
    kept(&list[0]);
    // And it renews: the record the renewal makes is as loadable.
    let r = lab.dhcpnet(&["renew", "--mac", mac, "--timeout", "5", "-o", "json"]);
    assert!(r.status.success(), "renew: {}", stderr(&r));
    let (code, list, err) = leases(&lab);
    assert_eq!(
        (code, list.len()),
        (Some(0), 1),
        "leases after renew: {err}"
    );
}

#[test]
fn an_ack_with_256_dns_servers_in_rfc_3396_pieces_is_leased_with_8_and_a_warning() {
    a_long_list_is_capped("6", "248 of 256 DNS servers (option 6)", |l| {
        let dns = l["dns"].as_array().expect("dns");
        assert_eq!(dns.len(), 8, "{l}");
        assert_eq!(dns[0], "10.78.0.1", "{l}");
    });
}

#[test]
fn an_ack_with_256_ntp_servers_in_rfc_3396_pieces_is_leased_and_the_list_capped_with_a_warning() {
    a_long_list_is_capped("42", "248 of 256 NTP servers (option 42)", |l| {
        assert_eq!(l["ip"], "10.77.0.60", "{l}");
    });
}

#[test]
fn an_ack_with_256_names_in_option_15_is_leased_with_32_search_domains_and_a_warning() {
    a_long_list_is_capped("15", "224 of 256 names in option 15", |l| {
        assert_eq!(l["domain"], "aa", "{l}");
        assert_eq!(l["search"].as_array().map(Vec::len), Some(32), "{l}");
    });
}

#[test]
fn an_ack_with_256_search_names_in_option_119_is_leased_with_32_and_a_warning() {
    a_long_list_is_capped("119", "of 256 search domains (option 119)", |l| {
        let s = l["search"].as_array().expect("search");
        assert_eq!(s.len(), 32, "{l}");
        assert!(s.contains(&Value::from("aa")), "{l}");
    });
}

#[test]
fn an_ack_with_256_classless_routes_in_pieces_and_overloaded_fields_is_leased_with_64() {
    a_long_list_is_capped("121", "192 of 256 classless routes (option 121)", |l| {
        assert_eq!(l["routes"].as_array().map(Vec::len), Some(64), "{l}");
        assert_eq!(l["gateway"], "10.77.0.2", "{l}");
    });
}

// ---------------------------------- one damaged file under the daemon (item 1)

/// A `dhcpnet daemon` (no plugin, no engine) in the lab's client
/// namespace; killed when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(lab: &Lab) -> Daemon {
        let log = lab.dir.path().join("daemon.log");
        let f = std::fs::File::create(&log).expect("daemon log");
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.cli, env!("CARGO_BIN_EXE_dhcpnet")])
            .arg("--state-dir")
            .arg(lab.state_dir())
            .args(["-vv", "daemon", "--no-plugin", "--no-docker"])
            .env(
                "DOCKER_HOST",
                format!("unix://{}", lab.dir.path().join("no-engine.sock").display()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(f))
            .spawn()
            .expect("start dhcpnet daemon");
        Daemon { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// kea with 20 s leases (T1 10 s) on the lab.
fn kea(lab: &mut Lab) {
    let dir = lab.dir.path().to_path_buf();
    let conf = serde_json::json!({"Dhcp4": {
        "interfaces-config": {"interfaces": [IFACE], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": true, "lfc-interval": 0,
                           "name": lab.kea_lease_file()},
        "valid-lifetime": 20,
        "calculate-tee-times": true,
        "subnet4": [{"id": 1, "subnet": "10.77.0.0/24", "pools": [{"pool": "10.77.0.50 - 10.77.0.150"}],
                     "option-data": [{"name": "routers", "data": "10.77.0.1"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                     "output_options": [{"output": dir.join("kea.log")}]}]
    }});
    lab.spawn_kea(&conf, "kea");
}

/// The latest expiry (epoch seconds) kea's memfile holds for `mac`.
fn kea_expiry(lab: &Lab, mac: &str) -> Option<u64> {
    lab.kea_leases()
        .into_iter()
        .filter(|r| r.1 == mac)
        .map(|r| r.3)
        .max()
}

fn record_file(lab: &Lab, mac: &str) -> PathBuf {
    lab.state_dir()
        .join("leases.d")
        .join(format!("{IFACE}@{}.json", mac.replace(':', "-")))
}

#[test]
fn a_truncated_record_under_a_running_daemon_is_set_aside_and_the_other_leases_keep_renewing() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4"]) else {
        return;
    };
    kea(&mut lab);
    let macs: Vec<String> = (1..=4).map(|i| format!("02:42:0a:4d:17:1{i}")).collect();
    for m in &macs {
        ok(&lab.dhcpnet(&["lease", "-i", IFACE, "--mac", m, "-o", "json"]));
    }
    let d = Daemon::start(&lab);
    let started = wait_for(Duration::from_secs(10), || {
        d.log().contains("holding 4 lease(s)").then_some(())
    });
    assert!(started.is_some(), "daemon log:\n{}", d.log());
    // A disk (or a hand) damages one record: half of it is left.
    let bad = record_file(&lab, &macs[0]);
    let bytes = std::fs::read(&bad).expect("the record file");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).expect("truncate");
    let before: Vec<u64> = macs[1..]
        .iter()
        .map(|m| kea_expiry(&lab, m).expect("kea holds it"))
        .collect();
    // The others are renewed at T1 (10 s) as before.
    let renewed = wait_for(Duration::from_secs(30), || {
        macs[1..]
            .iter()
            .zip(&before)
            .all(|(m, b)| kea_expiry(&lab, m).is_some_and(|e| e > *b))
            .then_some(())
    });
    assert!(
        renewed.is_some(),
        "the other leases were not renewed; daemon log:\n{}",
        d.log()
    );
    // Set aside whole, said once, and the lease's loss said when it runs out.
    assert!(!bad.exists(), "still in leases.d");
    let aside = lab
        .state_dir()
        .join("quarantine/leases.d")
        .join(bad.file_name().unwrap());
    assert_eq!(
        std::fs::read(&aside).expect("set aside"),
        &bytes[..bytes.len() / 2]
    );
    let lost = wait_for(Duration::from_secs(30), || {
        d.log()
            .lines()
            .any(|l| l.contains("LEASE LOST") && l.contains(&macs[0]))
            .then_some(())
    });
    let log = d.log();
    assert!(lost.is_some(), "no LEASE LOST for {}:\n{log}", macs[0]);
    assert_eq!(
        log.matches("was moved to").count(),
        1,
        "set aside once, said once:\n{log}"
    );
    assert!(log.contains(aside.to_str().unwrap()), "{log}");
    // `leases` lists the others, names the file and what to do, exits 7.
    let (code, list, err) = leases(&lab);
    assert_eq!(code, Some(7), "{err}");
    let listed: Vec<&str> = list.iter().filter_map(|l| l["mac"].as_str()).collect();
    assert_eq!(listed.len(), 3, "{list:?}");
    assert!(!listed.contains(&macs[0].as_str()), "{list:?}");
    assert!(
        err.contains(aside.to_str().unwrap()) && err.contains("move it back"),
        "{err}"
    );
    // doctor names the file, with the fix, as a warning.
    let sock = lab.dir.path().join("no-plugin.sock");
    let out = lab.dhcpnet(&[
        "doctor",
        IFACE,
        "--plugin-socket",
        sock.to_str().unwrap(),
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    let row = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "set aside")
        .unwrap_or_else(|| panic!("no set-aside row: {v}"))
        .clone();
    assert_eq!(row["status"], "warn", "{row}");
    assert!(
        row["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(aside.to_str().unwrap()),
        "{row}"
    );
    assert!(!row["fix"].as_str().unwrap_or_default().is_empty(), "{row}");
    drop(d);
    // renew --all and release --all act on the others.
    let r = lab.dhcpnet(&["renew", "--all", "-o", "json"]);
    assert!(r.status.success(), "renew: {}", stderr(&r));
    let r: Value = serde_json::from_slice(&r.stdout).expect("renew JSON");
    assert_eq!(r.as_array().map(Vec::len), Some(3), "{r}");
    let rel = lab.dhcpnet(&["release", "-i", IFACE, "--all", "-o", "json"]);
    assert!(rel.status.success(), "release: {}", stderr(&rel));
    assert!(stderr(&rel).contains("is not released"), "{}", stderr(&rel));
    let (code, list, _) = leases(&lab);
    assert_eq!((code, list.len()), (Some(7), 0));
    let gone = wait_for(Duration::from_secs(10), || {
        macs[1..]
            .iter()
            .all(|m| lab.kea_leases().iter().all(|r| &r.1 != m))
            .then_some(())
    });
    assert!(gone.is_some(), "kea still holds: {:?}", lab.kea_leases());
    // Nothing was sent for the damaged file: its lease ran out at kea by
    // itself (no RELEASE from a file dhcpnet cannot trust).
    let kea_log = std::fs::read_to_string(lab.dir.path().join("kea.log")).unwrap_or_default();
    assert!(
        !kea_log
            .lines()
            .any(|l| l.contains("DHCP4_RELEASE") && l.contains(&macs[0])),
        "released from a damaged file"
    );
}

#[test]
fn a_record_failing_its_checks_is_set_aside_not_released_and_an_over_long_list_is_repaired() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let (a, b) = ("02:42:0a:4d:17:21", "02:42:0a:4d:17:22");
    for m in [a, b] {
        ok(&lab.dhcpnet(&["lease", "-i", IFACE, "--mac", m, "-o", "json"]));
    }
    // a: what a forged ACK made today's dhcpnet write (300 DNS servers):
    // repaired on load, kept, renewed. b: a date no dhcpnet writes, with
    // its identity intact: set aside, and not released.
    let edit = |mac: &str, f: &dyn Fn(&mut Value)| {
        let p = record_file(&lab, mac);
        let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut v["record"]);
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    };
    edit(a, &|r| r["dns"] = serde_json::json!(vec!["10.77.0.2"; 300]));
    edit(b, &|r| r["obtained_at"] = "1900-01-01T00:00:00Z".into());
    let (code, list, err) = leases(&lab);
    assert_eq!(code, Some(7), "{err}");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["mac"], a);
    assert_eq!(list[0]["dns"].as_array().map(Vec::len), Some(8), "{list:?}");
    assert!(
        err.contains("repaired") && err.contains("300 DNS servers"),
        "{err}"
    );
    let (_, _, again) = leases(&lab);
    assert!(!again.contains("repaired"), "said once: {again}");
    let r = ok(&lab.dhcpnet(&["renew", "--mac", a, "-o", "json"]));
    assert_eq!(r[0]["result"], "renewed", "{r}");
    // b's lease is still the server's: nothing released it.
    let held = lab.server_leases();
    assert!(held.iter().any(|l| l.0 == b), "{held:?}");
    assert!(
        !lab.server_log()
            .lines()
            .any(|l| l.contains("DHCPRELEASE") && l.contains(b)),
        "{}",
        lab.server_log()
    );
    let aside = lab
        .state_dir()
        .join("quarantine/leases.d")
        .join(record_file(&lab, b).file_name().unwrap());
    assert!(aside.exists());
    // Moved back after a repair, it is a record again.
    edit_file(&aside, &|r| r["obtained_at"] = r["expires_at"].clone());
    std::fs::rename(&aside, record_file(&lab, b)).unwrap();
    let (code, list, err) = leases(&lab);
    assert_eq!((code, list.len()), (Some(0), 2), "{err}");
}

fn edit_file(p: &Path, f: &dyn Fn(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    let r = &mut v["record"];
    f(r);
    // A lease time of 0 fits obtained == expires.
    r["lease_time"] = 0.into();
    std::fs::write(p, serde_json::to_vec(&v).unwrap()).unwrap();
}

// ---------------------------------------- release and requests (item 2)

#[test]
fn release_all_racing_a_batch_of_leases_never_frees_an_address_that_is_then_recorded() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let state = lab.state_dir();
    for (round, delay_ms) in [0u64, 30, 60, 100, 150, 250].into_iter().enumerate() {
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.cli, env!("CARGO_BIN_EXE_dhcpnet")])
            .arg("--state-dir")
            .arg(&state)
            .args(["lease", "-i", IFACE, "--count", "20", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lease --count");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let t = Instant::now();
        let mut releases = Vec::new();
        // Release again and again while the batch runs.
        while t.elapsed() < Duration::from_secs(3) {
            releases.push(lab.dhcpnet(&["release", "-i", IFACE, "--all", "-o", "json"]));
            if releases.len() >= 4 {
                break;
            }
        }
        let batch = child.wait_with_output().expect("lease --count");
        for r in &releases {
            let code = r.status.code();
            assert!(matches!(code, Some(0) | Some(11)), "release: {}", stderr(r));
        }
        // What dhcpnet records, the server holds, and the other way round.
        let (_, list, err) = leases(&lab);
        let recorded: std::collections::BTreeSet<String> = list
            .iter()
            .filter(|l| l["status"] == "bound")
            .filter_map(|l| l["ip"].as_str().map(str::to_string))
            .collect();
        assert!(
            list.iter().all(|l| l["status"] == "bound"),
            "round {round}: {list:?}\n{err}"
        );
        let agree = wait_for(Duration::from_secs(10), || {
            let held: std::collections::BTreeSet<String> =
                lab.server_leases().into_iter().map(|l| l.1).collect();
            (held == recorded).then_some(())
        });
        assert!(
            agree.is_some(),
            "round {round} ({delay_ms} ms): recorded {recorded:?}, the server holds {:?}\nlease: {}",
            lab.server_leases(),
            stderr(&batch)
        );
        // Clear for the next round (nothing racing now).
        ok(&lab.dhcpnet(&["release", "-i", IFACE, "--all", "-o", "json"]));
        lab.server_comes_to("all released", |l| l.is_empty());
    }
}

// ------------------------------------ names an older dhcpnet cut (item 6)

#[test]
fn a_record_in_a_file_named_by_an_fnv_cut_loads_renews_with_its_client_id_and_is_renamed() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let mac = "02:42:0a:4d:17:31";
    // A client id long enough that its record's file name is cut.
    let cid = format!("dhcpnet-test-{}", "x".repeat(100));
    let v = ok(&lab.dhcpnet(&[
        "lease",
        "-i",
        IFACE,
        "--mac",
        mac,
        "--client-id",
        &cid,
        "-o",
        "json",
    ]));
    let ip = v["ip"].as_str().expect("ip").to_string();
    let granted_id = v["client_id"].as_str().expect("client id").to_string();
    let dir = lab.state_dir().join("leases.d");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let now_name = files[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(now_name.contains('~'), "cut: {now_name}");
    // The name today's code gave it: the stem's first 183 bytes, `~` and
    // FNV-1a 64 of the whole stem (written out here independently).
    let stem = format!(
        "{IFACE}@{}@{}",
        mac.replace(':', "-"),
        granted_id.replace(':', "")
    );
    let h = stem.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let old_name = format!("{}~{h:016x}.json", &stem[..200 - 17]);
    assert_ne!(old_name, now_name);
    std::fs::rename(&files[0], dir.join(&old_name)).unwrap();
    let (code, list, err) = leases(&lab);
    assert_eq!((code, list.len()), (Some(0), 1), "{err}");
    assert_eq!(list[0]["client_id"], granted_id.as_str());
    let before = lab.server_expiry(mac);
    std::thread::sleep(Duration::from_millis(1100));
    let r = ok(&lab.dhcpnet(&["renew", "--mac", mac, "-o", "json"]));
    assert_eq!(r[0]["result"], "renewed", "{r}");
    assert_eq!(r[0]["ip"], ip.as_str(), "{r}");
    // The same lease at the server (same client id), moved forward.
    let rows = lab.server_leases();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].3, granted_id, "{rows:?}");
    assert!(lab.server_expiry(mac) > before);
    // Renamed to today's name; one file, one record.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec![now_name], "{names:?}");
    ok(&lab.dhcpnet(&["release", "-i", IFACE, "--mac", mac, "-o", "json"]));
    lab.server_comes_to("released", |l| l.is_empty());
}
