//! ipvlan L2 on a real kernel (user-mode-linux, see common/uml.rs; the host
//! kernel has no ipvlan): two namespaces with ipvlan L2 slaves of one
//! parent (VLAN 10 of the lab, where dnsmasq serves), each leased by dhcpnet
//! on the parent with the parent's MAC and a client id of its own, the
//! addresses configured in the namespaces and reached from the server's
//! side, one renewed (the server's unicast ACK to the container's address
//! reaches the parent's packet socket before ipvlan hands it on), one
//! released alone; against the lab's dnsmasq, then against kea.
//!
//! Nothing leaves the UML kernel: its network is a veth pair inside it.

mod common;

use std::time::Duration;

use common::uml::Timeouts;

/// The steps, after the lab is up: the ipvlan slaves, a round against the
/// lab's dnsmasq, then dnsmasq stopped and a round against kea.
fn steps(modules: &str) -> String {
    let lab = common::uml::ipvlan_containers(modules, &["a", "b"]);
    let kea = serde_json::json!({"Dhcp4": {
        "interfaces-config": {"interfaces": ["v1.10"], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": true, "lfc-interval": 0,
                           "name": "/run/kea-leases4.csv"},
        "valid-lifetime": 600,
        "subnet4": [{"id": 1, "subnet": "10.88.10.0/24",
                     "pools": [{"pool": "10.88.10.50 - 10.88.10.150"}],
                     "option-data": [{"name": "routers", "data": "10.88.10.1"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                     "output_options": [{"output": "/run/kea.log"}]}]
    }});
    format!(
        r#"
{lab}
step mac cat /sys/class/net/v0.10/address
round() {{
  P=$1
  step ${{P}}la $D lease --interface v0.10 --mac $MAC --client-id dhcpnet:$P/a --hostname a --timeout 10 -o json
  IPA=$(grep -o '"ip": *"[0-9.]*"' /run/out | head -1 | cut -d'"' -f4)
  step ${{P}}lb $D lease --interface v0.10 --mac $MAC --client-id dhcpnet:$P/b --hostname b --timeout 10 -o json
  IPB=$(grep -o '"ip": *"[0-9.]*"' /run/out | head -1 | cut -d'"' -f4)
  ip -n a addr add $IPA/24 dev ipa
  ip -n b addr add $IPB/24 dev ipb
  step ${{P}}pinga ip netns exec srv ping -c 2 -W 2 $IPA
  step ${{P}}pingb ip netns exec srv ping -c 2 -W 2 $IPB
  step ${{P}}macs ip netns exec srv ip neigh show dev v1.10
  sleep 1.2
  step ${{P}}renewa $D renew --ip $IPA --timeout 10 -o json
  step ${{P}}releaseb $D release --ip $IPB -o json
  sleep 0.5
  step ${{P}}leases $D leases -o json
  step ${{P}}releaseall $D release --interface v0.10 --all -o json
  ip -n a addr flush dev ipa
  ip -n b addr flush dev ipb
  ip netns exec srv ip neigh flush dev v1.10
}}
round dns
step srvleases cat /run/srv.leases
kill $(ip netns pids srv)
sleep 0.5
cat > /run/kea.json <<'KEA'
{kea}
KEA
KEA_PIDFILE_DIR=/run KEA_LOCKFILE_DIR=/run ip netns exec srv kea-dhcp4 -c /run/kea.json >/run/kea.stderr 2>&1 &
for i in $(seq 50); do ip netns exec srv ss -uln | grep -q ':67 ' && break; sleep 0.1; done
round kea
step keacsv cat /run/kea-leases4.csv
step keadebug cat /run/kea.log /run/kea.stderr
"#
    )
}

const TIMEOUTS: Timeouts = Timeouts {
    step: Duration::from_secs(20),
    boot: Duration::from_secs(90),
};

/// What one round showed: two addresses behind one MAC, reached from the
/// server's side, one renewed by unicast, the other released alone.
fn check_round(run: &common::uml::Run, p: &str, mac: &str) -> (String, String) {
    let a = run.json(&format!("{p}la"));
    let b = run.json(&format!("{p}lb"));
    let (ipa, ipb) = (
        a["ip"].as_str().expect("an address for a").to_string(),
        b["ip"].as_str().expect("an address for b").to_string(),
    );
    assert_ne!(ipa, ipb, "{p}: two client ids, two addresses");
    assert_eq!(a["mac"], mac);
    assert_eq!(b["mac"], mac);
    run.ok(&format!("{p}pinga"));
    run.ok(&format!("{p}pingb"));
    let neigh = &run.ok(&format!("{p}macs")).stdout;
    assert!(
        neigh.contains(&ipa) && neigh.contains(&ipb) && neigh.matches(mac).count() >= 2,
        "{p}: both addresses at the parent's MAC: {neigh}"
    );
    let r = run.json(&format!("{p}renewa"));
    assert_eq!(r[0]["result"], "renewed", "{p}: {r}");
    assert_eq!(r[0]["ip"], ipa.as_str());
    let rel = run.json(&format!("{p}releaseb"));
    assert_eq!(rel.as_array().map(Vec::len), Some(1), "{p}: {rel}");
    assert_eq!(rel[0]["ip"], ipb.as_str());
    let left = run.json(&format!("{p}leases"));
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{p}: {left}");
    assert_eq!(left[0]["ip"], ipa.as_str());
    run.ok(&format!("{p}releaseall"));
    (ipa, ipb)
}

#[test]
fn two_ipvlan_containers_on_one_mac_lease_by_client_id_are_reachable_renew_and_release_alone() {
    let Some(modules) = common::uml::available() else {
        return;
    };
    if !common::require(&["kea-dhcp4"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let run = common::uml::run(dir.path(), &modules, &steps(&modules), TIMEOUTS);
    let mac = run.ok("mac").stdout.trim().to_string();

    let (ipa, ipb) = check_round(&run, "dns", &mac);
    // Every release reached dnsmasq (b alone, then the rest).
    let srv = &run.ok("srvleases").stdout;
    assert!(
        !srv.contains(&format!(" {ipb} ")) && !srv.contains(&format!(" {ipa} ")),
        "dnsmasq dropped both leases: {srv}"
    );

    let (ipa, _) = check_round(&run, "kea", &mac);
    let csv = &run.ok("keacsv").stdout;
    assert!(
        csv.lines()
            .filter(|l| l.starts_with(&format!("{ipa},")))
            .count()
            >= 2,
        "kea recorded a's lease and its renewal: {csv}\n{}",
        run.ok("keadebug").stdout
    );
}
