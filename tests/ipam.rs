//! The IPAM plugin and the event follower with a real Docker engine: the
//! shared isolated engine of tests/common/docker.rs, a lab whose macvlan
//! parent is a veth end in the root namespace (dnsmasq behind it), and
//! `dhcpnet daemon` serving the plugin at Docker's path. Docker finds plugins
//! only in /run/docker/plugins, which every engine on the machine shares: the
//! test holds the plugin lock and the socket goes when the daemon stops.
//! Runs on Docker 20.10 and on 26.1 (`NAME::on_docker_20_10`, `..._26`).

mod common;

use common::docker::{Daemon, Engine, IMAGE, PLUGIN_SOCKET, Version, engine_of, plugin_lock};
use common::{Lab, ok, wait_for};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Removes the listed Docker networks (and their containers) when dropped,
/// failing test or not.
struct Networks(Arc<Engine>, Vec<&'static str>);

impl Drop for Networks {
    fn drop(&mut self) {
        for n in &self.1 {
            self.0.remove_network(n);
        }
    }
}

fn inspect(e: &common::docker::Engine, name: &str) -> Value {
    let v: Value = serde_json::from_str(&e.docker_ok(&["inspect", name])).expect("inspect JSON");
    v[0].clone()
}

crate::on_each_engine!(docker_network_with_ipam_driver_dhcpnet_leases_names_and_releases);

fn docker_network_with_ipam_driver_dhcpnet_leases_names_and_releases(v: Version) {
    let Some(mut lab) = Lab::with_root_parent(&["dnsmasq", "ss"]) else {
        return;
    };
    let Some(engine) = engine_of(v) else { return };
    lab.start_dnsmasq(&[]);
    let _lock = plugin_lock();
    let iface = lab.parent().to_string();
    // A second root-side veth (no server behind it) for a network with
    // Docker's own IPAM, at the end.
    let Some(other_lab) = Lab::with_root_parent(&[]) else {
        return;
    };
    let daemon = Daemon::start(&lab, &engine, &["--plugin-socket", PLUGIN_SOCKET], "daemon");
    // Declared after the daemon: dropped first, while the plugin still answers.
    let _nets = Networks(
        engine.clone(),
        vec!["wrong", "found", "overlap", "mcv0", "plain"],
    );

    let parent = format!("parent={iface}");
    let dhcp_if = format!("dhcp_interface={iface}");
    let create = |name: &str, subnet: Option<&str>| {
        let mut a = vec![
            "network",
            "create",
            "-d",
            "macvlan",
            "--ipam-driver",
            "dhcpnet",
            "-o",
            &parent,
            "--ipam-opt",
            &dhcp_if,
        ];
        if let Some(s) = subnet {
            a.extend(["--subnet", s]);
        }
        a.push(name);
        engine.docker(&a)
    };
    // A subnet the DHCP server contradicts is refused, naming the right one.
    let o = create("wrong", Some("192.168.99.0/24"));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        !o.status.success() && err.contains("--subnet 10.77.0.0/24"),
        "{err}"
    );
    // Without --subnet the subnet is discovered...
    let o = create("found", None);
    assert!(
        o.status.success(),
        "{}\ndaemon:\n{}",
        String::from_utf8_lossy(&o.stderr),
        daemon.log()
    );
    let found = &serde_json::from_str::<Value>(&engine.docker_ok(&["network", "inspect", "found"]))
        .expect("json")[0];
    assert_eq!(
        found["IPAM"]["Config"][0]["Subnet"], "10.77.0.0/24",
        "{found}"
    );
    engine.docker_ok(&["network", "rm", "found"]);
    // ...unless it overlaps a route of the host: the engine refuses it and
    // asks again, and the answer says what to do.
    // (On the lab's own root-side veth, just for this call; no traffic.)
    common::must(&["ip", "addr", "add", "10.77.0.9/24", "dev", &iface]);
    let o = create("overlap", None);
    common::must(&["ip", "addr", "del", "10.77.0.9/24", "dev", &iface]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        !o.status.success(),
        "the engine accepted an overlapping pool; daemon:\n{}",
        daemon.log()
    );
    assert!(
        err.contains("--subnet 10.77.0.0/24") && err.contains("dhcpnet create"),
        "{err}\ndaemon:\n{}",
        daemon.log()
    );

    plugin_network(&engine, &iface);
    let net = &serde_json::from_str::<Value>(&engine.docker_ok(&["network", "inspect", "mcv0"]))
        .expect("json")[0];
    assert_eq!(net["IPAM"]["Driver"], "dhcpnet", "{net}");

    // Plain docker run: the address comes from the DHCP server, for the container's MAC.
    engine.docker_ok(&[
        "run",
        "-d",
        "--net",
        "mcv0",
        "--name",
        "web",
        "--hostname",
        "web-1",
        IMAGE,
        "sleep",
        "600",
    ]);
    let c = inspect(&engine, "web");
    let ip = c["NetworkSettings"]["Networks"]["mcv0"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mac = c["NetworkSettings"]["Networks"]["mcv0"]["MacAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(ip.starts_with("10.77.0."), "{c}");
    // dnsmasq rewrites its lease file in place: read until a row shows.
    let row = wait_for(Duration::from_secs(10), || {
        lab.server_leases()
            .into_iter()
            .find(|r| r.0 == mac && r.1 == ip)
    });
    assert!(
        row.is_some(),
        "dnsmasq lacks {mac} {ip}: {:?}\ndaemon:\n{}",
        lab.server_leases(),
        daemon.log()
    );
    // Once it has started, the server's table shows its hostname too.
    let named = wait_for(Duration::from_secs(30), || {
        lab.server_leases()
            .into_iter()
            .find(|r| r.0 == mac && r.2 == "web-1")
    });
    assert!(
        named.is_some(),
        "no hostname in dnsmasq's table: {:?}\ndaemon:\n{}",
        lab.server_leases(),
        daemon.log()
    );

    // docker run --ip: that address from the server, or a clear refusal.
    // An address no container of this test holds yet (the server picks
    // the others at random, and one of them could be .140).
    let held: Vec<String> = lab.server_leases().into_iter().map(|r| r.1).collect();
    let pin = (140..200)
        .map(|n| format!("10.77.0.{n}"))
        .find(|a| !held.contains(a))
        .expect("a free address");
    engine.docker_ok(&[
        "run", "-d", "--net", "mcv0", "--ip", &pin, "--name", "pinned", IMAGE, "sleep", "600",
    ]);
    let p = inspect(&engine, "pinned");
    assert_eq!(
        p["NetworkSettings"]["Networks"]["mcv0"]["IPAddress"],
        pin.as_str(),
        "{p}"
    );
    let o = engine.docker(&[
        "run", "-d", "--net", "mcv0", "--ip", &pin, "--name", "clash", IMAGE, "sleep", "600",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        !o.status.success() && err.contains(&format!("would not give {pin}")),
        "{err}"
    );
    let _ = engine.docker(&["rm", "-f", "clash"]);
    engine.docker_ok(&["rm", "-f", "pinned"]);

    // docker rm -f gives the address back.
    engine.docker_ok(&["rm", "-f", "web"]);
    let gone = wait_for(Duration::from_secs(20), || {
        lab.released(&ip, &mac).then_some(())
    });
    assert!(
        gone.is_some(),
        "{ip} still leased after docker rm -f: {:?}\ndaemon:\n{}",
        lab.server_leases(),
        daemon.log()
    );

    // A lease another dhcpnet command took for a container (as `dhcpnet run`
    // does), and a plain `docker rm -f`: the event follower releases it.
    let mac2 = "02:42:0a:4d:00:52";
    ok(&lab.dhcpnet_root(
        &["lease", "--interface", &iface, "--mac", mac2, "-o", "json"],
        &engine.env(),
    ));
    // Its container on another network (a macvlan with Docker's own IPAM,
    // on the second veth: one macvlan network per parent).
    let other_parent = format!("parent={}", other_lab.parent());
    engine.docker_ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "10.79.0.0/24",
        "-o",
        &other_parent,
        "plain",
    ]);
    engine.docker_ok(&[
        "run",
        "-d",
        "--net",
        "plain",
        "--mac-address",
        mac2,
        "--name",
        "other",
        IMAGE,
        "sleep",
        "600",
    ]);
    let attached = wait_for(Duration::from_secs(20), || {
        let l = ok(&lab.dhcpnet_root(&["leases", "-o", "json"], &[]));
        l.as_array()?
            .iter()
            .find(|x| x["mac"] == mac2 && x["container"].is_string())
            .cloned()
    });
    assert!(
        attached.is_some(),
        "the lease was not tied to its container; daemon:\n{}",
        daemon.log()
    );
    engine.docker_ok(&["rm", "-f", "other"]);
    let ip2 = attached
        .as_ref()
        .and_then(|l| l["ip"].as_str())
        .unwrap_or_default()
        .to_string();
    let gone2 = wait_for(Duration::from_secs(20), || {
        lab.released(&ip2, mac2).then_some(())
    });
    assert!(
        gone2.is_some(),
        "the follower did not release {mac2}; daemon:\n{}",
        daemon.log()
    );
    // The record goes right after the RELEASE is sent.
    let left = wait_for(Duration::from_secs(10), || {
        let l = ok(&lab.dhcpnet_root(&["leases", "-o", "json"], &[]));
        (l == serde_json::json!([])).then_some(())
    });
    assert!(
        left.is_some(),
        "records left: {}",
        common::text(&lab.dhcpnet_root(&["leases", "-o", "json"], &[]))
    );

    engine.docker_ok(&["network", "rm", "mcv0", "plain"]);
}

/// The tests below stand on: a lab with dnsmasq behind a root-side veth,
/// the shared engine, the plugin lock, `dhcpnet daemon` serving the plugin,
/// and the plugin network `mcv0` on the veth. Fields drop in order: the
/// network first (while the plugin still answers), then the daemon, the
/// lock, the engine, the lab.
struct Mcv0 {
    _nets: Networks,
    daemon: Daemon,
    _lock: std::fs::File,
    engine: Arc<Engine>,
    lab: Lab,
}

impl Mcv0 {
    fn start(v: Version) -> Option<Mcv0> {
        let mut lab = Lab::with_root_parent(&["dnsmasq", "ss"])?;
        let engine = engine_of(v)?;
        lab.start_dnsmasq(&[]);
        let lock = plugin_lock();
        let iface = lab.parent().to_string();
        let daemon = Daemon::start(&lab, &engine, &["--plugin-socket", PLUGIN_SOCKET], "daemon");
        let nets = Networks(engine.clone(), vec!["mcv0"]);
        plugin_network(&engine, &iface);
        Some(Mcv0 {
            _nets: nets,
            daemon,
            _lock: lock,
            engine,
            lab,
        })
    }
}

/// A plugin network `mcv0` on the lab's veth, with the daemon serving the
/// plugin.
fn plugin_network(engine: &common::docker::Engine, iface: &str) {
    engine.plugin_network("mcv0", iface, Some(iface));
}

/// (IP, MAC) of a container on mcv0.
fn on_mcv0(engine: &common::docker::Engine, name: &str) -> (String, String) {
    let c = inspect(engine, name);
    let n = &c["NetworkSettings"]["Networks"]["mcv0"];
    (
        n["IPAddress"].as_str().unwrap_or_default().to_string(),
        n["MacAddress"].as_str().unwrap_or_default().to_string(),
    )
}

crate::on_each_engine!(a_container_keeps_its_address_and_one_lease_across_restarts_and_stop_start);

fn a_container_keeps_its_address_and_one_lease_across_restarts_and_stop_start(v: Version) {
    let Some(m) = Mcv0::start(v) else { return };
    let Mcv0 {
        lab,
        engine,
        daemon,
        ..
    } = &m;
    engine.docker_ok(&[
        "run",
        "-d",
        "--net",
        "mcv0",
        "--name",
        "web",
        "--hostname",
        "web-1",
        "--restart",
        "always",
        IMAGE,
        "sleep",
        "600",
    ]);
    let (ip, mac) = on_mcv0(engine, "web");
    // The follower has tied the lease to the container once the hostname shows.
    let named = wait_for(Duration::from_secs(30), || {
        lab.server_leases()
            .into_iter()
            .find(|r| r.0 == mac && r.2 == "web-1")
    });
    assert!(
        named.is_some(),
        "{:?}\n{}",
        lab.server_leases(),
        daemon.log()
    );
    let mut macs = vec![mac];
    for step in ["restart", "stop-start", "restart"] {
        if step == "restart" {
            engine.docker_ok(&["restart", "-t", "0", "web"]);
        } else {
            engine.docker_ok(&["stop", "-t", "0", "web"]);
            engine.docker_ok(&["start", "web"]);
        }
        let (now, mac) = on_mcv0(engine, "web");
        assert_eq!(
            now,
            ip,
            "after {step}: a new address; daemon:\n{}",
            daemon.log()
        );
        macs.push(mac.clone());
        // Exactly one lease at the server, for the endpoint's MAC of now.
        let one = wait_for(Duration::from_secs(10), || {
            let rows = lab.server_leases();
            (rows.len() == 1 && rows[0].0 == mac && rows[0].1 == ip).then_some(())
        });
        assert!(
            one.is_some(),
            "after {step}: {:?}\ndaemon:\n{}",
            lab.server_leases(),
            daemon.log()
        );
    }
    // The engine made up a new MAC each time: the identity is not the MAC.
    macs.sort();
    macs.dedup();
    assert_eq!(macs.len(), 4, "{macs:?}");
    // The dhcpnet records hold one lease too, and rm gives it back.
    let records = common::ok(&lab.dhcpnet_root(&["leases", "-o", "json"], &[]));
    assert_eq!(records.as_array().map(Vec::len), Some(1), "{records}");
    engine.docker_ok(&["rm", "-f", "web"]);
    let gone = wait_for(Duration::from_secs(20), || {
        lab.server_leases().is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "{:?}\n{}",
        lab.server_leases(),
        daemon.log()
    );
}

crate::on_each_engine!(network_connect_of_a_running_container_sends_its_hostname);

fn network_connect_of_a_running_container_sends_its_hostname(v: Version) {
    let Some(m) = Mcv0::start(v) else { return };
    let Mcv0 {
        lab,
        engine,
        daemon,
        ..
    } = &m;
    engine.docker_ok(&[
        "run",
        "-d",
        "--net",
        "mcv0",
        "--name",
        "late",
        "--hostname",
        "late-1",
        IMAGE,
        "sleep",
        "600",
    ]);
    let (_, first) = on_mcv0(engine, "late");
    let named = wait_for(Duration::from_secs(30), || {
        lab.server_leases()
            .into_iter()
            .find(|r| r.0 == first && r.2 == "late-1")
    });
    assert!(
        named.is_some(),
        "{:?}\n{}",
        lab.server_leases(),
        daemon.log()
    );
    // Connected again while running: a new endpoint (new MAC), leased by the
    // plugin without a hostname; the follower sends it after the connect.
    engine.docker_ok(&["network", "disconnect", "mcv0", "late"]);
    engine.docker_ok(&["network", "connect", "mcv0", "late"]);
    let (ip, mac) = on_mcv0(engine, "late");
    assert_ne!(mac, first);
    let named = wait_for(Duration::from_secs(30), || {
        lab.server_leases()
            .into_iter()
            .find(|r| r.0 == mac && r.1 == ip && r.2 == "late-1")
    });
    assert!(
        named.is_some(),
        "no hostname after network connect: {:?}\ndaemon:\n{}",
        lab.server_leases(),
        daemon.log()
    );
    assert_eq!(lab.server_leases().len(), 1, "{:?}", lab.server_leases());
}

crate::on_each_engine!(a_pool_naming_no_interface_is_refused_with_both_fixes_named);

fn a_pool_naming_no_interface_is_refused_with_both_fixes_named(v: Version) {
    let Some(lab) = Lab::with_root_parent(&["ss"]) else {
        return;
    };
    let Some(engine) = engine_of(v) else { return };
    let _lock = plugin_lock();
    let daemon = Daemon::start(&lab, &engine, &["--plugin-socket", PLUGIN_SOCKET], "daemon");
    let _nets = Networks(engine.clone(), vec!["nameless"]);
    // A subnet no interface of this host reaches, no dhcp_interface option
    // (as from Compose), no --default-interface.
    let o = engine.docker(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--ipam-driver",
        "dhcpnet",
        "--subnet",
        "10.251.77.0/24",
        "-o",
        &format!("parent={}", lab.parent()),
        "nameless",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "created; daemon:\n{}", daemon.log());
    assert!(
        err.contains("--ipam-opt dhcp_interface=IFACE")
            && err.contains("--default-interface IFACE")
            && err.contains("10.251.77.0/24"),
        "{err}"
    );
}

crate::on_each_engine!(a_container_with_a_fixed_mac_keeps_its_address_when_stopped_with_others);

fn a_container_with_a_fixed_mac_keeps_its_address_when_stopped_with_others(v: Version) {
    let Some(m) = Mcv0::start(v) else { return };
    let Mcv0 {
        lab,
        engine,
        daemon,
        ..
    } = &m;
    let fixed_mac = "02:42:0a:4d:00:61";
    engine.docker_ok(&[
        "run",
        "-d",
        "--net",
        "mcv0",
        "--name",
        "fixed",
        "--mac-address",
        fixed_mac,
        IMAGE,
        "sleep",
        "600",
    ]);
    engine.docker_ok(&[
        "run", "-d", "--net", "mcv0", "--name", "free", IMAGE, "sleep", "600",
    ]);
    let (fixed_ip, mac) = on_mcv0(engine, "fixed");
    assert_eq!(mac, fixed_mac);
    // Both tied to their containers by the follower.
    let tied = wait_for(Duration::from_secs(30), || {
        let l = common::ok(&lab.dhcpnet_root(&["leases", "-o", "json"], &[]));
        let n = l
            .as_array()?
            .iter()
            .filter(|x| x["container"].is_string())
            .count();
        (n == 2).then_some(())
    });
    assert!(tied.is_some(), "{}", daemon.log());
    // Both stopped, then both started: two kept addresses at once.
    engine.docker_ok(&["stop", "-t", "0", "fixed", "free"]);
    engine.docker_ok(&["start", "fixed", "free"]);
    assert_eq!(on_mcv0(engine, "fixed").0, fixed_ip, "{}", daemon.log());
    // One lease per container at the server, for the endpoints of now.
    let (free_ip, free_mac) = on_mcv0(engine, "free");
    let one_each = wait_for(Duration::from_secs(20), || {
        let mut rows = lab.server_leases();
        rows.sort();
        let mut want = vec![
            (fixed_mac.to_string(), fixed_ip.clone()),
            (free_mac.clone(), free_ip.clone()),
        ];
        want.sort();
        let got: Vec<(String, String)> = rows.into_iter().map(|r| (r.0, r.1)).collect();
        (got == want).then_some(())
    });
    assert!(
        one_each.is_some(),
        "{:?}\ndaemon:\n{}",
        lab.server_leases(),
        daemon.log()
    );
}
