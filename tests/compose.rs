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
