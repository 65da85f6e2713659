//! Links on the host kernel (no 802.1Q here): the clear 8021q error,
//! refusal of links dhcpnet did not make, macvlan links with ownership (the
//! shim), restore after a link was deleted behind dhcpnet's back, and the
//! shim making a macvlan "container" reachable from the host.
//!
//! Every test builds its own namespaces (common::Lab) and runs dhcpnet inside
//! the client one; nothing touches the machine's interfaces.

mod common;

use std::process::Output;

use common::{IFACE, Lab, ok, sh};
use serde_json::Value;

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn links_in(ns: &str) -> String {
    String::from_utf8_lossy(&sh(&["ip", "-n", ns, "-d", "link", "show"]).stdout).to_string()
}

fn link(ns: &str, name: &str) -> Option<String> {
    let o = sh(&["ip", "-n", ns, "-d", "link", "show", "dev", name]);
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).to_string())
}

fn records(lab: &Lab) -> Value {
    common::table(&lab.state_dir(), "links.d", "links")
}

/// `what` made no link (the links are still `before`) and recorded none.
fn no_link_made(lab: &Lab, before: &str, what: &str) {
    assert_eq!(links_in(&lab.cli), before, "{what} left a link behind");
    let r = records(lab);
    assert!(
        r.is_null() || r["links"] == serde_json::json!([]),
        "{what} recorded a link: {r}"
    );
}

#[test]
fn vlan_add_without_8021q_names_the_missing_support_and_leaves_nothing() {
    let Some(lab) = Lab::new(&[]) else { return };
    if link(&lab.cli, IFACE).is_some_and(|_| {
        // Should this machine ever have 802.1Q, the test would be meaningless.
        sh(&[
            "ip", "-n", &lab.cli, "link", "add", "link", IFACE, "name", "probe.9", "type", "vlan",
            "id", "9",
        ])
        .status
        .success()
    }) {
        eprintln!("SKIPPED: this kernel has 802.1Q; tests/vlan_uml.rs covers VLANs");
        return;
    }
    let before = links_in(&lab.cli);
    let o = lab.dhcpnet(&["vlan", "add", IFACE, "10"]);
    assert_eq!(o.status.code(), Some(9), "{}", err(&o));
    assert!(err(&o).contains("8021q"), "{}", err(&o));
    assert!(err(&o).contains("802.1Q"), "{}", err(&o));
    no_link_made(&lab, &before, "vlan add");
    assert_eq!(
        ok(&lab.dhcpnet(&["vlan", "list", "-o", "json"])),
        serde_json::json!([])
    );
}

#[test]
fn bad_vids_and_long_names_are_usage_errors() {
    let Some(lab) = Lab::new(&[]) else { return };
    for vid in ["0", "4095", "x"] {
        let o = lab.dhcpnet(&["vlan", "add", IFACE, vid]);
        assert_eq!(o.status.code(), Some(2), "{vid}: {}", err(&o));
    }
    let o = lab.dhcpnet(&["vlan", "add", IFACE, "10", "--name", "much-too-long-name"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("--name"), "{}", err(&o));
}

#[test]
fn links_dhcpnet_did_not_make_are_refused() {
    let Some(lab) = Lab::new(&[]) else { return };
    common::must(&[
        "ip", "-n", &lab.cli, "link", "add", "link", IFACE, "name", "byhand0", "type", "macvlan",
        "mode", "bridge",
    ]);
    for args in [
        vec!["vlan", "del", "byhand0"],
        vec!["shim", "del", "byhand0"],
    ] {
        let o = lab.dhcpnet(&args);
        assert_eq!(o.status.code(), Some(6), "{args:?}: {}", err(&o));
        assert!(
            link(&lab.cli, "byhand0").is_some(),
            "{args:?} deleted a foreign link"
        );
    }
    let o = lab.dhcpnet(&["vlan", "del", "byhand0"]);
    assert!(
        err(&o).contains("did not create")
            && err(&o).contains("Docker")
            && err(&o).contains("--force"),
        "{}",
        err(&o)
    );
    // Its name is not taken over either.
    let o = lab.dhcpnet(&["shim", "add", IFACE, "--name", "byhand0"]);
    assert_eq!(o.status.code(), Some(12), "{}", err(&o));
    assert!(err(&o).contains("already exists"), "{}", err(&o));
    assert!(link(&lab.cli, "byhand0").is_some_and(|l| !l.contains("dhcpnet-owned")));
    // Not even --force makes `vlan del` delete something that is no VLAN.
    let o = lab.dhcpnet(&["vlan", "del", "byhand0", "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let o = lab.dhcpnet(&["vlan", "del", IFACE, "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains("a veth link, not a vlan link"),
        "{}",
        err(&o)
    );
    assert!(link(&lab.cli, IFACE).is_some());
    // --force is the explicit override.
    let o = lab.dhcpnet(&["shim", "del", "byhand0", "--force"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(link(&lab.cli, "byhand0").is_none());
    // Nothing at all by that name.
    let o = lab.dhcpnet(&["vlan", "del", "byhand0"]);
    assert_eq!(o.status.code(), Some(6), "{}", err(&o));
}

fn shim_lab() -> Option<Lab> {
    let mut lab = Lab::new(&["dnsmasq", "ping"])?;
    lab.start_dnsmasq(&[]);
    Some(lab)
}

#[test]
fn shim_is_an_owned_macvlan_and_restore_rebuilds_it() {
    let Some(lab) = shim_lab() else { return };
    let v = ok(&lab.dhcpnet(&[
        "shim",
        "add",
        IFACE,
        "--mac",
        "02:42:0a:4d:00:99",
        "-o",
        "json",
    ]));
    assert_eq!(v["name"], "shim-veth0");
    assert_eq!(v["kind"], "macvlan");
    assert_eq!(v["mode"], "bridge");
    assert_eq!(v["mac"], "02:42:0a:4d:00:99");
    assert_eq!(v["shim"], true);
    assert_eq!(v["state"], "owned");
    let ip = v["ip"].as_str().expect("shim ip").to_string();
    let l = link(&lab.cli, "shim-veth0").expect("shim link");
    assert!(l.contains("macvlan mode bridge"), "{l}");
    assert!(l.contains("02:42:0a:4d:00:99"), "{l}");
    assert!(
        l.contains("alias dhcpnet-owned macvlan parent=veth0"),
        "{l}"
    );
    let addrs = String::from_utf8_lossy(
        &sh(&[
            "ip",
            "-n",
            &lab.cli,
            "-4",
            "addr",
            "show",
            "dev",
            "shim-veth0",
        ])
        .stdout,
    )
    .to_string();
    assert!(addrs.contains(&format!("{ip}/32")), "{addrs}");
    // Its lease is an ordinary recorded lease, and the server has it.
    let leases = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    assert!(
        leases.as_array().is_some_and(|a| a
            .iter()
            .any(|l| l["ip"] == ip.as_str() && l["interface"] == "shim-veth0")),
        "{leases}"
    );
    assert!(
        lab.server_leases()
            .iter()
            .any(|r| r.0 == "02:42:0a:4d:00:99")
    );
    // vlan del does not remove a shim.
    let o = lab.dhcpnet(&["vlan", "del", "shim-veth0"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(link(&lab.cli, "shim-veth0").is_some());

    // Deleted behind dhcpnet's back: listed as missing, then restored with
    // the same MAC, tag and address; a second restore changes nothing.
    common::must(&["ip", "-n", &lab.cli, "link", "del", "shim-veth0"]);
    let l = ok(&lab.dhcpnet(&["shim", "list", "-o", "json"]));
    assert_eq!(l[0]["exists"], false, "{l}");
    assert_eq!(l[0]["state"], "missing", "{l}");
    let r = ok(&lab.dhcpnet(&["restore", "-o", "json"]));
    assert_eq!(r[0]["action"], "recreated", "{r}");
    let l = link(&lab.cli, "shim-veth0").expect("restored");
    assert!(
        l.contains("02:42:0a:4d:00:99") && l.contains("alias dhcpnet-owned") && l.contains(",UP"),
        "{l}"
    );
    let addrs = String::from_utf8_lossy(
        &sh(&[
            "ip",
            "-n",
            &lab.cli,
            "-4",
            "addr",
            "show",
            "dev",
            "shim-veth0",
        ])
        .stdout,
    )
    .to_string();
    assert!(addrs.contains(&format!("{ip}/32")), "{addrs}");
    let r = ok(&lab.dhcpnet(&["restore", "-o", "json"]));
    assert_eq!(r[0]["action"], "present", "{r}");

    // Re-created by someone else under the same name: not dhcpnet's.
    common::must(&["ip", "-n", &lab.cli, "link", "del", "shim-veth0"]);
    let o = common::link_add(
        &lab.cli,
        IFACE,
        "shim-veth0",
        &["macvlan", "mode", "bridge"],
    );
    assert!(o.status.success(), "{}", err(&o));
    let r = lab.dhcpnet(&["restore", "-o", "json"]);
    assert!(!r.status.success());
    let rv: Value = serde_json::from_slice(&r.stdout).expect("restore JSON");
    assert_eq!(rv[0]["action"], "conflict", "{rv}");
    let o = lab.dhcpnet(&["shim", "del", "shim-veth0"]);
    assert_eq!(o.status.code(), Some(6), "{}", err(&o));
    assert!(
        err(&o).contains("re-created by someone else"),
        "{}",
        err(&o)
    );
    assert!(link(&lab.cli, "shim-veth0").is_some());
    let o = lab.dhcpnet(&["shim", "del", "shim-veth0", "--force"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(link(&lab.cli, "shim-veth0").is_none());
    assert_eq!(
        ok(&lab.dhcpnet(&["shim", "list", "-o", "json"])),
        serde_json::json!([])
    );
}

/// Whether this kernel can make an ipvlan link (the build machines' cannot;
/// tests/shim_ipvlan_uml.rs runs the ipvlan shim under user-mode-linux).
fn kernel_has_ipvlan(lab: &Lab) -> bool {
    let made = common::link_add(&lab.cli, IFACE, "probe.ipv", &["ipvlan"])
        .status
        .success();
    if made {
        common::must(&["ip", "-n", &lab.cli, "link", "del", "probe.ipv"]);
    }
    made
}

#[test]
fn an_ipvlan_shim_on_a_kernel_without_ipvlan_names_the_module_exits_9_and_leaves_nothing() {
    let Some(lab) = shim_lab() else { return };
    if kernel_has_ipvlan(&lab) {
        eprintln!(
            "SKIPPED: this kernel has ipvlan; tests/shim_ipvlan_uml.rs covers the ipvlan shim"
        );
        return;
    }
    let before = links_in(&lab.cli);
    let nothing_left = |what: &str| {
        no_link_made(&lab, &before, what);
        assert_eq!(
            ok(&lab.dhcpnet(&["leases", "-o", "json"])),
            serde_json::json!([]),
            "{what} recorded a lease"
        );
        assert!(
            lab.server_leases().is_empty(),
            "{what} took a lease at the server: {:?}",
            lab.server_leases()
        );
    };
    let mac = ["--mac", "02:42:0a:4d:00:97"];
    fails(
        &lab,
        &["shim", "add", IFACE, "--driver", "ipvlan"],
        9,
        &[
            "no ipvlan support",
            "modprobe ipvlan",
            "nothing was created",
        ],
    );
    nothing_left("shim add --driver ipvlan");
    // An ipvlan shim has the parent's MAC: --mac is a usage error.
    fails(
        &lab,
        &[&["shim", "add", IFACE, "--driver", "ipvlan"][..], &mac].concat(),
        2,
        &["leave out --mac"],
    );
    nothing_left("shim add --driver ipvlan --mac");

    // A parent that carries a dhcpnet ipvlan network gets an ipvlan shim
    // without --driver, and is told why.
    let nets = lab.state_dir().join("networks.d");
    std::fs::create_dir_all(&nets).expect("networks.d");
    let rec = serde_json::json!({"version": 1, "record": {
        "name": "wlan", "id": "x", "parent": IFACE, "driver": "ipvlan", "dhcp_interface": IFACE,
        "subnet": "10.77.0.0/24", "gateway": "10.77.0.1", "created_at": "2026-11-28T05:00:00Z"
    }});
    std::fs::write(nets.join("wlan.json"), rec.to_string()).expect("a network record");
    fails(
        &lab,
        &["shim", "add", IFACE],
        9,
        &[
            "an ipvlan shim, as veth0 carries the ipvlan network(s) wlan",
            "modprobe ipvlan",
        ],
    );
    fails(
        &lab,
        &[&["shim", "add", IFACE][..], &mac].concat(),
        2,
        &["leave out --mac"],
    );
    nothing_left("shim add on a parent with an ipvlan network");
}

/// dhcpnet with `args` exits `code` and its stderr says each of `says`.
fn fails(lab: &Lab, args: &[&str], code: i32, says: &[&str]) {
    let o = lab.dhcpnet(args);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {}", err(&o));
    for s in says {
        assert!(
            err(&o).contains(s),
            "{args:?} does not say {s:?}: {}",
            err(&o)
        );
    }
}

/// A "container": a namespace holding a macvlan child of the lab's parent,
/// with an address leased by dhcpnet for its MAC. Removed on drop.
struct Container {
    ns: String,
}

impl Container {
    fn new(lab: &Lab, n: u32, mac: &str) -> (Container, String) {
        let v = ok(&lab.dhcpnet(&["lease", "--interface", IFACE, "--mac", mac, "-o", "json"]));
        let ip = v["ip"].as_str().expect("ip").to_string();
        let c = Container {
            ns: format!("{}-k{n}", lab.cli),
        };
        common::must(&["ip", "netns", "add", &c.ns]);
        let dev = format!("ctr{n}");
        common::must(&[
            "ip", "-n", &lab.cli, "link", "add", "link", IFACE, "name", &dev, "address", mac,
            "type", "macvlan", "mode", "bridge",
        ]);
        common::must(&["ip", "-n", &lab.cli, "link", "set", &dev, "netns", &c.ns]);
        common::must(&[
            "ip",
            "-n",
            &c.ns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            &dev,
        ]);
        common::must(&["ip", "-n", &c.ns, "link", "set", &dev, "up"]);
        (c, ip)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.ns]);
    }
}

fn ping(lab: &Lab, ip: &str) -> bool {
    sh(&[
        "ip", "netns", "exec", &lab.cli, "ping", "-c", "1", "-W", "1", ip,
    ])
    .status
    .success()
}

fn routes(lab: &Lab) -> String {
    String::from_utf8_lossy(
        &sh(&[
            "ip",
            "-n",
            &lab.cli,
            "-4",
            "route",
            "show",
            "dev",
            "shim-veth0",
        ])
        .stdout,
    )
    .to_string()
}

#[test]
fn the_shim_makes_macvlan_containers_reachable_from_the_host() {
    let Some(lab) = shim_lab() else { return };
    // The host has an address on the parent, as a LAN host does.
    common::must(&[
        "ip",
        "-n",
        &lab.cli,
        "addr",
        "add",
        "10.77.0.9/24",
        "dev",
        IFACE,
    ]);
    let (_c1, ip1) = Container::new(&lab, 1, "02:42:0a:4d:01:01");
    // The classic macvlan surprise: the parent cannot reach its children.
    assert!(
        !ping(&lab, &ip1),
        "reachable without a shim: the lab does not show the problem"
    );

    let v = ok(&lab.dhcpnet(&["shim", "add", IFACE, "-o", "json"]));
    let shim_ip = v["ip"].as_str().expect("shim ip").to_string();
    assert_eq!(v["routes"], serde_json::json!([ip1]), "{v}");
    assert!(
        routes(&lab).contains(&format!("{ip1} ")),
        "{}",
        routes(&lab)
    );
    assert!(
        ping(&lab, &ip1),
        "not reachable through the shim; routes: {}",
        routes(&lab)
    );

    // A lease taken later is routed too, and its release removes the route.
    let (_c2, ip2) = Container::new(&lab, 2, "02:42:0a:4d:01:02");
    assert!(
        routes(&lab).contains(&format!("{ip2} ")),
        "{}",
        routes(&lab)
    );
    assert!(
        ping(&lab, &ip2),
        "later container not reachable; routes: {}",
        routes(&lab)
    );
    ok(&lab.dhcpnet(&[
        "release",
        "--interface",
        IFACE,
        "--mac",
        "02:42:0a:4d:01:02",
        "-o",
        "json",
    ]));
    assert!(
        !routes(&lab).contains(&format!("{ip2} ")),
        "{}",
        routes(&lab)
    );
    let l = ok(&lab.dhcpnet(&["shim", "list", "-o", "json"]));
    assert_eq!(l[0]["routes"], serde_json::json!([ip1]), "{l}");

    // shim del undoes everything: routes, address, lease, link.
    let o = lab.dhcpnet(&["shim", "del", "shim-veth0"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(link(&lab.cli, "shim-veth0").is_none());
    assert!(!ping(&lab, &ip1), "still reachable after shim del");
    let leases = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    assert!(
        leases
            .as_array()
            .is_some_and(|a| a.iter().all(|l| l["ip"] != shim_ip.as_str())),
        "{leases}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        lab.server_leases().iter().all(|r| r.1 != shim_ip),
        "the server still has the shim's lease: {:?}",
        lab.server_leases()
    );
    assert_eq!(records(&lab)["links"], serde_json::json!([]));
}

/// Run `f` on a thread that has entered network namespace `ns` (setns only
/// moves the calling thread), with a tokio runtime for the async API.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns(2) on a namespace fd we hold open; it changes only
        // this thread's network namespace, and the thread ends after `f`.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread panicked")
}

#[test]
fn the_library_api_creates_and_deletes_only_owned_links() {
    use dhcpnet::error::Error;
    use dhcpnet::links;
    use dhcpnet::net::mac::Mac;
    use dhcpnet::store::Store;

    let Some(lab) = Lab::new(&[]) else { return };
    common::must(&[
        "ip", "-n", &lab.cli, "link", "add", "link", IFACE, "name", "mvhand0", "type", "macvlan",
    ]);
    let store = Store::new(lab.state_dir());
    let st = store.clone();
    let (vlan, made, taken, foreign) = in_netns(&lab.cli, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mac: Mac = "02:42:0a:4d:00:42".parse().expect("mac");
            let vlan = links::add_vlan(&st, IFACE, 10, None).await;
            let made = links::add_macvlan(&st, IFACE, "mvtest0", Some(mac), false).await;
            let taken = links::add_macvlan(&st, IFACE, "mvhand0", None, false).await;
            let foreign = links::delete_owned(&st, "mvhand0", false).await;
            (vlan, made, taken, foreign)
        })
    });
    assert!(
        matches!(&vlan, Err(Error::Kernel(m)) if m.contains("8021q")),
        "{vlan:?}"
    );
    let rec = made.expect("add_macvlan");
    assert_eq!(rec.kind, links::Kind::Macvlan);
    assert_eq!(
        rec.mac.map(|m| m.to_string()).as_deref(),
        Some("02:42:0a:4d:00:42")
    );
    assert_eq!(rec.mode.as_deref(), Some("bridge"));
    let l = link(&lab.cli, "mvtest0").expect("mvtest0 exists");
    assert!(
        l.contains("alias dhcpnet-owned macvlan parent=veth0") && l.contains("02:42:0a:4d:00:42"),
        "{l}"
    );
    assert!(
        matches!(&taken, Err(Error::Conflict(m)) if m.contains("already exists")),
        "{taken:?}"
    );
    assert!(
        matches!(&foreign, Err(Error::NotFound(m)) if m.contains("did not create")),
        "{foreign:?}"
    );
    assert!(link(&lab.cli, "mvhand0").is_some());
    assert_eq!(records(&lab)["links"].as_array().map(Vec::len), Some(1));

    // The records are lost: the tag on the link still proves ownership.
    common::clear_table(&lab.state_dir(), "links.d");
    let st = store.clone();
    let gone = in_netns(&lab.cli, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(links::delete_owned(&st, "mvtest0", false))
    });
    assert!(gone.is_ok(), "{gone:?}");
    assert!(link(&lab.cli, "mvtest0").is_none());
}

/// `shim add` on the lab's parent, then `renew --all` after a pause: the
/// shim's own lease (whose interface holds the leased address itself) must
/// come back `renewed` with a later `expires_at`, and the record must say so.
fn shim_lease_renews(lab: &Lab, server: &str) {
    let mac = "02:42:0a:4d:00:98";
    let v = ok(&lab.dhcpnet(&["shim", "add", IFACE, "--mac", mac, "-o", "json"]));
    let ip = v["ip"].as_str().expect("shim ip").to_string();
    let expiry = || -> Option<String> {
        let leases = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
        leases.as_array()?.iter().find_map(|l| {
            (l["mac"] == mac && l["interface"] == "shim-veth0")
                .then(|| l["expires_at"].as_str().map(str::to_string))
                .flatten()
        })
    };
    let before = expiry().expect("the shim's lease is recorded");
    // expires_at has whole seconds: a renewal 2 s later moves it.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let o = lab.dhcpnet(&["renew", "--all", "--timeout", "6", "-o", "json", "-v"]);
    let r: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("renew output is not JSON ({e}): {}", err(&o)));
    let mine = r
        .as_array()
        .and_then(|a| a.iter().find(|x| x["mac"] == mac))
        .unwrap_or_else(|| panic!("no result for the shim's lease: {r}"));
    assert_eq!(
        mine["result"],
        "renewed",
        "{server}: the shim's lease {ip} was not renewed: {r}\n{}",
        err(&o)
    );
    assert!(o.status.success(), "{server}: {}", err(&o));
    let after = expiry().expect("the shim's lease is still recorded");
    assert!(
        after > before,
        "{server}: expires_at did not move ({before} -> {after})"
    );
    assert_eq!(mine["expires_at"].as_str(), Some(after.as_str()), "{r}");
    // The shim keeps its address.
    let addrs = String::from_utf8_lossy(
        &sh(&[
            "ip",
            "-n",
            &lab.cli,
            "-4",
            "addr",
            "show",
            "dev",
            "shim-veth0",
        ])
        .stdout,
    )
    .to_string();
    assert!(addrs.contains(&format!("{ip}/32")), "{addrs}");
}

#[test]
fn renew_all_renews_the_shims_own_lease_from_dnsmasq() {
    let Some(lab) = shim_lab() else { return };
    shim_lease_renews(&lab, "dnsmasq");
}

#[test]
fn renew_all_renews_the_shims_own_lease_from_kea() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4"]) else {
        return;
    };
    lab.start_kea(120);
    shim_lease_renews(&lab, "kea");
}
