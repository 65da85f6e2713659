//! The IPAM plugin on shared-MAC pools (ipvlan: every container has the
//! parent's MAC), and the container names newer engines send, against
//! dnsmasq and kea in namespace labs. No engine here
//! can make an ipvlan network (the host kernel has no ipvlan, and
//! user-mode-linux has no Docker), so the tests speak the plugin API over
//! its socket exactly as the engine does, to a `dhcpnet daemon --no-docker`
//! in the lab's client namespace, on a socket of the test's own (never
//! /run/docker/plugins: no real engine is involved).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{IFACE, Lab, ok, plugin_post, text_client_id, wait_for};
use serde_json::{Value, json};

/// A `dhcpnet daemon` (`--no-docker` unless `--docker` is passed) in the
/// lab's client namespace, serving
/// the `dhcpnet` driver on `plugin.sock` and `dhcpnet-ipvlan` on
/// `plugin-ipvlan.sock` beside it; requests go to `sock`, one of them.
/// Killed when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
    sock: PathBuf,
    ipvlan_sock: PathBuf,
}

impl Daemon {
    fn start(lab: &Lab, extra: &[&str]) -> Daemon {
        let log = lab.dir.path().join("daemon.log");
        let sock = lab.dir.path().join("plugin.sock");
        let f = std::fs::File::create(&log).expect("daemon log");
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.cli, env!("CARGO_BIN_EXE_dhcpnet")])
            .arg("--state-dir")
            .arg(lab.state_dir())
            .args(["-vv", "daemon", "--plugin-socket"])
            .arg(&sock)
            .args(if extra.contains(&"--docker") {
                &[][..]
            } else {
                &["--no-docker"][..]
            })
            .args(extra)
            .env_remove("DHCPNET_DEFAULT_INTERFACE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(f))
            .spawn()
            .expect("start dhcpnet daemon");
        let ipvlan_sock = lab.dir.path().join("plugin-ipvlan.sock");
        let d = Daemon {
            child,
            log,
            sock,
            ipvlan_sock,
        };
        let up = wait_for(Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&d.sock)
                .and(std::os::unix::net::UnixStream::connect(&d.ipvlan_sock))
                .ok()
                .map(|_| ())
        });
        assert!(up.is_some(), "no plugin socket; log:\n{}", d.log());
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn post(&self, call: &str, body: Value) -> Value {
        plugin_post(&self.sock, &format!("/IpamDriver.{call}"), &body)
    }

    /// RequestPool for the lab's subnet; the PoolID.
    fn pool(&self, options: Value) -> String {
        let p = self.post(
            "RequestPool",
            json!({"AddressSpace": "dhcpnet-local", "Pool": "10.77.0.0/24", "SubPool": "",
                   "Options": options, "V6": false}),
        );
        p["PoolID"]
            .as_str()
            .unwrap_or_else(|| panic!("no pool: {p}; log:\n{}", self.log()))
            .to_string()
    }

    /// Send the requests to the `dhcpnet-ipvlan` driver from now on.
    fn use_ipvlan_driver(&mut self) {
        self.sock = self.ipvlan_sock.clone();
    }

    /// RequestAddress for an endpoint with Docker's MAC `mac`: the answer.
    fn request(&self, pool: &str, mac: &str) -> Value {
        self.request_with(pool, json!({"com.docker.network.endpoint.macaddress": mac}))
    }

    fn request_with(&self, pool: &str, options: Value) -> Value {
        self.post(
            "RequestAddress",
            json!({"PoolID": pool, "Address": "", "Options": options}),
        )
    }

    /// RequestAddress that must succeed: the address, without its prefix.
    fn lease(&self, pool: &str, mac: &str) -> String {
        self.lease_with(pool, json!({"com.docker.network.endpoint.macaddress": mac}))
    }

    fn lease_with(&self, pool: &str, options: Value) -> String {
        let a = self.request_with(pool, options.clone());
        let addr = a["Address"]
            .as_str()
            .unwrap_or_else(|| panic!("no address for {options}: {a}; log:\n{}", self.log()));
        addr.split('/').next().unwrap_or_default().to_string()
    }

    fn release(&self, pool: &str, ip: &str) {
        let r = self.post("ReleaseAddress", json!({"PoolID": pool, "Address": ip}));
        assert_eq!(r, json!({}), "log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Option 61 as dhcpnet records it (and dnsmasq lists it) for the plugin's
/// endpoint `endpoint` on a shared-MAC pool of `parent`.
/// The kind of handle is tagged (`name/`, `mac/`): a MAC has ':' in it, a
/// container name never does.
fn plugin_client_id(parent: &str, endpoint: &str) -> String {
    let kind = if endpoint.contains(':') {
        "mac"
    } else {
        "name"
    };
    text_client_id(&format!(
        "dhcpnet:{}:plugin:{kind}/{endpoint}",
        parent.replace(':', "")
    ))
}

/// dhcpnet's records as (ip, mac, client id), by address.
fn records(lab: &Lab) -> Vec<(String, String, String)> {
    let list = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    let mut v: Vec<(String, String, String)> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (s("ip"), s("mac"), s("client_id"))
        })
        .collect();
    v.sort();
    v
}

/// The server's view as (ip, mac, client id), by address: dnsmasq's lease
/// file, or kea's memfile (last row per address, valid leases only).
fn server_rows(lab: &Lab, kea: bool) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = if kea {
        let raw = std::fs::read_to_string(lab.kea_lease_file()).unwrap_or_default();
        let mut last = std::collections::BTreeMap::new();
        for line in raw.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() >= 5 {
                let valid = f[3].parse::<u64>().unwrap_or(0) > 0;
                last.insert(
                    f[0].to_string(),
                    valid.then(|| (f[0].to_string(), f[1].to_string(), f[2].to_string())),
                );
            }
        }
        last.into_values().flatten().collect()
    } else {
        lab.server_leases()
            .into_iter()
            .map(|(mac, ip, _, cid)| (ip, mac, cid))
            .collect()
    };
    v.sort();
    v
}

const ENDPOINTS: [&str; 3] = [
    "02:42:0a:4d:00:01",
    "02:42:0a:4d:00:02",
    "02:42:0a:4d:00:03",
];

/// Three endpoints leased on shared-MAC `pool`, then the second released,
/// from dnsmasq or kea.
fn three_endpoints_share_the_parent_mac_and_one_is_released_alone(
    lab: &Lab,
    d: &Daemon,
    pool: &str,
    kea: bool,
) {
    assert!(pool.ends_with(":shared-mac"), "{pool}");
    let parent = lab.client_mac();
    let ips: Vec<String> = ENDPOINTS.iter().map(|m| d.lease(pool, m)).collect();
    let mut distinct = ips.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "one address per endpoint: {ips:?}");

    // The server: three leases, all for the parent's MAC, told apart by
    // client ids naming the endpoints (never Docker's MACs in chaddr).
    let want: Vec<(String, String, String)> = {
        let mut w: Vec<_> = ips
            .iter()
            .zip(ENDPOINTS)
            .map(|(ip, m)| (ip.clone(), parent.clone(), plugin_client_id(&parent, m)))
            .collect();
        w.sort();
        w
    };
    let seen = wait_for(Duration::from_secs(10), || {
        let rows = server_rows(lab, kea);
        (rows == want).then_some(())
    });
    assert!(
        seen.is_some(),
        "the server's leases: {:?}, want {want:?}",
        server_rows(lab, kea)
    );
    // dhcpnet's records say the same.
    assert_eq!(records(lab), want);

    // The same endpoint asking again (the engine replays a request) gets
    // its own lease back, found by its client id: every lease has its MAC.
    assert_eq!(d.lease(pool, ENDPOINTS[2]), ips[2]);
    assert_eq!(records(lab).len(), 3);

    // ReleaseAddress of one: that lease alone ends, at the server too.
    d.release(pool, &ips[1]);
    let left: Vec<_> = want.iter().filter(|r| r.0 != ips[1]).cloned().collect();
    let gone = wait_for(Duration::from_secs(10), || {
        (server_rows(lab, kea) == left).then_some(())
    });
    assert!(
        gone.is_some(),
        "the server's leases after releasing {}: {:?}, want {left:?}; log:\n{}",
        ips[1],
        server_rows(lab, kea),
        d.log()
    );
    assert_eq!(records(lab), left);
}

#[test]
fn the_ipvlan_driver_leases_three_endpoints_from_dnsmasq_under_the_parent_mac_and_releases_one_alone()
 {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let mut d = Daemon::start(&lab, &[]);
    // The dhcpnet driver keeps a MAC per container (Docker's MAC in
    // chaddr), and refuses to share one, naming the driver that does: the
    // engine gives its endpoints MACs, which Docker's ipvlan driver refuses.
    let plain = d.pool(json!({"dhcp_interface": IFACE}));
    assert!(!plain.ends_with(":shared-mac"), "{plain}");
    let ip = d.lease(&plain, "02:42:0a:4d:00:09");
    assert!(
        server_rows(&lab, false)
            .iter()
            .any(|r| r.0 == ip && r.1 == "02:42:0a:4d:00:09"),
        "{:?}",
        server_rows(&lab, false)
    );
    for v in ["true", "ipvlan"] {
        let e = d.post(
            "RequestPool",
            json!({"Pool": "10.77.0.0/24", "Options": {"dhcp_interface": IFACE, "dhcp_shared_mac": v}}),
        );
        assert!(
            e["Error"]
                .as_str()
                .unwrap_or_default()
                .contains("--ipam-driver dhcpnet-ipvlan"),
            "{v}: {e}"
        );
    }
    d.release(&plain, &ip);

    d.use_ipvlan_driver();
    let pool = d.pool(json!({"dhcp_interface": IFACE}));
    three_endpoints_share_the_parent_mac_and_one_is_released_alone(&lab, &d, &pool, false);
    assert!(
        d.log().contains("shared-MAC (dhcpnet-ipvlan)"),
        "the log says why:\n{}",
        d.log()
    );
}

#[test]
fn the_ipvlan_driver_leases_three_endpoints_from_kea_under_the_parent_mac_and_releases_one_alone() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4"]) else {
        return;
    };
    lab.start_kea(600);
    let mut d = Daemon::start(&lab, &[]);
    d.use_ipvlan_driver();
    let pool = d.pool(json!({"dhcp_interface": IFACE}));
    three_endpoints_share_the_parent_mac_and_one_is_released_alone(&lab, &d, &pool, true);
}

#[test]
fn the_ipvlan_driver_needs_no_ipam_options_as_compose_creates_networks() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    // Compose sends "Options": null; the interface comes from
    // --default-interface (the lab's veth has no address to find it by).
    let mut d = Daemon::start(&lab, &["--default-interface", IFACE]);
    d.use_ipvlan_driver();
    let pool = d.pool(Value::Null);
    three_endpoints_share_the_parent_mac_and_one_is_released_alone(&lab, &d, &pool, false);
    // An option saying otherwise is refused, naming the other driver.
    let e = d.post(
        "RequestPool",
        json!({"Pool": "10.77.0.0/24", "Options": {"dhcp_interface": IFACE, "dhcp_shared_mac": "false"}}),
    );
    assert!(
        e["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("--ipam-driver dhcpnet "),
        "{e}"
    );
}

#[test]
fn a_server_that_ignores_client_ids_fails_the_second_endpoint_clearly_and_keeps_the_first_lease() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&["--dhcp-ignore-clid"]);
    let parent = lab.client_mac();
    let mut d = Daemon::start(&lab, &[]);
    d.use_ipvlan_driver();
    let pool = d.pool(json!({"dhcp_interface": IFACE}));
    let first = d.lease(&pool, ENDPOINTS[0]);
    let second = d.request(&pool, ENDPOINTS[1]);
    // The engine shows this error to the user.
    let err = second["Error"].as_str().unwrap_or_default();
    assert!(
        err.contains("ignores the client identifier")
            && err.contains(&first)
            && err.contains(ENDPOINTS[1]),
        "{second}"
    );
    assert!(second.get("Address").is_none(), "{second}");
    // Nothing recorded for the second, nothing released: the first lease
    // stands, here and at the server.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        records(&lab),
        vec![(
            first.clone(),
            parent.clone(),
            plugin_client_id(&parent, ENDPOINTS[0])
        )]
    );
    assert!(!lab.released(&first, &parent), "{}", lab.server_log());
    let rows = server_rows(&lab, false);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        (first.as_str(), parent.as_str())
    );
}

#[test]
fn the_dhcpnet_ipvlan_driver_asks_the_engine_for_no_mac_and_names_each_endpoint_by_its_container() {
    let Some(mut lab) = Lab::new(&["dnsmasq"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let parent = lab.client_mac();
    let mut d = Daemon::start(&lab, &[]);
    // Docker's ipvlan driver refuses an endpoint that has a MAC, and the
    // engine gives every endpoint one when the IPAM driver asks: the
    // dhcpnet driver asks (macvlan needs it), dhcpnet-ipvlan does not.
    let caps = |d: &Daemon| d.post("GetCapabilities", json!({}))["RequiresMACAddress"].clone();
    assert_eq!(caps(&d), true);
    d.use_ipvlan_driver();
    assert_eq!(caps(&d), false);

    // Every pool of it is shared-MAC, no option needed.
    let pool = d.pool(json!({"dhcp_interface": IFACE}));
    assert!(pool.ends_with(":shared-mac"), "{pool}");
    assert!(
        d.log().contains("shared-MAC (dhcpnet-ipvlan)"),
        "the log says why:\n{}",
        d.log()
    );
    let named = |n: &str| json!({"com.docker.network.endpoint.name": n});
    // Engines that send the container's name: the lease is the name's.
    let web = d.lease_with(&pool, named("web"));
    let db = d.lease_with(&pool, named("db"));
    // An engine that sends neither name nor MAC: a random client id.
    let anon = d.lease_with(&pool, json!({}));
    let ips = [web.clone(), db.clone(), anon.clone()];
    let mut distinct = ips.to_vec();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{ips:?}");
    let cid = |n: &str| plugin_client_id(&parent, n);
    let rows = server_rows(&lab, false);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.1 == parent), "{rows:?}");
    assert!(
        rows.contains(&(web.clone(), parent.clone(), cid("web"))),
        "{rows:?}"
    );
    assert!(
        rows.contains(&(db.clone(), parent.clone(), cid("db"))),
        "{rows:?}"
    );
    let anon_row = rows
        .iter()
        .find(|r| r.0 == anon)
        .expect("the unnamed endpoint's lease");
    let random = text_client_id(&format!(
        "dhcpnet:{}:plugin:random/",
        parent.replace(':', "")
    ));
    assert!(anon_row.2.starts_with(&random), "{anon_row:?}");

    // The container started again (same name): its own lease, same address.
    assert_eq!(d.lease_with(&pool, named("web")), web);
    assert_eq!(records(&lab).len(), 3);

    // Released by address: that lease alone.
    d.release(&pool, &db);
    let gone = wait_for(Duration::from_secs(10), || {
        let rows = server_rows(&lab, false);
        (rows.len() == 2 && !rows.iter().any(|r| r.0 == db)).then_some(())
    });
    assert!(gone.is_some(), "{:?}", server_rows(&lab, false));
    assert_eq!(records(&lab).len(), 2);

    // Asking it for a MAC per container is refused, naming the other driver.
    let e = d.post(
        "RequestPool",
        json!({"Pool": "10.77.0.0/24", "Options": {"dhcp_interface": IFACE, "dhcp_shared_mac": "false"}}),
    );
    assert!(
        e["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("--ipam-driver dhcpnet "),
        "{e}"
    );
}

/// A docker CLI stand-in for the event follower: `version`; `events` plays
/// the lines appended to `events` in `dir` (and ends with the daemon);
/// `ps` prints the file `ps`; `container inspect ID` prints the file
/// `c-ID`, else "No such container".
fn fake_docker(dir: &std::path::Path) -> PathBuf {
    std::fs::write(dir.join("events"), b"").expect("events file");
    std::fs::write(dir.join("ps"), b"").expect("ps file");
    common::fake_docker(
        dir,
        r#"  version) echo '{"Client":{"Version":"29.0.0","ApiVersion":"1.52"},"Server":{"Version":"29.0.0","ApiVersion":"1.52"}}'; exit 0;;
  events) exec tail -n +1 --pid=$PPID -f $D/events;;
  ps) cat $D/ps; exit 0;;
  container)
    for last; do :; done
    [ -f "$D/c-$last" ] && { cat "$D/c-$last"; exit 0; }
    echo "Error: No such container: $last" >&2; exit 1;;
"#,
    )
}

/// A daemon following the events a stand-in docker CLI (in the returned
/// directory, see `fake_docker`) plays, once it follows them.
fn following_daemon(lab: &Lab) -> (tempfile::TempDir, Daemon) {
    let fake = tempfile::tempdir().expect("tempdir");
    let docker = fake_docker(fake.path());
    let docker_s = docker.to_string_lossy().to_string();
    let d = Daemon::start(lab, &["--docker", &docker_s]);
    let following = wait_for(Duration::from_secs(20), || {
        d.log().contains("following container events").then_some(())
    });
    assert!(following.is_some(), "log:\n{}", d.log());
    (fake, d)
}

/// What `docker container inspect` says of container `id` named `name`:
/// running with `ip` on the network, or stopped (no address).
fn inspect_doc(id: &str, name: &str, mac: &str, ip: Option<&str>) -> String {
    json!([{
        "Id": id, "Name": format!("/{name}"), "Config": {"Hostname": name},
        "State": {"Running": ip.is_some()},
        "NetworkSettings": {"Networks": {"wlan": {"MacAddress": mac, "IPAddress": ip.unwrap_or("")}}}
    }])
    .to_string()
}

fn event(dir: &std::path::Path, action: &str, id: &str, name: &str) {
    use std::io::Write;
    let line = json!({"Type": "container", "Action": action, "status": action, "id": id,
                      "Actor": {"ID": id, "Attributes": {"name": name}}});
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("events"))
        .expect("events file");
    writeln!(f, "{line}").expect("append an event");
}

/// The lab's lease records as JSON (every field, `kept_since` too).
fn raw_records(lab: &Lab) -> Vec<Value> {
    common::table(&lab.state_dir(), "leases.d", "leases")["leases"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_shared_mac_lease_is_tied_to_its_container_by_address_kept_at_its_stop_reused_at_its_start_and_released_at_its_removal()
 {
    let Some(mut lab) = Lab::new(&["dnsmasq", "tail"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let parent = lab.client_mac();
    let (fake, mut d) = following_daemon(&lab);
    d.use_ipvlan_driver();
    let pool = d.pool(json!({"dhcp_interface": IFACE}));
    let id = "c0ffee".repeat(10) + "0123";

    // An engine that sends no container name: a random client id.
    let ip = d.lease_with(&pool, json!({}));
    let cid = records(&lab)[0].2.clone();
    // The container starts with that address: the follower ties the lease
    // to it by address and tells the server its hostname.
    std::fs::write(
        fake.path().join(format!("c-{id}")),
        inspect_doc(&id, "web", &parent, Some(&ip)),
    )
    .expect("inspect doc");
    std::fs::write(fake.path().join("ps"), format!("{id} web\n")).expect("ps");
    event(fake.path(), "start", &id, "web");
    let tied = wait_for(Duration::from_secs(20), || {
        let r = raw_records(&lab);
        (r.len() == 1 && r[0]["container"] == id.as_str() && r[0]["hostname"] == "web")
            .then_some(())
    });
    assert!(
        tied.is_some(),
        "records: {:?}; log:\n{}",
        raw_records(&lab),
        d.log()
    );
    let named = wait_for(Duration::from_secs(10), || {
        lab.server_leases()
            .iter()
            .any(|r| r.1 == ip && r.2 == "web")
            .then_some(())
    });
    assert!(named.is_some(), "{:?}", lab.server_leases());

    // Stopped: the engine gives the address back; the lease is kept.
    std::fs::write(
        fake.path().join(format!("c-{id}")),
        inspect_doc(&id, "web", &parent, None),
    )
    .expect("inspect doc");
    d.release(&pool, &ip);
    let r = raw_records(&lab);
    assert!(r.len() == 1 && r[0]["kept_since"].is_string(), "{r:?}");
    assert!(!lab.released(&ip, &parent), "{}", lab.server_log());

    // Started again (a new request, no name): the kept lease, as it was
    // (the parent's MAC, the same client id), the same address.
    assert_eq!(d.lease_with(&pool, json!({})), ip);
    assert_eq!(
        records(&lab),
        vec![(ip.clone(), parent.clone(), cid.clone())]
    );
    let rows = server_rows(&lab, false);
    assert_eq!(rows, vec![(ip.clone(), parent.clone(), cid.clone())]);
    std::fs::write(
        fake.path().join(format!("c-{id}")),
        inspect_doc(&id, "web", &parent, Some(&ip)),
    )
    .expect("inspect doc");
    event(fake.path(), "start", &id, "web");
    let tied = wait_for(Duration::from_secs(20), || {
        (raw_records(&lab)[0]["container"] == id.as_str()).then_some(())
    });
    assert!(tied.is_some(), "{:?}; log:\n{}", raw_records(&lab), d.log());

    // Removed: the follower releases it, at the server too.
    std::fs::remove_file(fake.path().join(format!("c-{id}"))).expect("rm inspect doc");
    std::fs::write(fake.path().join("ps"), b"").expect("ps");
    event(fake.path(), "destroy", &id, "web");
    let gone = wait_for(Duration::from_secs(20), || {
        (raw_records(&lab).is_empty() && server_rows(&lab, false).is_empty()).then_some(())
    });
    assert!(
        gone.is_some(),
        "records {:?}, server {:?}; log:\n{}",
        raw_records(&lab),
        server_rows(&lab, false),
        d.log()
    );
}

/// On a pool with a MAC per container (macvlan), an engine that names the
/// container (moby/moby#50586, Docker 28 and later; 20.10 and 26.1 here do
/// not) makes the name the lease's identity: two containers restarted at
/// once, each with a new MAC, each get their own address back, with one
/// lease each at the server, where the MAC alone could not tell them apart.
#[test]
fn containers_the_engine_names_keep_their_own_addresses_under_new_macs_when_restarted_together() {
    let Some(mut lab) = Lab::new(&["dnsmasq", "tail"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let host = lab.client_mac();
    let (fake, d) = following_daemon(&lab);
    let pool = d.pool(json!({"dhcp_interface": IFACE}));
    assert!(!pool.ends_with(":shared-mac"), "{pool}");
    let ask = |name: &str, mac: &str| {
        d.lease_with(
            &pool,
            json!({"com.docker.network.endpoint.macaddress": mac,
                   "com.docker.network.endpoint.name": name}),
        )
    };
    let containers = [
        (
            "web",
            "c0ffee".repeat(10) + "0001",
            ENDPOINTS[0],
            ENDPOINTS[1],
        ),
        (
            "db",
            "c0ffee".repeat(10) + "0002",
            ENDPOINTS[2],
            "02:42:0a:4d:00:04",
        ),
    ];
    let mut ips = Vec::new();
    let mut ps = String::new();
    for (name, id, first, _) in &containers {
        let ip = ask(name, first);
        std::fs::write(
            fake.path().join(format!("c-{id}")),
            inspect_doc(id, name, first, Some(&ip)),
        )
        .expect("inspect doc");
        ps.push_str(&format!("{id} {name}\n"));
        std::fs::write(fake.path().join("ps"), &ps).expect("ps");
        event(fake.path(), "start", id, name);
        ips.push(ip);
    }
    assert_ne!(ips[0], ips[1]);
    // The client id names the container (and this host's interface), not
    // the MAC; the follower ties each lease to its container by address.
    let cid = |name: &str| plugin_client_id(&host, name);
    let tied = wait_for(Duration::from_secs(20), || {
        let r = raw_records(&lab);
        (r.len() == 2 && r.iter().all(|l| l["container"].is_string())).then_some(())
    });
    assert!(tied.is_some(), "{:?}; log:\n{}", raw_records(&lab), d.log());
    assert_eq!(server_rows(&lab, false), {
        let mut want = vec![
            (ips[0].clone(), ENDPOINTS[0].to_string(), cid("web")),
            (ips[1].clone(), ENDPOINTS[2].to_string(), cid("db")),
        ];
        want.sort();
        want
    });

    // An engine restart: both stopped (their addresses given back, kept),
    // then both started with new MACs, the second first.
    for ((name, id, first, _), ip) in containers.iter().zip(&ips) {
        std::fs::write(
            fake.path().join(format!("c-{id}")),
            inspect_doc(id, name, first, None),
        )
        .expect("inspect doc");
        d.release(&pool, ip);
    }
    assert!(
        raw_records(&lab)
            .iter()
            .all(|l| l["kept_since"].is_string()),
        "{:?}",
        raw_records(&lab)
    );
    assert_eq!(ask("db", containers[1].3), ips[1], "log:\n{}", d.log());
    assert_eq!(ask("web", containers[0].3), ips[0], "log:\n{}", d.log());
    let mut want = vec![
        (ips[0].clone(), containers[0].3.to_string(), cid("web")),
        (ips[1].clone(), containers[1].3.to_string(), cid("db")),
    ];
    want.sort();
    assert_eq!(server_rows(&lab, false), want, "log:\n{}", d.log());
    assert_eq!(records(&lab), want);
    let r = raw_records(&lab);
    assert!(
        r.iter()
            .all(|l| l["container"].is_string() && l["kept_since"].is_null()),
        "{r:?}"
    );
}

/// A container stopped for good on an engine that names no container and
/// without a fixed MAC: its kept lease can never go back to it (its next
/// start gets a new one), so once kept past the reuse window the daemon
/// releases it when it falls due instead of renewing it, at the server too.
#[test]
fn a_lease_kept_past_the_window_for_a_container_nothing_names_is_released_when_due() {
    let Some(mut lab) = Lab::new(&["dnsmasq", "tail"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let (fake, d) = following_daemon(&lab);
    let pool = d.pool(json!({"dhcp_interface": IFACE}));
    let id = "c0ffee".repeat(10) + "0003";
    let mac = ENDPOINTS[0];
    let ip = d.lease(&pool, mac);
    std::fs::write(
        fake.path().join(format!("c-{id}")),
        inspect_doc(&id, "old", mac, Some(&ip)),
    )
    .expect("inspect doc");
    std::fs::write(fake.path().join("ps"), format!("{id} old\n")).expect("ps");
    event(fake.path(), "start", &id, "old");
    let tied = wait_for(Duration::from_secs(20), || {
        (raw_records(&lab)
            .first()
            .is_some_and(|l| l["container"] == id.as_str()))
        .then_some(())
    });
    assert!(tied.is_some(), "{:?}; log:\n{}", raw_records(&lab), d.log());
    std::fs::write(
        fake.path().join(format!("c-{id}")),
        inspect_doc(&id, "old", mac, None),
    )
    .expect("inspect doc");
    d.release(&pool, &ip);
    assert!(raw_records(&lab)[0]["kept_since"].is_string());

    // Twenty minutes later, with its renewal due: as if the clock had run.
    let state = lab.state_dir();
    let mut doc = common::table(&state, "leases.d", "leases");
    let now = chrono::Utc::now();
    let l = &mut doc["leases"][0];
    l["kept_since"] = json!((now - chrono::Duration::minutes(20)).to_rfc3339());
    l["obtained_at"] = json!((now - chrono::Duration::seconds(500)).to_rfc3339());
    l["expires_at"] = json!((now + chrono::Duration::seconds(100)).to_rfc3339());
    common::write_table(&state, "leases.d", "leases", &doc);
    let gone = wait_for(Duration::from_secs(90), || {
        (raw_records(&lab).is_empty() && lab.released(&ip, mac)).then_some(())
    });
    assert!(
        gone.is_some(),
        "records {:?}; server log:\n{}\ndaemon:\n{}",
        raw_records(&lab),
        lab.server_log(),
        d.log()
    );
    assert!(d.log().contains("kept since its container"), "{}", d.log());
}
