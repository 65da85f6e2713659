//! Compose v2 (2.26, unpacked with Docker 26.1 by scripts/setup.sh) against
//! the tests' own engine: the plumbing the dhcpnet Compose tests stand on.
//! The network is a plain macvlan (Docker's own IPAM) on a lab veth in the
//! root namespace; nothing is sent on the machine's own interfaces.

mod common;

use common::Lab;
use common::docker::{NetworkGuard, compose, engine26};
use serde_json::Value;

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn docker_compose_brings_a_plain_macvlan_network_up_and_down_on_docker_26() {
    let Some(lab) = Lab::with_root_parent(&[]) else {
        return;
    };
    let Some(e) = engine26() else { return };
    let version = compose(&e, lab.dir.path(), &["version"]);
    assert!(version.status.success(), "{}", text(&version));
    assert!(
        text(&version).contains("Docker Compose version") && text(&version).contains("2.26"),
        "{}",
        text(&version)
    );

    let project = format!("dnc{}", std::process::id());
    let net = format!("{project}_lan");
    let _guard = NetworkGuard {
        engine: e.clone(),
        name: net.clone(),
    };
    std::fs::write(
        lab.dir.path().join("compose.yaml"),
        format!(
            "services:
  box:
    image: {image}
    pull_policy: never
    command: [\"sleep\", \"600\"]
    networks:
      lan:
        ipv4_address: 10.81.0.10
networks:
  lan:
    driver: macvlan
    driver_opts:
      parent: {parent}
    ipam:
      config:
        - subnet: 10.81.0.0/24
",
            image = common::docker::IMAGE,
            parent = lab.parent()
        ),
    )
    .unwrap();
    let up = compose(&e, lab.dir.path(), &["-p", &project, "up", "-d"]);
    assert!(up.status.success(), "{}\ndockerd:\n{}", text(&up), e.log());
    let inspect: Value =
        serde_json::from_str(&e.docker_ok(&["network", "inspect", "--format", "{{json .}}", &net]))
            .unwrap();
    assert_eq!(inspect["Driver"], "macvlan", "{inspect}");
    assert_eq!(inspect["Options"]["parent"], lab.parent(), "{inspect}");
    assert_eq!(
        inspect["IPAM"]["Config"][0]["Subnet"], "10.81.0.0/24",
        "{inspect}"
    );
    let ps = compose(&e, lab.dir.path(), &["-p", &project, "ps", "-q", "box"]);
    let id = String::from_utf8_lossy(&ps.stdout).trim().to_string();
    assert!(!id.is_empty(), "{}", text(&ps));
    let f = format!(
        "{{{{.State.Running}}}} {{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"
    );
    assert_eq!(
        e.docker_ok(&["inspect", "--format", &f, &id]),
        "true 10.81.0.10"
    );
    let addr = e.docker_ok(&["exec", &id, "ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains("inet 10.81.0.10/24"), "{addr}");

    let down = compose(&e, lab.dir.path(), &["-p", &project, "down", "-t", "0"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(!e.has_network(&net), "compose down removed {net}");
    assert!(
        !e.docker(&["inspect", &id]).status.success(),
        "compose down removed the container"
    );
}

/// The fixed MAC of the compose tests' `pinned` service.
const PINNED_MAC: &str = "02:42:0a:4d:00:31";

/// `docker compose up` of `service` (hostname `host`) on a network `lan`
/// that uses the dhcpnet plugin, defined in the compose file or
/// `external`; the container's address must be a DHCP lease in dnsmasq's
/// table, with its hostname; `down` gives it back.
fn compose_on_the_plugin(external: bool) {
    use common::docker::{Daemon, PLUGIN_SOCKET, plugin_lock};
    use common::wait_for;
    use std::time::Duration;
    let Some(mut lab) = Lab::with_root_parent(&["dnsmasq", "ss"]) else {
        return;
    };
    let Some(e) = engine26() else { return };
    lab.start_dnsmasq(&[]);
    let _lock = plugin_lock();
    let iface = lab.parent().to_string();
    // Compose passes no ipam options (Options: null): the daemon's default
    // interface names the DHCP interface.
    let daemon = Daemon::start(
        &lab,
        &e,
        &[
            "--plugin-socket",
            PLUGIN_SOCKET,
            "--default-interface",
            &iface,
        ],
        "daemon",
    );
    let project = format!("dnp{}{}", std::process::id(), u8::from(external));
    let net = if external {
        format!("{project}-ext")
    } else {
        format!("{project}_lan")
    };
    let _guard = NetworkGuard {
        engine: e.clone(),
        name: net.clone(),
    };
    let network = if external {
        e.plugin_network(&net, &iface, None);
        format!("  lan:\n    external: true\n    name: {net}\n")
    } else {
        format!(
            "  lan:
    driver: macvlan
    driver_opts:
      parent: {iface}
    ipam:
      driver: dhcpnet
      config:
        - subnet: 10.77.0.0/24
"
        )
    };
    std::fs::write(
        lab.dir.path().join("compose.yaml"),
        format!(
            "services:
  box:
    image: {image}
    pull_policy: never
    hostname: box-1
    restart: always
    command: [\"sleep\", \"600\"]
    networks: [lan]
  pinned:
    image: {image}
    pull_policy: never
    hostname: pinned-1
    restart: always
    command: [\"sleep\", \"600\"]
    networks:
      lan:
        mac_address: {PINNED_MAC}
networks:
{network}",
            image = common::docker::IMAGE,
        ),
    )
    .unwrap();
    let up = compose(&e, lab.dir.path(), &["-p", &project, "up", "-d"]);
    assert!(
        up.status.success(),
        "{}\ndaemon:\n{}",
        text(&up),
        daemon.log()
    );
    let ps = compose(&e, lab.dir.path(), &["-p", &project, "ps", "-q", "box"]);
    let id = String::from_utf8_lossy(&ps.stdout).trim().to_string();
    let f = format!(
        "{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}} {{{{(index .NetworkSettings.Networks \"{net}\").MacAddress}}}}"
    );
    let got = e.docker_ok(&["inspect", "--format", &f, &id]);
    let (ip, mac) = got.split_once(' ').expect("ip and mac");
    assert!(ip.starts_with("10.77.0."), "{got}");
    let row = wait_for(Duration::from_secs(30), || {
        lab.server_leases()
            .into_iter()
            .find(|r| r.0 == mac && r.1 == ip && r.2 == "box-1")
    });
    assert!(
        row.is_some(),
        "dnsmasq: {:?}\ndaemon:\n{}",
        lab.server_leases(),
        daemon.log()
    );
    assert!(
        daemon.log().contains("--default-interface"),
        "{}",
        daemon.log()
    );
    // The per-network `mac_address:` (the one README recommends) reaches
    // the plugin: the lease is that MAC's, and a restart keeps the address.
    let pinned = |what: &str| {
        let ps = compose(&e, lab.dir.path(), &["-p", &project, "ps", "-q", "pinned"]);
        let id = String::from_utf8_lossy(&ps.stdout).trim().to_string();
        let got = e.docker_ok(&["inspect", "--format", &f, &id]);
        let (ip, mac) = got.split_once(' ').expect("ip and mac");
        assert_eq!(mac, PINNED_MAC, "{what}: {got}");
        ip.to_string()
    };
    let pinned_ip = pinned("up");
    let row = wait_for(Duration::from_secs(30), || {
        lab.server_leases()
            .into_iter()
            .find(|r| r.0 == PINNED_MAC && r.1 == pinned_ip && r.2 == "pinned-1")
    });
    assert!(row.is_some(), "dnsmasq: {:?}", lab.server_leases());
    let restart = compose(
        &e,
        lab.dir.path(),
        &["-p", &project, "restart", "-t", "0", "pinned"],
    );
    assert!(restart.status.success(), "{}", text(&restart));
    assert_eq!(pinned("restart"), pinned_ip, "daemon:\n{}", daemon.log());
    let down = compose(&e, lab.dir.path(), &["-p", &project, "down", "-t", "0"]);
    assert!(down.status.success(), "{}", text(&down));
    let gone = wait_for(Duration::from_secs(20), || {
        lab.server_leases().is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "still leased after compose down: {:?}\ndaemon:\n{}",
        lab.server_leases(),
        daemon.log()
    );
}

#[test]
fn compose_containers_get_dhcp_leases_on_a_plugin_network_defined_in_the_compose_file_on_docker_26()
{
    compose_on_the_plugin(false);
}

#[test]
fn compose_containers_get_dhcp_leases_on_an_external_plugin_network_on_docker_26() {
    compose_on_the_plugin(true);
}
