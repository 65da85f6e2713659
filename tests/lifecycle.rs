//! What dhcpnet promises about leases across their whole life, against real
//! servers in namespace labs: interrupted commands (a real SIGINT, kill -9)
//! strand nothing, RELEASE bursts are not lost, the shim's own lease renews,
//! forgotten leases come back, outputs agree on the status, and commands say
//! when no daemon will renew what they leased.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{IFACE, Lab, ok, text, wait_for};
use serde_json::Value;

/// A `dhcpnet daemon` in the lab's client namespace; killed when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(lab: &Lab, name: &str) -> Daemon {
        Daemon::start_with(lab, name, &[])
    }

    fn start_with(lab: &Lab, name: &str, extra: &[&str]) -> Daemon {
        let log = lab.dir.path().join(format!("{name}.log"));
        let f = std::fs::File::create(&log).expect("daemon log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &lab.cli, env!("CARGO_BIN_EXE_dhcpnet")])
            .arg("--state-dir")
            .arg(lab.state_dir())
            .args(["-vv", "daemon", "--no-plugin", "--no-docker"])
            .args(extra)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", lab.dir.path().join("no-engine.sock").display()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(f));
        Daemon {
            child: cmd.spawn().expect("start dhcpnet daemon"),
            log,
        }
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// dhcpnet's records as JSON (`leases -o json`).
fn records(lab: &Lab) -> Vec<Value> {
    ok(&lab.dhcpnet(&["leases", "-o", "json"]))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn macs_of(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["mac"].as_str().map(str::to_string))
        .collect()
}

// ------------------------------------------------------------ item 7, 6

#[test]
fn an_expired_lease_says_expired_in_json_yaml_and_the_table_alike() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    ok(&lab.dhcpnet(&["lease", "--interface", IFACE, "-o", "json"]));
    // Age the record past its expiry, as a host that was off would find it.
    let mut file: Value = common::table(&lab.state_dir(), "leases.d", "leases");
    let l = &mut file["leases"][0];
    l["obtained_at"] = "2020-01-01T00:00:00Z".into();
    l["expires_at"] = "2020-01-01T00:02:00Z".into();
    common::write_table(&lab.state_dir(), "leases.d", "leases", &file);

    let v = records(&lab);
    assert_eq!(v[0]["status"], "expired", "{v:?}");
    assert!(v[0]["seconds_left"].as_i64().unwrap() < 0);
    let y = text(&lab.dhcpnet(&["leases", "-o", "yaml"]));
    assert!(y.contains("status: expired"), "{y}");
    let t = text(&lab.dhcpnet(&["leases"]));
    assert!(t.contains("expired") && !t.contains("bound"), "{t}");
    // The stored status is left as it was.
    let stored: Value = common::table(&lab.state_dir(), "leases.d", "leases");
    assert_eq!(stored["leases"][0]["status"], "bound");
}

#[test]
fn lease_warns_when_no_daemon_will_renew_and_is_quiet_when_one_runs() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let o = lab.dhcpnet(&["lease", "--interface", IFACE, "-o", "json"]);
    ok(&o);
    let e = stderr(&o);
    assert!(
        e.contains("no dhcpnet daemon is running")
            && e.contains("dhcpnet daemon")
            && e.contains("systemctl enable --now dhcpnet"),
        "{e}"
    );
    let d = Daemon::start(&lab, "daemon");
    wait_for(Duration::from_secs(10), || {
        d.log().contains("holding").then_some(())
    })
    .unwrap_or_else(|| panic!("the daemon did not start: {}", d.log()));
    let o = lab.dhcpnet(&["lease", "--interface", IFACE, "-o", "json"]);
    ok(&o);
    assert!(!stderr(&o).contains("no dhcpnet daemon"), "{}", stderr(&o));
}

// ------------------------------------------------------------ item 2

/// Give the server side a /22, so that hundreds of leases fit.
fn widen(lab: &Lab) {
    common::must(&[
        "ip",
        "-n",
        &lab.srv,
        "addr",
        "del",
        "10.77.0.1/24",
        "dev",
        IFACE,
    ]);
    common::must(&[
        "ip",
        "-n",
        &lab.srv,
        "addr",
        "add",
        "10.77.0.1/22",
        "dev",
        IFACE,
    ]);
}

/// Lease `n`, release them all, and return how many the server still
/// holds afterwards (by `held`), with the time the release took.
fn lease_and_release(lab: &Lab, n: usize, held: impl Fn() -> usize) -> (usize, Duration) {
    let count = n.to_string();
    let v = ok(&lab.dhcpnet(&[
        "lease",
        "--interface",
        IFACE,
        "--count",
        &count,
        "--timeout",
        "60",
        "-o",
        "json",
    ]));
    assert_eq!(v.as_array().map(Vec::len), Some(n), "all {n} leased");
    let recorded = macs_of(&records(lab));
    let extra: Vec<_> = lab
        .server_leases()
        .into_iter()
        .filter(|r| !recorded.contains(&r.0))
        .collect();
    assert!(
        extra.is_empty(),
        "the server holds leases dhcpnet does not know: {extra:?}"
    );

    assert_eq!(held(), n, "the server holds all {n}");
    let t = std::time::Instant::now();
    let o = lab.dhcpnet(&["release", "--all", "--interface", IFACE, "-o", "json"]);
    let took = t.elapsed();
    assert_eq!(
        ok(&o).as_array().map(Vec::len),
        Some(n),
        "{n} reported released"
    );
    // dnsmasq rewrites its lease file in place, so one empty read proves
    // nothing: let it settle, then take the most of several reads.
    std::thread::sleep(Duration::from_secs(1));
    let left = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(300));
            held()
        })
        .max()
        .unwrap_or(0);
    assert!(records(lab).is_empty(), "no records left");
    (left, took)
}

#[test]
fn release_all_of_hundreds_of_leases_is_paced_so_that_dnsmasq_frees_every_one() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    widen(&lab);
    lab.start_dnsmasq_with_range("10.77.0.10,10.77.3.250,255.255.252.0,600", &[]);
    for n in [200, 300, 400] {
        let (left, took) = lease_and_release(&lab, n, || lab.server_leases().len());
        eprintln!("dnsmasq: released {n} in {took:?}; the server still holds {left}");
        assert_eq!(
            left, 0,
            "dnsmasq still holds {left} of {n} after release --all"
        );
    }
}

#[test]
fn release_all_of_200_leases_frees_every_one_at_kea() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4"]) else {
        return;
    };
    widen(&lab);
    let d = lab.dir.path().to_path_buf();
    let conf = serde_json::json!({"Dhcp4": {
        "interfaces-config": {"interfaces": [IFACE], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": true, "lfc-interval": 0,
                           "name": lab.kea_lease_file().to_string_lossy()},
        "valid-lifetime": 600,
        "subnet4": [{"id": 1, "subnet": "10.77.0.0/22",
                     "pools": [{"pool": "10.77.0.10 - 10.77.3.250"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
            "output_options": [{"output": d.join("kea.log").to_string_lossy()}]}]
    }});
    lab.spawn_kea(&conf, "kea");
    let (left, took) = lease_and_release(&lab, 200, || lab.kea_leases().len());
    eprintln!("kea: released 200 in {took:?}; the server still holds {left}");
    assert_eq!(left, 0, "kea still holds {left} of 200 after release --all");
}

// ------------------------------------------------------------ item 1

/// dnsmasq's lease file, settled (it is rewritten in place: one read may
/// be empty mid-write): the MACs of the most rows seen in several reads.
fn server_macs_settled(lab: &Lab) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(1500));
    (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(300));
            lab.server_leases()
                .into_iter()
                .map(|r| r.0)
                .collect::<Vec<_>>()
        })
        .max_by_key(Vec::len)
        .unwrap_or_default()
}

/// `dhcpnet ARGS` in the client namespace under `timeout -s SIG SECS`.
fn dhcpnet_timeout(lab: &Lab, sig: &str, secs: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.cli,
            "timeout",
            "--preserve-status",
            "-s",
            sig,
            secs,
        ])
        .arg(env!("CARGO_BIN_EXE_dhcpnet"))
        .arg("--state-dir")
        .arg(lab.state_dir())
        .args(args)
        .output()
        .expect("run dhcpnet under timeout")
}

#[test]
fn ctrl_c_during_a_batch_larger_than_the_pool_records_every_granted_lease_and_strands_none() {
    for sig in ["INT", "TERM"] {
        let Some(mut lab) = Lab::new(&["dnsmasq", "timeout"]) else {
            return;
        };
        // 20 addresses for 50 clients: the batch is still running at 1.5 s.
        lab.start_dnsmasq_with_range("10.77.0.50,10.77.0.69,255.255.255.0,300", &[]);
        let o = dhcpnet_timeout(
            &lab,
            sig,
            "1.5",
            &["lease", "--interface", IFACE, "--count", "50", "-o", "json"],
        );
        let e = stderr(&o);
        let want = if sig == "INT" { 130 } else { 143 };
        assert_eq!(o.status.code(), Some(want), "SIG{sig}: {e}");
        assert!(e.contains("interrupted") && e.contains("recorded"), "{e}");
        let recs = records(&lab);
        let recorded = macs_of(&recs);
        assert!(
            recs.iter().all(|r| r["status"] == "bound"),
            "after SIG{sig} only leases are left: {recs:?}"
        );
        let held = server_macs_settled(&lab);
        assert!(!held.is_empty(), "the server granted some before SIG{sig}");
        for m in &held {
            assert!(
                recorded.contains(m),
                "SIG{sig}: the server holds {m}, dhcpnet has no record: {e}"
            );
        }
        eprintln!(
            "SIG{sig}: server holds {}, dhcpnet records {}",
            held.len(),
            recorded.len()
        );
    }
}

#[test]
fn kill_9_at_any_moment_of_a_batch_leaves_every_lease_the_server_holds_on_record() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq_with_range("10.77.0.10,10.77.0.250,255.255.255.0,300", &[]);
    for delay in [5u64, 20, 40, 80] {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.cli, env!("CARGO_BIN_EXE_dhcpnet")])
            .arg("--state-dir")
            .arg(lab.state_dir())
            .args(["lease", "--interface", IFACE, "--count", "50", "-o", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dhcpnet");
        std::thread::sleep(Duration::from_millis(delay));
        // `ip netns exec` execs dhcpnet: the child's pid is dhcpnet's.
        common::must(&["kill", "-KILL", &child.id().to_string()]);
        let _ = child.wait();
        let held = server_macs_settled(&lab);
        let recs = records(&lab);
        let recorded = macs_of(&recs);
        for m in &held {
            assert!(
                recorded.contains(m),
                "killed at {delay} ms: the server holds {m}, dhcpnet has no record: {recs:?}"
            );
        }
        let pending = recs.iter().filter(|r| r["status"] == "requesting").count();
        eprintln!(
            "kill -9 at {delay} ms: server holds {}, dhcpnet records {} ({pending} requesting)",
            held.len(),
            recorded.len()
        );
        // release --all frees them all, requesting ones included.
        ok(&lab.dhcpnet(&["release", "--all", "--interface", IFACE, "-o", "json"]));
        assert!(records(&lab).is_empty());
        let left = server_macs_settled(&lab);
        assert!(
            left.is_empty(),
            "after release --all the server holds {left:?}"
        );
    }
}

#[test]
fn the_daemon_releases_at_start_what_a_killed_batch_left_requesting() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq_with_range("10.77.0.10,10.77.0.250,255.255.255.0,300", &[]);
    // A `requesting` record as a process killed right after its REQUEST
    // leaves it: take a lease, then turn its record into an intent of a
    // process that is gone.
    ok(&lab.dhcpnet(&["lease", "--interface", IFACE, "-o", "json"]));
    let mut file: Value = common::table(&lab.state_dir(), "leases.d", "leases");
    file["leases"][0]["status"] = "requesting".into();
    file["leases"][0]["pid"] = 999_999.into();
    let mac = file["leases"][0]["mac"].as_str().unwrap().to_string();
    common::write_table(&lab.state_dir(), "leases.d", "leases", &file);
    assert_eq!(records(&lab)[0]["status"], "requesting");
    assert!(server_macs_settled(&lab).contains(&mac));
    let d = Daemon::start(&lab, "daemon");
    wait_for(Duration::from_secs(10), || {
        records(&lab).is_empty().then_some(())
    })
    .unwrap_or_else(|| panic!("the daemon left the intent: {}", d.log()));
    assert!(d.log().contains("releasing it"), "{}", d.log());
    let left = server_macs_settled(&lab);
    assert!(left.is_empty(), "the server still holds {left:?}");
}

// ------------------------------------------------------------ items 4, 5

/// Lease one address, note `container` on its record (as `dhcpnet run`
/// does), then make dnsmasq forget it (restarted without its lease file,
/// serving `range`) and age the record past its expiry, as a host that was
/// off longer than the lease finds it. Returns the address.
fn forgotten_lease(lab: &mut Lab, range: &str) -> String {
    lab.start_dnsmasq_with_range("10.77.0.50,10.77.0.60,255.255.255.0,300", &[]);
    let v = ok(&lab.dhcpnet(&["lease", "--interface", IFACE, "-o", "json"]));
    let ip = v["ip"].as_str().unwrap().to_string();
    lab.stop_servers();
    std::fs::remove_file(&lab.lease_file).unwrap();
    let mut file: Value = common::table(&lab.state_dir(), "leases.d", "leases");
    let l = &mut file["leases"][0];
    l["obtained_at"] = "2020-01-01T00:00:00Z".into();
    l["expires_at"] = "2020-01-01T00:05:00Z".into();
    l["container"] = "web".into();
    common::write_table(&lab.state_dir(), "leases.d", "leases", &file);
    lab.start_dnsmasq_with_range(range, &[]);
    ip
}

#[test]
fn a_lease_the_server_forgot_comes_back_by_discover_after_one_unanswered_init_reboot() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    let ip = forgotten_lease(&mut lab, "10.77.0.50,10.77.0.60,255.255.255.0,300");
    let d = Daemon::start_with(&lab, "daemon", &["--timeout", "2"]);
    let back = wait_for(Duration::from_secs(20), || {
        let r = records(&lab);
        (r.first()?["status"] == "bound").then(|| r[0].clone())
    })
    .unwrap_or_else(|| panic!("no lease back: {:?}\n{}", records(&lab), d.log()));
    assert_eq!(back["ip"], ip.as_str(), "the same address, as it was free");
    let log = d.log();
    assert!(log.contains("no answer to INIT-REBOOT"), "{log}");
    assert!(log.contains("DISCOVER asking for"), "{log}");
    assert!(
        lab.server_leases().iter().any(|r| r.1 == ip),
        "dnsmasq holds it again"
    );
}

#[test]
fn an_address_change_under_a_container_shows_moved_with_the_address_in_use_and_says_how_to_fix_it()
{
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    // The old address is outside the new range: the server must give another.
    let old = forgotten_lease(&mut lab, "10.77.0.100,10.77.0.110,255.255.255.0,300");
    let d = Daemon::start_with(&lab, "daemon", &["--timeout", "2"]);
    let r = wait_for(Duration::from_secs(20), || {
        let r = records(&lab);
        (r.first()?["status"] == "moved").then(|| r[0].clone())
    })
    .unwrap_or_else(|| panic!("not shown moved: {:?}\n{}", records(&lab), d.log()));
    assert_eq!(r["in_use_ip"], old.as_str());
    assert_ne!(r["ip"], old.as_str());
    let t = text(&lab.dhcpnet(&["leases"]));
    assert!(t.contains(&format!("moved (in use: {old})")), "{t}");
    let log = d.log();
    assert!(
        log.contains("ADDRESS CHANGED") && log.contains("dhcpnet rm web"),
        "{log}"
    );
}
