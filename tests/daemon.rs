//! `dhcpnet daemon` against real servers in namespace labs: renewals against
//! kea with 20 s leases (across a kill -9), and the IPAM plugin API spoken
//! over its socket the way the Docker engine speaks it.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{IFACE, Lab, ok, plugin_post as post, wait_for};
use serde_json::{Value, json};

/// A `dhcpnet daemon` in the lab's client namespace; killed when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(lab: &Lab, extra: &[&str], name: &str) -> Daemon {
        let log = lab.dir.path().join(format!("{name}.log"));
        let f = std::fs::File::create(&log).expect("daemon log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &lab.cli, env!("CARGO_BIN_EXE_dhcpnet")])
            .arg("--state-dir")
            .arg(lab.state_dir())
            .args(["-vv", "daemon"])
            .args(extra)
            // Where no engine listens: the daemon must renew all the same.
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

    /// SIGKILL: no chance to write anything on the way out.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

// ---------------------------------------------------------------- kea

/// Start kea-dhcp4 on the lab's server side: 10.77.0.50-150, the given
/// valid-lifetime, T1 at half, T2 at 7/8 (kea's defaults when asked to
/// compute them). Returns the memfile path.
fn start_kea(lab: &mut Lab, valid: u32) -> PathBuf {
    start_kea_with(lab, valid, "10.77.0.50 - 10.77.0.150", false, "kea")
}

/// kea with a pool of your choice; `authoritative` makes it NAK requests
/// for addresses it did not lease. `name` names its config and log files.
fn start_kea_with(
    lab: &mut Lab,
    valid: u32,
    pool: &str,
    authoritative: bool,
    name: &str,
) -> PathBuf {
    let dir = lab.dir.path();
    let leases = dir.join("kea-leases4.csv");
    let conf = json!({"Dhcp4": {
        "interfaces-config": {"interfaces": [IFACE], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": true, "name": leases, "lfc-interval": 0},
        "valid-lifetime": valid,
        "calculate-tee-times": true,
        "authoritative": authoritative,
        "subnet4": [{"id": 1, "subnet": "10.77.0.0/24", "pools": [{"pool": pool}],
                     "option-data": [{"name": "routers", "data": "10.77.0.1"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "DEBUG", "debuglevel": 40,
                     "output_options": [{"output": dir.join(format!("{name}.log"))}]}]
    }});
    lab.spawn_kea(&conf, name);
    leases
}

/// The latest expiry (epoch seconds) kea's memfile holds for `mac`
/// (address,hwaddr,client_id,valid_lifetime,expire,...; rows are appended).
fn kea_expiry(file: &Path, mac: &str) -> Option<i64> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .filter(|l| l.split(',').nth(1) == Some(mac))
        .filter_map(|l| l.split(',').nth(4)?.parse::<i64>().ok())
        .max()
}

#[test]
fn renewals_move_the_servers_expiry_forward_without_commands_and_survive_kill_9() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4"]) else {
        return;
    };
    let kea = start_kea(&mut lab, 20);
    let mac = "02:42:0a:4d:00:21";
    let v = ok(&lab.dhcpnet(&["lease", "--interface", IFACE, "--mac", mac, "-o", "json"]));
    assert_eq!(v["lease_time"], 20);
    let e0 = kea_expiry(&kea, mac).expect("kea recorded the lease");

    let mut d = Daemon::start(&lab, &["--no-plugin", "--no-docker"], "daemon-1");
    // T1 is 10 s after the lease: the daemon renews by itself.
    let e1 = wait_for(Duration::from_secs(30), || {
        kea_expiry(&kea, mac).filter(|&e| e > e0)
    });
    let e1 = e1.unwrap_or_else(|| panic!("kea's expiry did not move; daemon log:\n{}", d.log()));

    // A second daemon on the same records refuses to run (exit 7, state).
    let mut twin = Daemon::start(&lab, &["--no-plugin", "--no-docker"], "twin");
    let st = wait_for(Duration::from_secs(10), || {
        twin.child.try_wait().ok().flatten()
    });
    assert_eq!(
        st.and_then(|s| s.code()),
        Some(7),
        "a second daemon ran; its log:\n{}",
        twin.log()
    );
    assert!(
        twin.log().contains("another dhcpnet daemon is running"),
        "{}",
        twin.log()
    );

    // A lease taken by another dhcpnet process is picked up without a restart.
    let mac2 = "02:42:0a:4d:00:22";
    ok(&lab.dhcpnet(&["lease", "--interface", IFACE, "--mac", mac2, "-o", "json"]));
    let f0 = kea_expiry(&kea, mac2).expect("kea recorded the second lease");
    let moved = wait_for(Duration::from_secs(30), || {
        kea_expiry(&kea, mac2).filter(|&e| e > f0)
    });
    assert!(
        moved.is_some(),
        "the second lease was not renewed; daemon log:\n{}",
        d.log()
    );

    d.kill9();
    // Stay down past T1 (10 s before expiry), so the lease is overdue at restart.
    let e = kea_expiry(&kea, mac).unwrap_or(e1);
    let now = chrono::Utc::now().timestamp();
    let until_overdue = (e - 7 - now).max(0) as u64;
    std::thread::sleep(Duration::from_secs(until_overdue));
    let before = kea_expiry(&kea, mac).unwrap_or(e);
    let restarted = Instant::now();
    // This time with event following on, and no engine to follow.
    let d2 = Daemon::start(
        &lab,
        &["--no-plugin", "--docker", "/usr/bin/docker"],
        "daemon-2",
    );
    let e2 = wait_for(Duration::from_secs(6), || {
        kea_expiry(&kea, mac).filter(|&x| x > before)
    });
    assert!(
        e2.is_some(),
        "after a kill -9 and restart the overdue lease was not renewed at once ({:?}); log:\n{}",
        restarted.elapsed(),
        d2.log()
    );
    // And renewals go on after that.
    let e3 = wait_for(Duration::from_secs(30), || {
        kea_expiry(&kea, mac).filter(|&x| Some(x) > e2)
    });
    assert!(
        e3.is_some(),
        "renewals stopped after the restart; log:\n{}",
        d2.log()
    );
    assert!(
        d2.log()
            .contains("following container events is off until it appears"),
        "{}",
        d2.log()
    );
    // The records follow the ACKs.
    let list = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    let rec = list
        .as_array()
        .and_then(|a| a.iter().find(|l| l["mac"] == mac))
        .cloned()
        .expect("record kept");
    assert_eq!(rec["status"], "bound");
    assert_eq!(rec["ip"], v["ip"]);
    assert!(rec["seconds_left"].as_i64().unwrap_or(0) > 0, "{rec}");
}

#[test]
fn a_nak_marks_the_lease_lost_says_so_and_takes_an_address_again() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4"]) else {
        return;
    };
    start_kea(&mut lab, 20);
    let mac = "02:42:0a:4d:00:23";
    let v = ok(&lab.dhcpnet(&["lease", "--interface", IFACE, "--mac", mac, "-o", "json"]));
    let old_ip = v["ip"].as_str().expect("ip").to_string();
    // The server is replaced by one that forgot the lease and hands out
    // another range, authoritatively: the renewal at T1 gets a DHCPNAK.
    lab.stop_servers();
    let _ = std::fs::remove_file(lab.dir.path().join("kea-leases4.csv"));
    start_kea_with(&mut lab, 20, "10.77.0.160 - 10.77.0.170", true, "kea-2");
    let d = Daemon::start(&lab, &["--no-plugin", "--no-docker"], "daemon-nak");
    let moved = wait_for(Duration::from_secs(40), || {
        let l = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
        let rec = l.as_array()?.iter().find(|x| x["mac"] == mac)?.clone();
        (rec["status"] == "bound" && rec["ip"] != old_ip.as_str()).then_some(rec)
    });
    let rec = moved.unwrap_or_else(|| {
        let kea = std::fs::read_to_string(lab.dir.path().join("kea-2.log")).unwrap_or_default();
        let kea: Vec<&str> = kea
            .lines()
            .filter(|l| !l.contains("RECLAIM") && !l.contains("HOSTS_") && l.contains("DEBUG"))
            .collect();
        panic!(
            "the lease did not move; daemon log:\n{}\nkea:\n{}",
            d.log(),
            kea.join("\n")
        )
    });
    let new_ip = rec["ip"].as_str().unwrap_or_default();
    let last: u8 = new_ip
        .rsplit('.')
        .next()
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    assert!((160..=170).contains(&last), "{rec}");
    let log = d.log();
    assert!(log.contains("LEASE LOST") && log.contains(&old_ip), "{log}");
    assert!(
        log.contains("ADDRESS CHANGED") && log.contains(new_ip) && log.contains("cannot follow"),
        "{log}"
    );
    eprintln!("daemon log:\n{log}"); // shown with --nocapture
}

#[test]
fn a_renewal_answered_after_the_lease_was_released_gives_the_address_back() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4"]) else {
        return;
    };
    let kea = start_kea(&mut lab, 20);
    let mac = "02:42:0a:4d:00:24";
    let v = ok(&lab.dhcpnet(&["lease", "--interface", IFACE, "--mac", mac, "-o", "json"]));
    let ip = v["ip"].as_str().expect("ip").to_string();
    let e0 = kea_expiry(&kea, mac).expect("kea recorded the lease");
    // Another process holds the state lock across the renewal at T1 (10 s)
    // and releases the lease meanwhile (drops the record, as `release` does
    // after its DHCPRELEASE): the renewal's ACK comes back for a lease that
    // is gone.
    let d = Daemon::start(&lab, &["--no-plugin", "--no-docker"], "daemon-race");
    let up = wait_for(Duration::from_secs(5), || {
        d.log().contains("holding 1 lease(s)").then_some(())
    });
    assert!(up.is_some(), "the daemon did not start; log:\n{}", d.log());
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(lab.state_dir().join("lock"))
        .expect("lock file");
    lock.lock().expect("take the state lock");
    let renewed = wait_for(Duration::from_secs(30), || {
        kea_expiry(&kea, mac).filter(|&e| e > e0)
    });
    assert!(
        renewed.is_some(),
        "the daemon did not renew; log:\n{}",
        d.log()
    );
    common::clear_table(&lab.state_dir(), "leases.d");
    lock.unlock().expect("unlock");
    let said = wait_for(Duration::from_secs(10), || {
        d.log().contains("giving it back").then_some(())
    });
    assert!(
        said.is_some(),
        "the late renewal was not given back; log:\n{}",
        d.log()
    );
    assert!(
        d.log().contains("renewed until"),
        "not the renewal at T1 that was given back; log:\n{}",
        d.log()
    );
    let kea_log = || std::fs::read_to_string(lab.dir.path().join("kea.log")).unwrap_or_default();
    let released = wait_for(Duration::from_secs(10), || {
        kea_log()
            .lines()
            .any(|l| l.contains("DHCP4_RELEASE") && l.contains(&ip) && !l.contains("FAIL"))
            .then_some(())
    });
    assert!(
        released.is_some(),
        "kea saw no release of {ip}; daemon log:\n{}",
        d.log()
    );
    assert_eq!(
        ok(&lab.dhcpnet(&["leases", "-o", "json"])),
        json!([]),
        "the released lease came back as a record"
    );
}

// ---------------------------------------------------------------- plugin

fn wait_socket(p: &Path, d: &Daemon) {
    let up = wait_for(Duration::from_secs(10), || {
        UnixStream::connect(p).ok().map(|_| ())
    });
    assert!(
        up.is_some(),
        "the plugin socket did not appear; log:\n{}",
        d.log()
    );
}

#[test]
fn ipam_plugin_api_leases_releases_and_checks_pools() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let sock = lab.dir.path().join("plugin.sock");
    let sock_s = sock.to_string_lossy().to_string();
    let d = Daemon::start(&lab, &["--no-docker", "--plugin-socket", &sock_s], "plugin");
    wait_socket(&sock, &d);

    assert_eq!(
        post(&sock, "/Plugin.Activate", &json!({})),
        json!({"Implements": ["IpamDriver"]})
    );
    assert_eq!(
        post(&sock, "/IpamDriver.GetCapabilities", &json!({}))["RequiresMACAddress"],
        true
    );
    let spaces = post(&sock, "/IpamDriver.GetDefaultAddressSpaces", &json!({}));
    assert!(spaces["LocalDefaultAddressSpace"].is_string(), "{spaces}");

    // No dhcp_interface: an error that says what to pass.
    let e = post(
        &sock,
        "/IpamDriver.RequestPool",
        &json!({"AddressSpace": "dhcpnet-local", "Pool": "", "Options": {}}),
    );
    assert!(
        e["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("dhcp_interface=IFACE"),
        "{e}"
    );
    // A subnet the server contradicts.
    let opts = json!({"dhcp_interface": IFACE});
    let e = post(
        &sock,
        "/IpamDriver.RequestPool",
        &json!({"Pool": "192.168.99.0/24", "Options": opts}),
    );
    assert!(
        e["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("--subnet 10.77.0.0/24"),
        "{e}"
    );
    // A VLAN interface (Docker creates veth0.10 itself, after this call):
    // no discovery there, the spanning-tree message; with --subnet it is taken.
    let vopts = json!({"dhcp_interface": "veth0.10"});
    let e = post(
        &sock,
        "/IpamDriver.RequestPool",
        &json!({"Pool": "", "Options": vopts}),
    );
    assert!(
        e["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("spanning tree"),
        "{e}"
    );
    let v = post(
        &sock,
        "/IpamDriver.RequestPool",
        &json!({"Pool": "10.88.0.0/24", "Options": vopts}),
    );
    assert_eq!(v["Pool"], "10.88.0.0/24", "{v}");
    // The right subnet, then discovery without one.
    let p = post(
        &sock,
        "/IpamDriver.RequestPool",
        &json!({"Pool": "10.77.0.0/24", "Options": opts}),
    );
    assert_eq!(p["Pool"], "10.77.0.0/24", "{p}");
    let pool_id = p["PoolID"].as_str().expect("PoolID").to_string();
    let p2 = post(
        &sock,
        "/IpamDriver.RequestPool",
        &json!({"Pool": "", "Options": opts}),
    );
    assert_eq!(p2["Pool"], "10.77.0.0/24", "{p2}");
    // The engine refusing the discovered pool asks again: a clear error, not a loop.
    post(
        &sock,
        "/IpamDriver.ReleasePool",
        &json!({"PoolID": p2["PoolID"]}),
    );
    let e = post(
        &sock,
        "/IpamDriver.RequestPool",
        &json!({"Pool": "", "Options": opts}),
    );
    let msg = e["Error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("--subnet 10.77.0.0/24") && msg.contains("dhcpnet create"),
        "{e}"
    );

    // Gateway: the server's router.
    let g = post(
        &sock,
        "/IpamDriver.RequestAddress",
        &json!({"PoolID": pool_id, "Address": "",
        "Options": {"RequestAddressType": "com.docker.network.gateway"}}),
    );
    assert_eq!(g["Address"], "10.77.0.1/24", "{g}");

    // A container's address: leased for the engine's MAC.
    let mac = "02:42:0a:4d:00:31";
    let a = post(
        &sock,
        "/IpamDriver.RequestAddress",
        &json!({"PoolID": pool_id, "Address": "",
        "Options": {"com.docker.network.endpoint.macaddress": mac}}),
    );
    let addr = a["Address"]
        .as_str()
        .unwrap_or_else(|| panic!("{a}"))
        .to_string();
    let ip = addr.trim_end_matches("/24").to_string();
    assert!(
        lab.server_leases().iter().any(|r| r.0 == mac && r.1 == ip),
        "{:?}",
        lab.server_leases()
    );

    // docker run --ip: that address, or a clear refusal.
    let mac2 = "02:42:0a:4d:00:32";
    let a2 = post(
        &sock,
        "/IpamDriver.RequestAddress",
        &json!({"PoolID": pool_id, "Address": "10.77.0.120",
        "Options": {"com.docker.network.endpoint.macaddress": mac2}}),
    );
    assert_eq!(a2["Address"], "10.77.0.120/24", "{a2}");
    let mac3 = "02:42:0a:4d:00:33";
    let e = post(
        &sock,
        "/IpamDriver.RequestAddress",
        &json!({"PoolID": pool_id, "Address": "10.77.0.120",
        "Options": {"com.docker.network.endpoint.macaddress": mac3}}),
    );
    assert!(
        e["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("would not give 10.77.0.120"),
        "{e}"
    );
    assert!(
        !lab.server_leases().iter().any(|r| r.0 == mac3),
        "the refused lease was kept: {:?}",
        lab.server_leases()
    );
    // No MAC: an error a person can act on.
    let e = post(
        &sock,
        "/IpamDriver.RequestAddress",
        &json!({"PoolID": pool_id, "Address": "", "Options": {}}),
    );
    assert!(
        e["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("no MAC address"),
        "{e}"
    );

    // ReleaseAddress carries no MAC: the address maps to the lease.
    assert_eq!(
        post(
            &sock,
            "/IpamDriver.ReleaseAddress",
            &json!({"PoolID": pool_id, "Address": ip})
        ),
        json!({})
    );
    let gone = wait_for(Duration::from_secs(5), || {
        (!lab.server_leases().iter().any(|r| r.0 == mac)).then_some(())
    });
    assert!(
        gone.is_some(),
        "dnsmasq still holds {ip}: {:?}",
        lab.server_leases()
    );
    // Releasing the gateway (network rm) is fine and touches no lease.
    assert_eq!(
        post(
            &sock,
            "/IpamDriver.ReleaseAddress",
            &json!({"PoolID": pool_id, "Address": "10.77.0.1"})
        ),
        json!({})
    );
    let list = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    let macs: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["mac"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(macs, vec![mac2], "{list}");

    // Garbage never kills the server.
    let mut s = UnixStream::connect(&sock).expect("connect");
    s.write_all(b"NONSENSE\r\n\r\n").expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(
        post(&sock, "/Plugin.Activate", &json!({})),
        json!({"Implements": ["IpamDriver"]})
    );
    drop(d);
}

/// RequestAddress for `mac` in `pool_id`, timed.
fn request_address(sock: &Path, pool_id: &str, mac: &str) -> (Value, Duration) {
    let t = Instant::now();
    let v = post(
        sock,
        "/IpamDriver.RequestAddress",
        &json!({"PoolID": pool_id, "Address": "",
        "Options": {"com.docker.network.endpoint.macaddress": mac}}),
    );
    (v, t.elapsed())
}

#[test]
fn a_slow_exchange_or_a_held_state_lock_stalls_no_other_plugin_call() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    // The server ignores this container: its exchange runs until --timeout.
    let slow = "02:42:0a:4d:00:41";
    lab.start_dnsmasq(&[&format!("--dhcp-host={slow},ignore")]);
    let sock = lab.dir.path().join("plugin.sock");
    let sock_s = sock.to_string_lossy().to_string();
    let d = Daemon::start(
        &lab,
        &["--no-docker", "--plugin-socket", &sock_s, "--timeout", "6"],
        "plugin-slow",
    );
    wait_socket(&sock, &d);
    let p = post(
        &sock,
        "/IpamDriver.RequestPool",
        &json!({"Pool": "10.77.0.0/24", "Options": {"dhcp_interface": IFACE}}),
    );
    let pool_id = p["PoolID"]
        .as_str()
        .unwrap_or_else(|| panic!("{p}"))
        .to_string();
    let first = "02:42:0a:4d:00:40";
    let (a, _) = request_address(&sock, &pool_id, first);
    let ip = a["Address"]
        .as_str()
        .unwrap_or_else(|| panic!("{a}"))
        .trim_end_matches("/24")
        .to_string();

    let (s2, id2) = (sock.clone(), pool_id.clone());
    let slow_call = std::thread::spawn(move || request_address(&s2, &id2, slow));
    std::thread::sleep(Duration::from_millis(500));
    // Meanwhile another container gets its address, and the first is
    // released, without waiting for the slow exchange.
    let (b, took) = request_address(&sock, &pool_id, "02:42:0a:4d:00:42");
    assert!(b["Address"].is_string(), "{b}");
    assert!(
        took < Duration::from_secs(3),
        "RequestAddress waited {took:?} behind a slow exchange; log:\n{}",
        d.log()
    );
    let t = Instant::now();
    assert_eq!(
        post(
            &sock,
            "/IpamDriver.ReleaseAddress",
            &json!({"PoolID": pool_id, "Address": ip})
        ),
        json!({})
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "ReleaseAddress waited {:?} behind a slow exchange",
        t.elapsed()
    );
    assert!(
        !lab.server_leases().iter().any(|r| r.0 == first),
        "{ip} not released: {:?}",
        lab.server_leases()
    );
    let (e, took) = slow_call.join().expect("slow call");
    assert!(
        e["Error"].as_str().unwrap_or_default().contains(slow),
        "{e}"
    );
    assert!(
        took >= Duration::from_secs(5),
        "the ignored request ended after {took:?}"
    );

    // Another process holds the state directory's lock for 3 s: calls that
    // need no records answer at once, and a lease waits for the lock.
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(lab.state_dir().join("lock"))
        .expect("lock file");
    lock.lock().expect("take the state lock");
    let held = Instant::now();
    let (s3, id3) = (sock.clone(), pool_id.clone());
    let waiting = std::thread::spawn(move || request_address(&s3, &id3, "02:42:0a:4d:00:43"));
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    assert_eq!(
        post(&sock, "/Plugin.Activate", &json!({})),
        json!({"Implements": ["IpamDriver"]})
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "the daemon stalled {:?} on a held state lock",
        t.elapsed()
    );
    assert!(
        !waiting.is_finished(),
        "a lease was recorded under another process's lock"
    );
    std::thread::sleep(Duration::from_secs(3).saturating_sub(held.elapsed()));
    lock.unlock().expect("unlock");
    let (c, _) = waiting.join().expect("waiting call");
    assert!(c["Address"].is_string(), "{c}; log:\n{}", d.log());
    let list = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    let mut macs: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["mac"].as_str()).collect())
        .unwrap_or_default();
    macs.sort_unstable();
    assert_eq!(
        macs,
        vec!["02:42:0a:4d:00:42", "02:42:0a:4d:00:43"],
        "{list}"
    );
}

// ---------------------------------------------------------------- links

/// `ip -d link show` of `name` in namespace `ns`, if it exists.
fn link_in(ns: &str, name: &str) -> Option<String> {
    let o = common::sh(&["ip", "-n", ns, "-d", "link", "show", "dev", name]);
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).to_string())
}

#[test]
fn the_daemon_rebuilds_owned_links_at_start_up() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    // An owned macvlan (the shim) with its leased address...
    let v = ok(&lab.dhcpnet(&[
        "shim",
        "add",
        IFACE,
        "--mac",
        "02:42:0a:4d:00:98",
        "-o",
        "json",
    ]));
    assert_eq!(v["state"], "owned", "{v}");
    let ip = v["ip"].as_str().expect("shim ip").to_string();
    // ...gone behind dhcpnet's back, as after a reboot.
    common::must(&["ip", "-n", &lab.cli, "link", "del", "shim-veth0"]);
    assert!(link_in(&lab.cli, "shim-veth0").is_none());

    let d = Daemon::start(&lab, &["--no-plugin", "--no-docker"], "daemon-restore");
    let back = wait_for(Duration::from_secs(10), || {
        link_in(&lab.cli, "shim-veth0").filter(|l| l.contains(",UP"))
    });
    let l = back.unwrap_or_else(|| {
        panic!(
            "the shim was not rebuilt at start-up; daemon log:\n{}",
            d.log()
        )
    });
    assert!(
        l.contains("02:42:0a:4d:00:98") && l.contains("alias dhcpnet-owned macvlan parent=veth0"),
        "{l}"
    );
    let addr = wait_for(Duration::from_secs(5), || {
        let a = common::sh(&[
            "ip",
            "-n",
            &lab.cli,
            "-4",
            "addr",
            "show",
            "dev",
            "shim-veth0",
        ]);
        String::from_utf8_lossy(&a.stdout)
            .contains(&format!("{ip}/32"))
            .then_some(())
    });
    assert!(
        addr.is_some(),
        "the shim's address was not put back; daemon log:\n{}",
        d.log()
    );
    let said = wait_for(Duration::from_secs(5), || {
        d.log().contains("shim-veth0").then_some(())
    });
    assert!(
        said.is_some() && d.log().contains("recreated"),
        "the daemon did not say what it rebuilt:\n{}",
        d.log()
    );

    // A link that cannot be rebuilt is logged loudly; start-up goes on.
    drop(d);
    common::must(&["ip", "-n", &lab.cli, "link", "del", "shim-veth0"]);
    let o = common::link_add(
        &lab.cli,
        IFACE,
        "shim-veth0",
        &["macvlan", "mode", "bridge"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = Daemon::start(&lab, &["--no-plugin", "--no-docker"], "daemon-conflict");
    let said = wait_for(Duration::from_secs(10), || {
        d.log()
            .contains("could not restore link shim-veth0")
            .then_some(())
    });
    assert!(
        said.is_some(),
        "no loud error about the conflicting link:\n{}",
        d.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut d = d;
    assert!(
        matches!(d.child.try_wait(), Ok(None)),
        "the daemon stopped:\n{}",
        d.log()
    );
}

/// The expiry the lease record of `mac` says (RFC 3339, whole seconds).
fn recorded_expiry(lab: &Lab, mac: &str) -> Option<String> {
    let leases = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    leases.as_array()?.iter().find_map(|l| {
        (l["mac"] == mac)
            .then(|| l["expires_at"].as_str().map(str::to_string))
            .flatten()
    })
}

/// A shim on the lab's parent, then a daemon: the server's expiry for the
/// shim's MAC (`server_expiry`) and the record must both move forward
/// within `limit`, by the daemon alone.
fn daemon_renews_the_shims_lease(
    lab: &Lab,
    server: &str,
    limit: Duration,
    server_expiry: impl Fn() -> Option<i64>,
) {
    let mac = "02:42:0a:4d:00:97";
    let v = ok(&lab.dhcpnet(&["shim", "add", IFACE, "--mac", mac, "-o", "json"]));
    assert_eq!(v["state"], "owned", "{v}");
    let e0 = server_expiry().expect("the server recorded the shim's lease");
    let r0 = recorded_expiry(lab, mac).expect("the shim's lease is recorded");
    let d = Daemon::start(lab, &["--no-plugin", "--no-docker"], "daemon-shim");
    let moved = wait_for(limit, || server_expiry().filter(|&e| e > e0));
    assert!(
        moved.is_some(),
        "{server}: the daemon did not renew the shim's lease; daemon log:\n{}",
        d.log()
    );
    let r1 = wait_for(Duration::from_secs(5), || {
        recorded_expiry(lab, mac).filter(|r| *r > r0)
    });
    assert!(
        r1.is_some(),
        "{server}: the server renewed the shim's lease but the record did not move; daemon log:\n{}",
        d.log()
    );
    assert!(
        !d.log().contains("no answer"),
        "{server}: the daemon logged a renewal with no answer:\n{}",
        d.log()
    );
}

#[test]
fn the_daemon_renews_the_shims_own_lease_from_kea() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4"]) else {
        return;
    };
    let kea = start_kea(&mut lab, 20);
    // T1 is 10 s after the lease.
    daemon_renews_the_shims_lease(&lab, "kea", Duration::from_secs(25), || {
        kea_expiry(&kea, "02:42:0a:4d:00:97")
    });
}

#[test]
fn the_daemon_renews_the_shims_own_lease_from_dnsmasq() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    // dnsmasq leases for at least 120 s; a T1 of 5 s makes the daemon renew
    // at once.
    lab.start_dnsmasq(&["--dhcp-option=option:T1,5"]);
    daemon_renews_the_shims_lease(&lab, "dnsmasq", Duration::from_secs(25), || {
        Some(lab.server_expiry("02:42:0a:4d:00:97")).filter(|&e| e > 0)
    });
}
