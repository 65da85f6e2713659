//! The host shim for ipvlan parents on a real kernel (user-mode-linux, see
//! common/uml.rs; the host kernel has no ipvlan): "containers" are
//! namespaces holding ipvlan L2 slaves of the lab's VLAN 10 parent, leased
//! by dhcpnet on the parent with the parent's MAC and a client id each. The
//! host, with an address on the parent as a LAN host has, cannot reach them
//! until `shim add --driver ipvlan` makes an ipvlan sibling with a lease of
//! its own (the parent's MAC again, its own client id) and a /32 route per
//! leased address. Then: a later container is routed too, the shim's lease
//! renews, `restore` rebuilds a shim deleted behind dhcpnet's back, and
//! `shim del` takes away link, routes and lease (released at the server)
//! while the containers' leases stay; and `release --all` on the parent
//! gives back the containers' leases but keeps the shim's.
//!
//! Nothing leaves the UML kernel: its network is a veth pair inside it.

mod common;

use std::time::Duration;

use common::uml::{Run, Timeouts};
use serde_json::Value;

const SHIM: &str = "shim-v0.10";

fn steps(modules: &str) -> String {
    let lab = common::uml::ipvlan_containers(modules, &["a", "b"]);
    format!(
        r#"
{lab}
ip_of() {{ grep -o '"ip": *"[0-9.]*"' /run/out | head -1 | cut -d'"' -f4; }}
step mac cat /sys/class/net/v0.10/address
step la $D lease --interface v0.10 --mac $MAC --client-id dhcpnet:lab/a --hostname a --timeout 10 -o json
IPA=$(ip_of)
ip -n a addr add $IPA/24 dev ipa
# The host has an address on the parent, as a LAN host does.
ip addr add 10.88.10.9/24 dev v0.10
step noshim ping -c 1 -W 1 $IPA
step add $D shim add v0.10 --driver ipvlan --hostname docker-host --timeout 10 -o json
SHIP=$(ip_of)
step link ip -d link show dev {SHIM}
step addr ip -4 addr show dev {SHIM}
step ping ping -c 2 -W 2 $IPA
sleep 0.5
step srv cat /run/srv.leases
step lb $D lease --interface v0.10 --mac $MAC --client-id dhcpnet:lab/b --hostname b --timeout 10 -o json
IPB=$(ip_of)
ip -n b addr add $IPB/24 dev ipb
step pingb ping -c 2 -W 2 $IPB
step list $D shim list -o json
sleep 1.2
step renew $D renew --ip $SHIP --timeout 10 -o json
ip link del {SHIM}
step restore $D restore -o json
step list2 $D shim list -o json
step ping2 ping -c 2 -W 2 $IPA
step del $D shim del {SHIM}
sleep 0.5
step gone ip link show dev {SHIM}
step routes ip -4 route show
step pingafter ping -c 1 -W 1 $IPA
step leases $D leases -o json
step srvafter cat /run/srv.leases
step readdmv $D shim add v0.10 --timeout 10 -o json
step readd $D shim add v0.10 --driver ipvlan --timeout 10 -o json
step relall $D release --interface v0.10 --all -o json
step leases2 $D leases -o json
step list3 $D shim list -o json
"#
    )
}

const TIMEOUTS: Timeouts = Timeouts {
    step: Duration::from_secs(20),
    boot: Duration::from_secs(120),
};

/// The client id dnsmasq's lease file shows for the shim on a parent with
/// MAC `mac` (aa:bb:...): type 0 and `dhcpnet-shim:<12 hex digits>:<name>`.
fn shim_client_id(mac: &str) -> String {
    common::text_client_id(&format!("dhcpnet-shim:{}:{SHIM}", mac.replace(':', "")))
}

/// dnsmasq's lease lines (expiry, MAC, IP, hostname, client id) for `mac`.
fn server_rows<'a>(run: &'a Run, step: &str, mac: &str) -> Vec<Vec<&'a str>> {
    run.ok(step)
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 5 && f[1] == mac)
        .collect()
}

fn routes(v: &Value) -> Vec<String> {
    let mut r: Vec<String> = v["routes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    r.sort();
    r
}

/// The addresses of a JSON list of leases, sorted.
fn ips(leases: &Value) -> Vec<String> {
    let mut r: Vec<String> = leases
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["ip"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    r.sort();
    r
}

#[test]
fn an_ipvlan_shim_leases_by_client_id_on_the_parent_mac_lets_the_host_reach_its_containers_and_goes_cleanly()
 {
    let Some(modules) = common::uml::available() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let run = common::uml::run(dir.path(), &modules, &steps(&modules), TIMEOUTS);
    let mac = run.ok("mac").stdout.trim().to_string();
    let ipa = run.json("la")["ip"]
        .as_str()
        .expect("a's address")
        .to_string();

    // The classic surprise, ipvlan edition: the parent cannot reach its own
    // children.
    assert_ne!(
        run.get("noshim").rc,
        Some(0),
        "reachable without a shim: the lab does not show the problem"
    );

    // The shim: an owned ipvlan L2 link with the parent's MAC and a lease
    // of its own, and a /32 route to the container.
    let v = run.json("add");
    assert_eq!(v["name"], SHIM, "{v}");
    assert_eq!(v["kind"], "ipvlan", "{v}");
    assert_eq!(v["mode"], "l2", "{v}");
    assert_eq!(v["mac"], mac.as_str(), "{v}");
    assert_eq!(v["state"], "owned", "{v}");
    let ship = v["ip"].as_str().expect("the shim's address").to_string();
    assert_ne!(ship, ipa);
    assert_eq!(routes(&v), vec![ipa.clone()], "{v}");
    let link = &run.ok("link").stdout;
    assert!(
        link.contains("ipvlan") && link.contains("mode l2"),
        "{link}"
    );
    assert!(
        link.contains("alias dhcpnet-owned ipvlan parent=v0.10"),
        "{link}"
    );
    assert!(
        run.ok("addr").stdout.contains(&format!("{ship}/32")),
        "{:?}",
        run.get("addr")
    );
    run.ok("ping");

    // At the server: the parent's MAC twice, told apart by client id.
    let rows = server_rows(&run, "srv", &mac);
    let shim_row = rows
        .iter()
        .find(|f| f[2] == ship)
        .unwrap_or_else(|| panic!("no lease for the shim at the server: {rows:?}"));
    assert_eq!(shim_row[4], shim_client_id(&mac), "{rows:?}");
    assert_eq!(shim_row[3], "docker-host", "{rows:?}");
    let a_row = rows
        .iter()
        .find(|f| f[2] == ipa)
        .unwrap_or_else(|| panic!("no lease for a at the server: {rows:?}"));
    assert_ne!(a_row[4], shim_row[4], "{rows:?}");

    // A container leased later is routed through the shim as well.
    let ipb = run.json("lb")["ip"]
        .as_str()
        .expect("b's address")
        .to_string();
    run.ok("pingb");
    let l = run.json("list");
    let mut both = vec![ipa.clone(), ipb.clone()];
    both.sort();
    assert_eq!(routes(&l[0]), both, "{l}");
    assert_eq!(l[0]["ip"], ship.as_str(), "{l}");

    // The shim's lease renews like any other (the daemon does the same).
    let r = run.json("renew");
    assert_eq!(r[0]["result"], "renewed", "{r}");
    assert_eq!(r[0]["ip"], ship.as_str(), "{r}");

    // Deleted behind dhcpnet's back (a reboot): restore brings it back,
    // address and routes included.
    let r = run.json("restore");
    assert_eq!(r[0]["action"], "recreated", "{r}");
    let l = run.json("list2");
    assert_eq!(l[0]["kind"], "ipvlan", "{l}");
    assert_eq!(l[0]["exists"], true, "{l}");
    assert_eq!(routes(&l[0]), both, "{l}");
    run.ok("ping2");

    // shim del: link, routes and lease gone, released at the server; the
    // containers' leases untouched.
    run.ok("del");
    assert_ne!(run.get("gone").rc, Some(0), "the shim link is still there");
    let table = &run.ok("routes").stdout;
    assert!(!table.contains(SHIM), "routes left behind: {table}");
    assert_ne!(
        run.get("pingafter").rc,
        Some(0),
        "still reachable after shim del"
    );
    let leases = run.json("leases");
    assert_eq!(ips(&leases), both, "{leases}");
    let rows = server_rows(&run, "srvafter", &mac);
    assert!(
        rows.iter().all(|f| f[2] != ship),
        "the server still has the shim's lease: {rows:?}"
    );
    let mut kept: Vec<&str> = rows.iter().map(|f| f[2]).collect();
    kept.sort();
    assert_eq!(kept, both, "{rows:?}");

    // Without --driver (and no network records here) the shim would be
    // macvlan, which the kernel refuses beside ipvlan containers: the
    // error says which driver to use, and nothing is left.
    let mv = run.get("readdmv");
    assert_eq!(mv.rc, Some(3), "{mv:?}");
    assert!(mv.stderr.contains("--driver ipvlan"), "{mv:?}");
    // Added again as ipvlan, then `release --all` on the parent: the
    // containers' leases go, the shim's stays with the shim, and the user
    // is told.
    let v = run.json("readd");
    assert_eq!(v["kind"], "ipvlan", "{v}");
    let rel = run.json("relall");
    assert!(
        run.get("relall").stderr.contains("shim del shim-v0.10"),
        "{:?}",
        run.get("relall")
    );
    assert_eq!(ips(&rel), both, "{rel}");
    let left = run.json("leases2");
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left[0]["ip"], v["ip"], "{left}");
    let l = run.json("list3");
    assert_eq!(l[0]["routes"], serde_json::json!([]), "{l}");
}
