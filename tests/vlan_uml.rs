//! Real 802.1Q VLANs (user-mode-linux, see common/uml.rs): `vlan add/list/del`
//! and `restore` make, list and remove real VLAN links, and dhcpnet probes and
//! leases across one against dnsmasq serving on the peer's VLAN
//! sub-interface. Each step's exit code, stdout and stderr are asserted here,
//! so a failure shows exactly what dhcpnet said.
//!
//! Nothing leaves the UML kernel: its network is a veth pair inside it.

mod common;

use std::time::Duration;

use common::uml::Timeouts;

const STEPS: &str = r#"
step add $D vlan add v0 10 -o json
step show10 ip -d link show v0.10
step list $D vlan list -o json
step probe $D probe v0.10 --collect 0.3 --timeout 10 -o json
step lease $D lease --interface v0.10 --mac 02:42:0a:58:0a:07 --hostname uml-1 --timeout 10 -o json
step srvleases cat /run/srv.leases
step release $D release --interface v0.10 --all -o json
step again $D vlan add v0 10 -o json

ip link add link v0 name v0.20 type vlan id 20
step delforeign $D vlan del v0.20
step show20 ip -d link show v0.20
step addforeign $D vlan add v0 20

step add30 $D vlan add v0 30 -o json
ip link del v0.30
step listmissing $D vlan list -o json
step restore $D restore -o json
step show30 ip -d link show v0.30
step restore2 $D restore -o json

step add40 $D vlan add v0 40 -o json
ip link del v0.40
ip link add link v0 name v0.40 type vlan id 41
step delmismatch $D vlan del v0.40
step delforce $D vlan del v0.40 --force

step del $D vlan del v0.10
step show10gone ip link show v0.10
step del30 $D vlan del v0.30
step listend $D vlan list -o json
"#;

/// The whole run takes about 15 s here; a hung kernel or step is killed.
const TIMEOUTS: Timeouts = Timeouts {
    step: Duration::from_secs(20),
    boot: Duration::from_secs(60),
};

#[test]
fn vlans_on_a_real_8021q_kernel() {
    let Some(modules) = common::uml::available() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let run = common::uml::run(dir.path(), &modules, STEPS, TIMEOUTS);

    // vlan add: a real 802.1Q link, up, tagged, recorded.
    let v = run.json("add");
    assert_eq!(v["name"], "v0.10");
    assert_eq!(v["kind"], "vlan");
    assert_eq!(v["parent"], "v0");
    assert_eq!(v["vid"], 10);
    let show = &run.ok("show10").stdout;
    assert!(show.contains("vlan protocol 802.1Q id 10"), "{show}");
    assert!(
        show.contains("alias dhcpnet-owned vlan parent=v0 vid=10"),
        "{show}"
    );
    assert!(show.contains(",UP"), "{show}");

    let l = run.json("list");
    assert_eq!(l.as_array().map(Vec::len), Some(1), "{l}");
    assert_eq!(l[0]["name"], "v0.10");
    assert_eq!(l[0]["exists"], true);
    assert_eq!(l[0]["up"], true);
    assert_eq!(l[0]["state"], "owned");

    // probe and lease across the VLAN.
    let p = run.json("probe");
    assert_eq!(p["server_id"], "10.88.10.1", "{p}");
    assert_eq!(p["subnet"], "10.88.10.0/24", "{p}");
    let lease = run.json("lease");
    let ip = lease["ip"].as_str().expect("ip").to_string();
    assert!(ip.starts_with("10.88.10."), "{lease}");
    assert_eq!(lease["interface"], "v0.10");
    let srv = &run.ok("srvleases").stdout;
    assert!(
        srv.contains("02:42:0a:58:0a:07") && srv.contains(&ip),
        "dnsmasq's lease table: {srv}"
    );
    run.ok("release");
    // Adding what dhcpnet already owns is a no-op.
    assert_eq!(run.json("again")["name"], "v0.10");

    // A VLAN made by hand is refused, and survives.
    let s = run.get("delforeign");
    assert_eq!(s.rc, Some(6), "{s:?}");
    assert!(s.stderr.contains("did not create"), "{s:?}");
    assert!(run.ok("show20").stdout.contains("id 20"));
    let s = run.get("addforeign");
    assert_eq!(s.rc, Some(12), "{s:?}");
    assert!(
        s.stderr.contains("already exists") && s.stderr.contains("--name"),
        "{s:?}"
    );

    // Deleted behind dhcpnet's back: listed as missing, restored, idempotent.
    run.ok("add30");
    let l = run.json("listmissing");
    let v30 = l
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "v0.30"))
        .expect("v0.30 listed");
    assert_eq!(v30["exists"], false, "{l}");
    assert_eq!(v30["state"], "missing", "{l}");
    let r = run.json("restore");
    let r30 = r
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "v0.30"))
        .expect("v0.30 restored");
    assert_eq!(r30["action"], "recreated", "{r}");
    let show = &run.ok("show30").stdout;
    assert!(
        show.contains("id 30") && show.contains("alias dhcpnet-owned"),
        "{show}"
    );
    let r = run.json("restore2");
    assert!(
        r.as_array()
            .is_some_and(|a| a.iter().all(|x| x["action"] == "present")),
        "{r}"
    );

    // Same name, other VID: not dhcpnet's any more.
    run.ok("add40");
    let s = run.get("delmismatch");
    assert_eq!(s.rc, Some(6), "{s:?}");
    assert!(s.stderr.contains("VID 41"), "{s:?}");
    run.ok("delforce");

    // vlan del removes it and its record.
    run.ok("del");
    assert_ne!(run.get("show10gone").rc, Some(0), "v0.10 still exists");
    run.ok("del30");
    assert_eq!(run.json("listend"), serde_json::json!([]));
}
