//! Engine restarts and reboots with `restart: always` containers on a plugin
//! network: what happens when `systemctl restart docker` runs or the host
//! reboots. Each test has an engine of its own (it is stopped and started
//! again), a lab whose macvlan parent is a veth end in the root namespace
//! (dnsmasq behind it), and `dhcpnet daemon` serving the plugin at Docker's
//! path (the plugin lock is held). Runs on Docker 20.10 and 26.1.
//!
//! The engine names no container in its IPAM requests and makes up a new
//! MAC at every start, so what is promised is: a container with a fixed MAC
//! keeps its address; a container that is the only one kept on its
//! interface keeps its address (also across a daemon restart: the kept mark
//! is on the record); any other gets a new address and its old lease is
//! released, so the server holds exactly one lease per container; and
//! `doctor` warns about the containers without a fixed MAC.

mod common;

use common::docker::{
    Daemon, Engine, IMAGE, NetworkGuard, PLUGIN_SOCKET, Version, plugin_lock, private_engine,
};
use common::{Lab, ok, wait_for};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Removes mcv0 (and its containers) when dropped, failing test or not,
/// while the engine still runs.
fn mcv0_guard(engine: &Arc<Engine>) -> NetworkGuard {
    NetworkGuard {
        engine: engine.clone(),
        name: "mcv0".into(),
    }
}

/// A lab with dnsmasq, an engine of the test's own, the plugin lock held.
fn set_up(v: Version) -> Option<(Lab, Arc<Engine>, std::fs::File)> {
    let mut lab = Lab::with_root_parent(&["dnsmasq", "ss"])?;
    let engine = private_engine(v)?;
    lab.start_dnsmasq(&[]);
    Some((lab, engine, plugin_lock()))
}

/// `docker run -d --restart always` on mcv0, with `extra` options.
fn run_always(engine: &Engine, name: &str, extra: &[&str]) {
    let host = format!("{name}-1");
    let mut a = vec![
        "run",
        "-d",
        "--net",
        "mcv0",
        "--name",
        name,
        "--hostname",
        &host,
        "--restart",
        "always",
    ];
    a.extend_from_slice(extra);
    a.extend_from_slice(&[IMAGE, "sleep", "3600"]);
    engine.docker_ok(&a);
}

/// (IP, MAC) of a running container on mcv0, once the engine has it
/// running again (None until then).
fn endpoint(engine: &Engine, name: &str) -> Option<(String, String)> {
    let out = engine.docker(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{with index .NetworkSettings.Networks \"mcv0\"}}{{.IPAddress}} {{.MacAddress}}{{end}}",
        name,
    ]);
    let s = String::from_utf8_lossy(&out.stdout).to_string();
    let mut w = s.split_whitespace();
    match (w.next(), w.next(), w.next()) {
        (Some("true"), Some(ip), Some(mac)) => Some((ip.to_string(), mac.to_string())),
        _ => None,
    }
}

fn records(lab: &Lab) -> Vec<Value> {
    ok(&lab.dhcpnet_root(&["leases", "-o", "json"], &[]))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Wait until every listed container's lease is tied to it on the records.
fn wait_tied(lab: &Lab, n: usize, daemon: &Daemon) {
    let tied = wait_for(Duration::from_secs(30), || {
        let c = records(lab)
            .iter()
            .filter(|l| l["container"].is_string())
            .count();
        (c == n).then_some(())
    });
    assert!(tied.is_some(), "{:?}\n{}", records(lab), daemon.log());
}

/// Wait until dnsmasq's table holds exactly the (MAC, IP) pairs of `want`.
fn wait_server_holds(lab: &Lab, want: &[(String, String)], what: &str, daemon: &Daemon) {
    let mut want = want.to_vec();
    want.sort();
    let same = wait_for(Duration::from_secs(40), || {
        let mut got: Vec<(String, String)> = lab
            .server_leases()
            .into_iter()
            .map(|r| (r.0, r.1))
            .collect();
        got.sort();
        (got == want).then_some(())
    });
    assert!(
        same.is_some(),
        "{what}: the server holds {:?}, want {want:?}\ndaemon:\n{}",
        lab.server_leases(),
        daemon.log()
    );
}

fn wait_running(engine: &Engine, name: &str) -> (String, String) {
    wait_for(Duration::from_secs(60), || endpoint(engine, name)).unwrap_or_else(|| {
        panic!(
            "{name} did not come back after the engine started; engine log:\n{}",
            engine.log()
        )
    })
}

crate::on_each_engine!(
    an_engine_restart_keeps_a_fixed_mac_containers_address_and_one_lease_per_container
);

fn an_engine_restart_keeps_a_fixed_mac_containers_address_and_one_lease_per_container(v: Version) {
    let Some((lab, engine, _lock)) = set_up(v) else {
        return;
    };
    let iface = lab.parent().to_string();
    let daemon = Daemon::start(&lab, &engine, &["--plugin-socket", PLUGIN_SOCKET], "daemon");
    let _net = mcv0_guard(&engine);
    engine.plugin_network("mcv0", &iface, Some(&iface));
    let fixed_mac = "02:42:0a:4d:00:71";
    run_always(&engine, "fixed", &["--mac-address", fixed_mac]);
    run_always(&engine, "free", &[]);
    run_always(&engine, "other", &[]);
    wait_tied(&lab, 3, &daemon);
    let (fixed_ip, mac) = wait_running(&engine, "fixed");
    assert_eq!(mac, fixed_mac);

    // doctor names the two containers whose address rides on a MAC the
    // engine makes up, and not the fixed one.
    let out = lab.dhcpnet_root(
        &[
            "doctor",
            &iface,
            "-o",
            "json",
            "--plugin-socket",
            PLUGIN_SOCKET,
        ],
        &engine.env(),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor JSON ({e}): {}\n{}",
            common::text(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let row = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|r| r["name"] == "restarts"))
        .cloned()
        .unwrap_or_else(|| panic!("no restarts row: {report}"));
    let detail = row["detail"].as_str().unwrap_or_default();
    assert_eq!(row["status"], "warn", "{row}");
    assert!(
        detail.contains("free (") && detail.contains("other (") && !detail.contains("fixed ("),
        "{row}"
    );
    assert!(
        row["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("--mac-address"),
        "{row}"
    );
    // Both drivers' sockets answer.
    for name in ["ipam plugin", "ipam plugin (dhcpnet-ipvlan)"] {
        let r = report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|r| r["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} row: {report}"));
        assert_eq!(r["status"], "ok", "{r}");
    }

    // `systemctl restart docker`: every container is stopped (addresses
    // given back) and started again, all at once, with new endpoint MACs
    // for the two without a fixed one.
    engine.restart();
    let now: Vec<(String, String)> = ["fixed", "free", "other"]
        .iter()
        .map(|n| wait_running(&engine, n))
        .collect();
    assert_eq!(
        now[0],
        (fixed_ip.clone(), fixed_mac.to_string()),
        "the fixed-MAC container moved; daemon:\n{}",
        daemon.log()
    );
    let ips: std::collections::BTreeSet<&String> = now.iter().map(|e| &e.0).collect();
    assert_eq!(ips.len(), 3, "two containers share an address: {now:?}");
    // Exactly one lease per container at the server (the leases of the
    // endpoints of now: the follower released any replaced one), and the
    // same in dhcpnet's records, none left `kept`.
    let want: Vec<(String, String)> = now
        .iter()
        .map(|(ip, mac)| (mac.clone(), ip.clone()))
        .collect();
    wait_server_holds(&lab, &want, "after the engine restart", &daemon);
    let held = wait_for(Duration::from_secs(30), || {
        let r = records(&lab);
        (r.len() == 3 && r.iter().all(|l| l["status"] == "bound")).then_some(r)
    });
    assert!(
        held.is_some(),
        "records: {:?}\ndaemon:\n{}",
        records(&lab),
        daemon.log()
    );
}

crate::on_each_engine!(
    a_reboot_keeps_the_addresses_of_a_fixed_mac_container_and_of_the_one_without_though_the_daemon_restarted_too
);

/// A host reboot: the engine stops, the daemon stops, the daemon starts
/// (socket activation orders it first), the engine starts. The container
/// with a fixed MAC finds its own lease; the one without is the only other
/// kept on the interface, so it gets its address back too, whichever the
/// engine asks for first (the follower noted which MAC is fixed).
fn a_reboot_keeps_the_addresses_of_a_fixed_mac_container_and_of_the_one_without_though_the_daemon_restarted_too(
    v: Version,
) {
    let Some((lab, engine, _lock)) = set_up(v) else {
        return;
    };
    let iface = lab.parent().to_string();
    let args = ["--plugin-socket", PLUGIN_SOCKET];
    let daemon = Daemon::start(&lab, &engine, &args, "daemon");
    let net = mcv0_guard(&engine);
    engine.plugin_network("mcv0", &iface, Some(&iface));
    let pinned_mac = "02:42:0a:4d:00:72";
    run_always(&engine, "pinned", &["--mac-address", pinned_mac]);
    run_always(&engine, "lone", &[]);
    wait_tied(&lab, 2, &daemon);
    let (pinned_ip, _) = wait_running(&engine, "pinned");
    let (ip, first_mac) = wait_running(&engine, "lone");
    let noted = wait_for(Duration::from_secs(20), || {
        records(&lab)
            .iter()
            .any(|l| l["mac"] == pinned_mac && l["mac_fixed"] == true)
            .then_some(())
    });
    assert!(noted.is_some(), "{:?}\n{}", records(&lab), daemon.log());

    // Shutdown: the engine stops (the addresses are given back to the
    // plugin, which keeps them), then the daemon.
    engine.stop();
    let kept = records(&lab);
    assert!(
        kept.len() == 2
            && kept
                .iter()
                .all(|l| l["status"] == "kept" && l["kept_since"].is_string()),
        "{kept:?}\ndaemon:\n{}",
        daemon.log()
    );
    drop(daemon);

    // Boot.
    let daemon = Daemon::start_before_engine(&lab, &engine, &args, "daemon-after-boot");
    engine.start_again();
    let (now, mac) = wait_running(&engine, "lone");
    assert_ne!(
        mac, first_mac,
        "the engine kept the MAC; nothing was tested"
    );
    assert_eq!(
        now,
        ip,
        "a new address after the reboot; daemon:\n{}",
        daemon.log()
    );
    assert_eq!(
        wait_running(&engine, "pinned"),
        (pinned_ip.clone(), pinned_mac.to_string())
    );
    wait_server_holds(
        &lab,
        &[(mac, ip), (pinned_mac.to_string(), pinned_ip)],
        "after the reboot",
        &daemon,
    );
    let r = records(&lab);
    assert!(
        r.len() == 2
            && r.iter()
                .all(|l| l["status"] == "bound" && l["kept_since"].is_null()),
        "{r:?}"
    );
    // Removing them gives the addresses back.
    drop(net);
    let gone = wait_for(Duration::from_secs(40), || {
        lab.server_leases().is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "{:?}\ndaemon:\n{}",
        lab.server_leases(),
        daemon.log()
    );
}

crate::on_each_engine!(a_restarted_container_keeps_its_address_and_one_lease_at_kea_too);

/// kea's `match-client-id` (on by default) finds the kept lease by its
/// client id when the endpoint comes back with a new MAC, as dnsmasq does
/// (tests/ipam.rs covers dnsmasq).
fn a_restarted_container_keeps_its_address_and_one_lease_at_kea_too(v: Version) {
    let Some(mut lab) = Lab::with_root_parent(&["kea-dhcp4", "ss"]) else {
        return;
    };
    let Some(engine) = common::docker::engine_of(v) else {
        return;
    };
    lab.start_kea(600);
    let _lock = plugin_lock();
    let iface = lab.parent().to_string();
    let daemon = Daemon::start(&lab, &engine, &["--plugin-socket", PLUGIN_SOCKET], "daemon");
    let _net = mcv0_guard(&engine);
    engine.plugin_network("mcv0", &iface, Some(&iface));
    run_always(&engine, "web", &[]);
    wait_tied(&lab, 1, &daemon);
    let (ip, first) = wait_running(&engine, "web");
    let kea_holds = |what: &str, mac: &str| {
        let one = wait_for(Duration::from_secs(20), || {
            let rows = lab.kea_leases();
            (rows.len() == 1 && rows[0].0 == ip && rows[0].1 == mac).then_some(())
        });
        assert!(
            one.is_some(),
            "{what}: kea holds {:?}, want one lease of {ip} for {mac}\ndaemon:\n{}",
            lab.kea_leases(),
            daemon.log()
        );
    };
    kea_holds("at the start", &first);
    let mut macs = vec![first];
    for step in ["restart", "stop-start"] {
        if step == "restart" {
            engine.docker_ok(&["restart", "-t", "0", "web"]);
        } else {
            engine.docker_ok(&["stop", "-t", "0", "web"]);
            engine.docker_ok(&["start", "web"]);
        }
        let (now, mac) = wait_running(&engine, "web");
        assert_eq!(now, ip, "after {step}: daemon:\n{}", daemon.log());
        kea_holds(step, &mac);
        macs.push(mac);
    }
    macs.dedup();
    assert_eq!(macs.len(), 3, "the engine kept the MAC: {macs:?}");
    engine.docker_ok(&["rm", "-f", "web"]);
    let gone = wait_for(Duration::from_secs(20), || {
        lab.kea_leases().is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "kea still holds {:?}\ndaemon:\n{}",
        lab.kea_leases(),
        daemon.log()
    );
}
