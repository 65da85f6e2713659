//! `create --vlan` and `delete` on a real 802.1Q kernel (user-mode-linux, see
//! common/uml.rs): dhcpnet creates PARENT.VID through its links machinery,
//! probes across it, records it as the network's, and `delete` removes it; a
//! failed `docker network create` removes it again. There is no Docker
//! Engine inside UML: a fake docker CLI (DHCPNET_DOCKER) logs its arguments
//! and answers `network create/inspect/rm` and `ps` (no containers); tests/docker.rs covers the real
//! engine.

mod common;

use std::time::Duration;

use common::uml::Timeouts;
use serde_json::json;

/// A hung kernel or step is killed.
const TIMEOUTS: Timeouts = Timeouts {
    step: Duration::from_secs(30),
    boot: Duration::from_secs(90),
};

fn fake_docker(dir: &std::path::Path) -> std::path::PathBuf {
    let inspect = json!([{
        "Name": "vnet", "Id": "fakeid-vnet", "Driver": "macvlan",
        "IPAM": {"Config": [{"Subnet": "10.88.10.0/24", "Gateway": "10.88.10.1"}]},
        "Options": {"parent": "v0.10"},
        "Labels": {"io.dhcpnet.managed": "true", "io.dhcpnet.dhcp-interface": "v0.10",
                   "io.dhcpnet.parent": "v0.10", "io.dhcpnet.vlan": "10", "io.dhcpnet.owned-link": "v0.10"},
        "Containers": {}
    }]);
    std::fs::write(dir.join("inspect-vnet.json"), inspect.to_string()).expect("inspect json");
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> /run/docker.log
case "$1 $2" in
  "network create")
    for last; do :; done
    if [ "$last" = failnet ]; then echo "Error response from daemon: simulated failure" >&2; exit 1; fi
    touch "/run/net-$last"; echo "fakeid-$last"; exit 0;;
  "network inspect")
    [ -f "/run/net-$4" ] || {{ echo "Error: No such network: $4" >&2; exit 1; }}
    cat "{dir}/inspect-$4.json"; exit 0;;
  "network rm")
    rm -f "/run/net-$3"; echo "$3"; exit 0;;
  "ps -a")
    exit 0;;
esac
echo "fake docker: unexpected: $*" >&2
exit 1
"#,
        dir = dir.display()
    );
    common::executable(&dir.join("fakedocker"), &script)
}

#[test]
fn create_vlan_and_delete_on_a_real_8021q_kernel() {
    let Some(modules) = common::uml::available() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let docker = fake_docker(dir.path());
    let steps = format!(
        r#"
export DHCPNET_DOCKER={docker}
step create $D create vnet --parent v0 --vlan 10 --subnet 10.88.10.0/24 --timeout 5 -o json
step show ip -d link show v0.10
step dockerlog cat /run/docker.log
step lease $D lease vnet --hostname uml-c --timeout 10 -o json
step delete $D delete vnet -o json
step gone ip link show v0.10
step srv cat /run/srv.leases
step failcreate $D create failnet --parent v0 --vlan 20 --subnet 10.88.10.0/24 --timeout 1
step gone20 ip link show v0.20
step nets ls -A /run/state/networks.d
step links $D vlan list -o json
"#,
        docker = docker.display()
    );
    let run = common::uml::run(dir.path(), &modules, &steps, TIMEOUTS);

    // create --vlan: the link is dhcpnet's, the network sits on it.
    let c = run.json("create");
    assert_eq!(c["parent"], "v0.10", "{c}");
    assert_eq!(c["dhcp_interface"], "v0.10", "{c}");
    assert_eq!(c["owned_link"], "v0.10", "{c}");
    assert_eq!(c["vlan"], 10, "{c}");
    assert_eq!(c["gateway"], "10.88.10.1", "{c}");
    let show = &run.ok("show").stdout;
    assert!(
        show.contains("vlan protocol 802.1Q id 10") && show.contains("alias dhcpnet-owned"),
        "{show}"
    );
    let log = &run.ok("dockerlog").stdout;
    assert!(
        log.contains(
            "network create --driver macvlan --subnet 10.88.10.0/24 --gateway 10.88.10.1 --ip-range 10.88.10.1/32 --opt parent=v0.10 \
             --label io.dhcpnet.managed=true --label io.dhcpnet.dhcp-interface=v0.10 --label io.dhcpnet.parent=v0.10 \
             --label io.dhcpnet.vlan=10 --label io.dhcpnet.owned-link=v0.10 vnet"
        ),
        "{log}"
    );
    // lease NET goes out on the VLAN link.
    let l = run.json("lease");
    assert_eq!(l["interface"], "v0.10", "{l}");
    assert!(
        l["ip"].as_str().is_some_and(|i| i.starts_with("10.88.10.")),
        "{l}"
    );
    // delete: leases released, network removed, link deleted.
    let d = run.json("delete");
    assert_eq!(d["links_deleted"], json!(["v0.10"]), "{d}");
    assert_eq!(d["docker_network_removed"], true, "{d}");
    assert_ne!(run.get("gone").rc, Some(0), "v0.10 still exists");
    assert!(
        !run.ok("srv").stdout.contains("uml-c"),
        "the lease was released: {:?}",
        run.get("srv")
    );
    // A failed docker network create deletes the VLAN link it had made.
    let f = run.get("failcreate");
    assert_eq!(f.rc, Some(10), "{f:?}");
    assert!(
        f.stderr.contains("simulated failure") && f.stderr.contains("deleted v0.20 again"),
        "{f:?}"
    );
    assert_ne!(run.get("gone20").rc, Some(0), "v0.20 still exists");
    let nets = &run.ok("nets").stdout;
    assert_eq!(nets.trim(), "", "network records left: {nets}");
    assert_eq!(run.json("links"), json!([]));
}
