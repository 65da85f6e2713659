//! ipvlan L2 on a real kernel (user-mode-linux, see common/uml.rs; the host
//! kernel has no ipvlan): two namespaces with ipvlan L2 slaves of one
//! parent (VLAN 10 of the lab, where dnsmasq serves), each leased by dhcpnet
//! on the parent with the parent's MAC and a client id of its own, the
//! addresses configured in the namespaces and reached from the server's
//! side, one renewed (the server's unicast ACK to the container's address
//! reaches the parent's packet socket before ipvlan hands it on), one
//! released alone.
//!
//! Nothing leaves the UML kernel: its network is a veth pair inside it.

mod common;

use std::time::Duration;

use common::uml::Timeouts;

/// The steps, after the lab is up; `{mods}` is the module tree.
fn steps(modules: &str) -> String {
    let m = format!("/usr/lib/uml/modules/{modules}/kernel");
    format!(
        r#"
for k in lib/crc-ccitt.ko net/ipv6/ipv6.ko drivers/net/ipvlan/ipvlan.ko; do
  busybox insmod {m}/$k || echo "@@@ insmod-failed $k"
done
ip link add link v0 name v0.10 type vlan id 10
ip link set v0.10 up
MAC=$(cat /sys/class/net/v0.10/address)
for c in a b; do
  ip netns add $c
  ip link add link v0.10 name ip$c type ipvlan mode l2
  ip link set ip$c netns $c
  ip -n $c link set lo up
  ip -n $c link set ip$c up
done
step mac cat /sys/class/net/v0.10/address
step la $D lease --interface v0.10 --mac $MAC --client-id dhcpnet:lan/a --hostname a --timeout 10 -o json
IPA=$(grep -o '"ip": *"[0-9.]*"' /run/out | head -1 | cut -d'"' -f4)
step lb $D lease --interface v0.10 --mac $MAC --client-id dhcpnet:lan/b --hostname b --timeout 10 -o json
IPB=$(grep -o '"ip": *"[0-9.]*"' /run/out | head -1 | cut -d'"' -f4)
ip -n a addr add $IPA/24 dev ipa
ip -n b addr add $IPB/24 dev ipb
step pinga ip netns exec srv ping -c 2 -W 2 $IPA
step pingb ip netns exec srv ping -c 2 -W 2 $IPB
step macs ip netns exec srv ip neigh show dev v1.10
sleep 1.2
step renewa $D renew --ip $IPA --timeout 10 -o json
step releaseb $D release --ip $IPB -o json
sleep 0.5
step srvleases cat /run/srv.leases
step leases $D leases -o json
step dnsmasqlog cat /run/dnsmasq.log
"#
    )
}

const TIMEOUTS: Timeouts = Timeouts {
    step: Duration::from_secs(20),
    boot: Duration::from_secs(90),
};

#[test]
fn two_ipvlan_containers_on_one_mac_lease_by_client_id_are_reachable_renew_and_release_alone() {
    let Some(modules) = common::uml::available() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let run = common::uml::run(dir.path(), &modules, &steps(&modules), TIMEOUTS);
    let mac = run.ok("mac").stdout.trim().to_string();
    let a = run.json("la");
    let b = run.json("lb");
    let (ipa, ipb) = (
        a["ip"].as_str().expect("an address for a").to_string(),
        b["ip"].as_str().expect("an address for b").to_string(),
    );
    assert_ne!(ipa, ipb, "two client ids, two addresses");
    assert_eq!(a["mac"], mac.as_str());
    assert_eq!(b["mac"], mac.as_str());
    // Reachable from the server's side, both behind the one MAC.
    run.ok("pinga");
    run.ok("pingb");
    let neigh = &run.ok("macs").stdout;
    assert!(
        neigh.contains(&ipa) && neigh.contains(&ipb) && neigh.matches(&mac).count() >= 2,
        "both addresses at the parent's MAC: {neigh}"
    );
    // Renewed by a unicast exchange with the server.
    let r = run.json("renewa");
    assert_eq!(r[0]["result"], "renewed", "{r}");
    assert_eq!(r[0]["ip"], ipa.as_str());
    // Released alone.
    let rel = run.json("releaseb");
    assert_eq!(rel.as_array().map(Vec::len), Some(1), "{rel}");
    assert_eq!(rel[0]["ip"], ipb.as_str());
    let srv = &run.ok("srvleases").stdout;
    assert!(
        srv.contains(&ipa) && !srv.contains(&format!(" {ipb} ")),
        "dnsmasq keeps a, drops b: {srv}"
    );
    let left = run.json("leases");
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left[0]["ip"], ipa.as_str());
}
