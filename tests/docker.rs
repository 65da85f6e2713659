//! `create` / `run` / `rm` / `delete` against a real Docker Engine (see
//! common/docker.rs): the macvlan parent is a veth end in the root namespace
//! made by the test, its peer in a namespace with dnsmasq. Nothing is sent
//! on the machine's own interfaces. Needs root, dockerd and dnsmasq; skipped
//! without them, except under CI=true where that is a failure. Each test runs
//! on Docker 20.10 and on 26.1 (`NAME::on_docker_20_10`, `NAME::on_docker_26`).

mod common;

use std::process::Output;
use std::sync::Arc;

use std::time::Duration;

use common::docker::{Daemon, Engine, IMAGE, NetworkGuard, Version, engine_of};
use common::{Lab, ok, text, wait_for};
use serde_json::Value;

/// Held by the tests that give a network 10.77.0.0/24 on a shared engine,
/// which refuses a pool that overlaps another network's (one per engine).
static SUBNET_10_77: [std::sync::Mutex<()>; 2] =
    [std::sync::Mutex::new(()), std::sync::Mutex::new(())];

fn subnet_10_77(v: Version) -> std::sync::MutexGuard<'static, ()> {
    let i = match v {
        Version::V20_10 => 0,
        Version::V26 => 1,
    };
    SUBNET_10_77[i].lock().unwrap_or_else(|e| e.into_inner())
}

crate::on_each_engine!(
    create_by_probe_run_rm_recreate_delete,
    create_with_subnet_then_stray_offer_and_interrupted_delete,
    the_daemon_releases_leases_of_containers_removed_by_plain_docker,
    delete_finishes_when_the_dhcp_interface_is_gone,
    plain_docker_run_on_a_created_network_is_refused_and_dhcpnet_run_still_leases,
);

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// A lab whose parent is in the root namespace, with dnsmasq (unless
/// `server` is false), and the shared engine of version `v`.
fn setup(v: Version, server: bool) -> Option<(Lab, Arc<Engine>)> {
    let mut lab = Lab::with_root_parent(&["dnsmasq", "ss"])?;
    let engine = engine_of(v)?;
    if server {
        lab.start_dnsmasq(&[]);
    }
    Some((lab, engine))
}

fn dhcpnet(lab: &Lab, e: &Engine, args: &[&str]) -> Output {
    lab.dhcpnet_root(args, &e.env())
}

/// (ip, mac) of a container on `net`, from Docker.
fn endpoint(e: &Engine, container: &str, net: &str) -> (String, String) {
    let f = format!(
        "{{{{with index .NetworkSettings.Networks \"{net}\"}}}}{{{{.IPAddress}}}} {{{{.MacAddress}}}}{{{{end}}}}"
    );
    let s = e.docker_ok(&["inspect", "--format", &f, container]);
    let mut it = s.split_whitespace();
    (
        it.next().unwrap_or_default().to_string(),
        it.next().unwrap_or_default().to_string(),
    )
}

fn leases_json(lab: &Lab, e: &Engine) -> Vec<Value> {
    ok(&dhcpnet(lab, e, &["leases", "-o", "json"]))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn create_by_probe_run_rm_recreate_delete(v: Version) {
    let Some((mut lab, e)) = setup(v, true) else {
        return;
    };
    let _turn = subnet_10_77(v);
    lab.start_dns("dns-check.lab.test", "10.77.0.222");
    let net = format!("dn-main-{}", std::process::id());
    let _guard = NetworkGuard {
        engine: e.clone(),
        name: net.clone(),
    };
    let parent = lab.parent().to_string();

    // create by probe: subnet and gateway from dnsmasq's offer.
    let created = ok(&dhcpnet(
        &lab,
        &e,
        &["create", &net, "--parent", &parent, "-o", "json"],
    ));
    assert_eq!(created["subnet"], "10.77.0.0/24");
    assert_eq!(created["gateway"], "10.77.0.1");
    assert_eq!(created["dhcp_interface"], parent.as_str());
    let inspect: Value =
        serde_json::from_str(&e.docker_ok(&["network", "inspect", "--format", "{{json .}}", &net]))
            .unwrap();
    assert_eq!(inspect["Driver"], "macvlan");
    assert_eq!(inspect["Options"]["parent"], parent.as_str());
    assert_eq!(inspect["IPAM"]["Config"][0]["Subnet"], "10.77.0.0/24");
    assert_eq!(inspect["IPAM"]["Config"][0]["Gateway"], "10.77.0.1");
    assert_eq!(
        inspect["Labels"]["io.dhcpnet.dhcp-interface"],
        parent.as_str()
    );

    // Two containers; the hostname comes from --name, or from --hostname.
    let r1 = dhcpnet(
        &lab,
        &e,
        &[
            "run", &net, "--", "-d", "--name", "web-1", IMAGE, "sleep", "600",
        ],
    );
    assert!(r1.status.success(), "run web-1: {}", stderr(&r1));
    let r2 = dhcpnet(
        &lab,
        &e,
        &[
            "run",
            &net,
            "--hostname",
            "db-main",
            "--",
            "-d",
            "--name",
            "db",
            IMAGE,
            "sleep",
            "600",
        ],
    );
    assert!(r2.status.success(), "run db: {}", stderr(&r2));
    let server = lab.server_leases();
    let leases = leases_json(&lab, &e);
    for (name, host) in [("web-1", "web-1"), ("db", "db-main")] {
        let (ip, mac) = endpoint(&e, name, &net);
        assert!(ip.starts_with("10.77.0."), "{name} has address {ip:?}");
        assert!(
            server
                .iter()
                .any(|(m, i, h, _)| *m == mac && *i == ip && h == host),
            "dnsmasq should hold {mac} {ip} {host}: {server:?}"
        );
        let id = e.docker_ok(&["inspect", "--format", "{{.Id}}", name]);
        let l = leases
            .iter()
            .find(|l| l["mac"] == mac.as_str())
            .unwrap_or_else(|| panic!("no record for {mac}: {leases:?}"));
        assert_eq!(
            l["container"],
            id.as_str(),
            "the lease records the container id"
        );
        assert_eq!(l["network"], net.as_str());
        assert_eq!(e.docker_ok(&["exec", name, "hostname"]), host);
        let resolv = e.docker_ok(&["exec", name, "cat", "/etc/resolv.conf"]);
        assert!(
            resolv.contains("search lab.test"),
            "{name} resolv.conf: {resolv}"
        );
        // Docker 20.10 writes its embedded resolver (127.0.0.11) into
        // resolv.conf on user-defined networks and forwards to the --dns
        // servers: the DHCP DNS is either there directly or behind it.
        let dns = e.docker_ok(&["inspect", "--format", "{{json .HostConfig.Dns}}", name]);
        assert!(
            resolv.contains("nameserver 10.77.0.2") || dns.contains("10.77.0.2"),
            "{name}: {resolv} / {dns}"
        );
        let look = e.docker(&["exec", name, "nslookup", "dns-check.lab.test"]);
        assert!(
            String::from_utf8_lossy(&look.stdout).contains("10.77.0.222"),
            "{name} resolves through the DHCP DNS: {} {}",
            text(&look),
            stderr(&look)
        );
    }

    // `lease NET` resolves the network's DHCP interface.
    let l = ok(&dhcpnet(
        &lab,
        &e,
        &["lease", &net, "--hostname", "extra", "-o", "json"],
    ));
    assert_eq!(l["interface"], parent.as_str());
    assert_eq!(l["network"], net.as_str());
    let extra_ip = l["ip"].as_str().unwrap().to_string();
    ok(&dhcpnet(
        &lab,
        &e,
        &["release", &net, "--ip", &extra_ip, "-o", "json"],
    ));
    lab.server_comes_to("release freed the address at the server", |rows| {
        !rows.iter().any(|(_, i, _, _)| *i == extra_ip)
    });

    // rm releases at the server; the same --name gets its MAC and address back.
    let (ip1, mac1) = endpoint(&e, "web-1", &net);
    let rm = dhcpnet(&lab, &e, &["rm", "web-1"]);
    assert!(rm.status.success(), "rm: {}", stderr(&rm));
    lab.server_comes_to("rm released at the server", |rows| {
        !rows.iter().any(|(m, _, _, _)| *m == mac1)
    });
    assert!(
        !e.docker(&["inspect", "web-1"]).status.success(),
        "the container is gone"
    );
    let again = dhcpnet(
        &lab,
        &e,
        &[
            "run", &net, "--", "-d", "--name", "web-1", IMAGE, "sleep", "600",
        ],
    );
    assert!(again.status.success(), "re-run: {}", stderr(&again));
    assert_eq!(
        endpoint(&e, "web-1", &net),
        (ip1.clone(), mac1.clone()),
        "re-created web-1 keeps MAC and address"
    );

    // A docker failure gives the lease back and passes docker's status through.
    let before = lab.server_leases().len();
    let bad = dhcpnet(
        &lab,
        &e,
        &[
            "run",
            &net,
            "--",
            "-d",
            "--pull",
            "never",
            "--name",
            "bad",
            "no-such-image:latest",
        ],
    );
    assert_eq!(
        code(&bad),
        Some(125),
        "docker's status comes through: {}",
        stderr(&bad)
    );
    assert!(stderr(&bad).contains("released"), "{}", stderr(&bad));
    assert_eq!(
        lab.server_leases().len(),
        before,
        "the lease was released: {:?}",
        lab.server_leases()
    );

    // Attached with --rm: docker's output is the user's; once the container
    // is gone its lease is released.
    let att = dhcpnet(
        &lab,
        &e,
        &[
            "run",
            &net,
            "--",
            "--rm",
            IMAGE,
            "sh",
            "-c",
            "ip -4 addr show eth0",
        ],
    );
    assert!(att.status.success(), "{}", stderr(&att));
    assert!(
        text(&att).contains("inet 10.77.0."),
        "the container's own output: {}",
        text(&att)
    );
    assert_eq!(
        lab.server_leases().len(),
        before,
        "released after --rm: {:?}",
        lab.server_leases()
    );
    // Attached, ending with status 3: that status comes through, the
    // stopped container keeps its lease until `rm`.
    let three = dhcpnet(
        &lab,
        &e,
        &[
            "run", &net, "--", "--name", "three", IMAGE, "sh", "-c", "exit 3",
        ],
    );
    assert_eq!(code(&three), Some(3), "{}", stderr(&three));
    assert_eq!(lab.server_leases().len(), before + 1);
    ok(&dhcpnet(&lab, &e, &["rm", "three", "-o", "json"]));
    lab.server_comes_to("rm of three released its lease", |rows| {
        rows.len() == before
    });

    // A CLI newer than the engine is explained before any lease is taken.
    if std::path::Path::new("/usr/local/bin/docker").is_file() {
        let mut env = e.env();
        env.retain(|(k, _)| k != "DHCPNET_DOCKER");
        env.push(("DHCPNET_DOCKER".into(), "/usr/local/bin/docker".into()));
        let v = lab.dhcpnet_root(
            &[
                "run", &net, "--", "-d", "--name", "newer", IMAGE, "sleep", "600",
            ],
            &env,
        );
        if !v.status.success() {
            assert_eq!(code(&v), Some(10), "{}", stderr(&v));
            assert!(stderr(&v).contains("DHCPNET_DOCKER"), "{}", stderr(&v));
            assert_eq!(lab.server_leases().len(), before);
        } else {
            ok(&dhcpnet(&lab, &e, &["rm", "newer", "-o", "json"]));
        }
    }

    // delete refuses while containers are attached, naming them (a stopped
    // one too, though `docker network inspect` does not list it).
    e.docker_ok(&["stop", "-t", "0", "db"]);
    let refused = dhcpnet(&lab, &e, &["delete", &net]);
    assert_eq!(code(&refused), Some(12), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("web-1") && stderr(&refused).contains("db"),
        "{}",
        stderr(&refused)
    );
    assert!(e.has_network(&net));
    // --force removes them, releases everything, removes the network.
    let del = ok(&dhcpnet(
        &lab,
        &e,
        &["delete", &net, "--force", "-o", "json"],
    ));
    assert_eq!(del["docker_network_removed"], true);
    assert!(!e.has_network(&net), "the Docker network is gone");
    assert!(
        lab.server_leases().is_empty(),
        "no lease left at the server: {:?}",
        lab.server_leases()
    );
    assert!(leases_json(&lab, &e).is_empty());
    assert_eq!(e.docker_ok(&["ps", "-aq", "--filter", "name=web-1"]), "");
    // A second delete finds nothing to do.
    assert_eq!(code(&dhcpnet(&lab, &e, &["delete", &net])), Some(6));
}

fn create_with_subnet_then_stray_offer_and_interrupted_delete(v: Version) {
    let Some((mut lab, e)) = setup(v, false) else {
        return;
    };
    let net = format!("dn-subnet-{}", std::process::id());
    let _guard = NetworkGuard {
        engine: e.clone(),
        name: net.clone(),
    };
    let parent = lab.parent().to_string();
    // Not the main test's 10.77.0.0/24: one engine refuses overlapping pools.
    let out = dhcpnet(
        &lab,
        &e,
        &[
            "create",
            &net,
            "--parent",
            &parent,
            "--subnet",
            "10.78.0.0/24",
            "--timeout",
            "1",
            "-o",
            "json",
        ],
    );
    let created = ok(&out);
    assert_eq!(created["gateway"], "10.78.0.1", "the first usable address");
    assert!(
        stderr(&out).contains("warning") && stderr(&out).contains("no DHCP server answered"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        e.docker_ok(&[
            "network",
            "inspect",
            "--format",
            "{{(index .IPAM.Config 0).Gateway}}",
            &net
        ]),
        "10.78.0.1"
    );

    // Now a server answers, but from 10.77.0.0/24: its address is never
    // handed to a container, and the lease goes back.
    lab.start_dnsmasq(&[]);
    let r = dhcpnet(
        &lab,
        &e,
        &[
            "run", &net, "--", "-d", "--name", "stray", IMAGE, "sleep", "600",
        ],
    );
    assert_eq!(code(&r), Some(5), "{}", stderr(&r));
    assert!(
        stderr(&r).contains("outside") && stderr(&r).contains("10.78.0.0/24"),
        "{}",
        stderr(&r)
    );
    assert!(
        lab.server_leases().is_empty(),
        "the lease was released: {:?}",
        lab.server_leases()
    );
    assert!(
        !e.docker(&["inspect", "stray"]).status.success(),
        "no container was started"
    );
    // Known to Docker by its labels even when dhcpnet's records are lost;
    // a delete that fails midway (here `docker network rm`) leaves a record
    // that the next delete finishes.
    common::clear_table(&lab.state_dir(), "networks.d");
    let l = ok(&dhcpnet(&lab, &e, &["lease", &net, "-o", "json"]));
    assert_eq!(
        l["interface"],
        parent.as_str(),
        "the DHCP interface, from Docker's labels"
    );
    assert_eq!(l["network"], net.as_str());
    assert_eq!(lab.server_leases().len(), 1);
    let wrapper = lab.dir.path().join("docker-failing-rm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = network ] && [ \"$2\" = rm ]; then echo 'Error: simulated failure' >&2; exit 1; fi\nexec {} \"$@\"\n",
            e.cli.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut env = e.env();
    env.retain(|(k, _)| k != "DHCPNET_DOCKER");
    env.push(("DHCPNET_DOCKER".into(), wrapper.display().to_string()));
    let failed = lab.dhcpnet_root(&["delete", &net], &env);
    assert_eq!(code(&failed), Some(10), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("simulated failure") && stderr(&failed).contains("again"),
        "{}",
        stderr(&failed)
    );
    let recs = common::table(&lab.state_dir(), "networks.d", "networks");
    assert_eq!(recs["networks"][0]["deleting"], true, "{recs}");
    assert!(e.has_network(&net));
    assert!(
        lab.server_leases().is_empty(),
        "the leases on NET were released before the failure"
    );
    let del = ok(&dhcpnet(&lab, &e, &["delete", &net, "-o", "json"]));
    assert_eq!(del["docker_network_removed"], true);
    assert!(!e.has_network(&net));
    let recs = common::table(&lab.state_dir(), "networks.d", "networks");
    assert_eq!(recs["networks"], serde_json::json!([]));
}

#[test]
fn refusals_and_dry_run() {
    // No engine needed: nothing here may reach Docker.
    let Some(mut lab) = Lab::with_root_parent(&["dnsmasq", "ss"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let parent = lab.parent().to_string();
    let env = vec![(
        "DHCPNET_DOCKER".to_string(),
        "/nonexistent/docker".to_string(),
    )];

    // A VLAN parent without --subnet: spanning tree, asks for --subnet.
    for args in [
        vec!["create", "v", "--parent", "eth0.10"],
        vec!["create", "v", "--parent", parent.as_str(), "--vlan", "10"],
    ] {
        let o = lab.dhcpnet_root(&args, &env);
        assert_eq!(code(&o), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("spanning tree") && stderr(&o).contains("--subnet"),
            "{}",
            stderr(&o)
        );
    }

    // A --subnet the server contradicts: refused, naming the server's subnet.
    let o = lab.dhcpnet_root(
        &[
            "create",
            "m",
            "--parent",
            &parent,
            "--subnet",
            "192.168.50.0/24",
        ],
        &env,
    );
    assert_eq!(code(&o), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("10.77.0.0/24"), "{}", stderr(&o));

    // --dry-run prints the exact docker command and changes nothing.
    let o = lab.dhcpnet_root(&["create", "dry", "--parent", &parent, "--dry-run"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let cmd = text(&o);
    assert_eq!(
        cmd.trim(),
        format!(
            "/nonexistent/docker network create --driver macvlan --subnet 10.77.0.0/24 --gateway 10.77.0.1 \
             --ip-range 10.77.0.1/32 --opt parent={parent} --label io.dhcpnet.managed=true --label io.dhcpnet.dhcp-interface={parent} \
             --label io.dhcpnet.parent={parent} dry"
        )
    );
    assert!(
        !lab.state_dir().join("networks.d").exists(),
        "no record was written"
    );

    // --vlan: the dry run names the VLAN link dhcpnet would create and own.
    let o = lab.dhcpnet_root(
        &[
            "create",
            "dryv",
            "--parent",
            &parent,
            "--vlan",
            "10",
            "--subnet",
            "10.90.0.0/24",
            "--timeout",
            "0.2",
            "--dry-run",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let vlan_link = format!("{parent}.10");
    assert!(
        text(&o).contains(&format!("--opt parent={vlan_link} ")),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains(&format!("--label io.dhcpnet.owned-link={vlan_link} ")),
        "{}",
        text(&o)
    );
    assert!(
        !std::path::Path::new("/sys/class/net")
            .join(&vlan_link)
            .exists(),
        "a dry run creates no link"
    );
    // For real, on a kernel without 802.1Q (as here) it fails with exit 9
    // and leaves nothing behind; with 802.1Q it creates PARENT.VID.
    let vlan_ok = std::path::Path::new("/proc/net/vlan/config").exists();
    if !vlan_ok {
        let o = lab.dhcpnet_root(
            &[
                "create",
                "v10",
                "--parent",
                &parent,
                "--vlan",
                "10",
                "--subnet",
                "10.90.0.0/24",
            ],
            &env,
        );
        assert_eq!(code(&o), Some(9), "{}", stderr(&o));
        assert!(stderr(&o).contains("8021q"), "{}", stderr(&o));
        assert!(
            !std::path::Path::new("/sys/class/net")
                .join(&vlan_link)
                .exists()
        );
        assert!(
            !lab.state_dir().join("networks.d").exists(),
            "no record was written"
        );
    }
    let o = lab.dhcpnet_root(&["lease", "dry"], &env);
    assert_eq!(code(&o), Some(6), "{}", stderr(&o));
}

/// networks.json's member records of `net` as (name, container).
fn members(lab: &Lab, net: &str) -> Vec<(String, Value)> {
    let recs = common::table(&lab.state_dir(), "networks.d", "networks");
    recs["networks"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == net))
        .and_then(|n| n["members"].as_array())
        .map(|m| {
            m.iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap_or_default().to_string(),
                        m["container"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// With `dhcpnet daemon` following the engine, a container started by
/// `dhcpnet run` and removed by plain `docker rm -f` (or a `--rm` container
/// that ends, or one removed while no daemon ran) has its lease released at
/// the server and its records dropped.
fn the_daemon_releases_leases_of_containers_removed_by_plain_docker(v: Version) {
    let Some((lab, e)) = setup(v, true) else {
        return;
    };
    let _turn = subnet_10_77(v);
    let net = format!("dn-follow-{}", std::process::id());
    let _guard = NetworkGuard {
        engine: e.clone(),
        name: net.clone(),
    };
    let parent = lab.parent().to_string();
    // The lab server's 10.77.0.0/24, which the main test's network has too
    // (SUBNET_10_77, taken above and released after the guard's cleanup).
    ok(&dhcpnet(
        &lab,
        &e,
        &[
            "create",
            &net,
            "--parent",
            &parent,
            "--subnet",
            "10.77.0.0/24",
            "-o",
            "json",
        ],
    ));
    let d = Daemon::start(&lab, &e, &["--no-plugin"], "daemon-follow");

    let r = dhcpnet(
        &lab,
        &e,
        &[
            "run", &net, "--", "-d", "--name", "fol-1", IMAGE, "sleep", "600",
        ],
    );
    assert!(r.status.success(), "run fol-1: {}", stderr(&r));
    let (ip, mac) = endpoint(&e, "fol-1", &net);
    let id = e.docker_ok(&["inspect", "--format", "{{.Id}}", "fol-1"]);
    assert!(
        lab.server_leases().iter().any(|r| r.0 == mac && r.1 == ip),
        "{:?}",
        lab.server_leases()
    );
    assert!(
        members(&lab, &net).contains(&("fol-1".into(), Value::from(id.as_str()))),
        "{:?}",
        members(&lab, &net)
    );

    // Plain docker, no dhcpnet rm.
    e.docker_ok(&["rm", "-f", "fol-1"]);
    let gone = wait_for(Duration::from_secs(20), || {
        lab.released(&ip, &mac).then_some(())
    });
    assert!(
        gone.is_some(),
        "no DHCPRELEASE of {ip} {mac} at the server; daemon log:\n{}",
        d.log()
    );
    assert!(
        !lab.server_leases().iter().any(|r| r.0 == mac),
        "dnsmasq still holds {mac}: {:?}",
        lab.server_leases()
    );
    let dropped = wait_for(Duration::from_secs(10), || {
        leases_json(&lab, &e).is_empty().then_some(())
    });
    assert!(
        dropped.is_some(),
        "records left: {:?}; daemon log:\n{}",
        leases_json(&lab, &e),
        d.log()
    );
    // networks.json keeps the name and MAC (for re-creation), not the container.
    let forgotten = wait_for(Duration::from_secs(10), || {
        let m = members(&lab, &net);
        (m.iter().any(|(n, _)| n == "fol-1") && !m.iter().any(|(_, c)| *c == id.as_str()))
            .then_some(())
    });
    assert!(
        forgotten.is_some(),
        "networks.json still lists {id}: {:?}; daemon log:\n{}",
        members(&lab, &net),
        d.log()
    );

    // `dhcpnet run -- -d --rm`: the container ends, Docker removes it, the
    // follower releases its lease (the destroy event).
    let r = dhcpnet(
        &lab,
        &e,
        &[
            "run", &net, "--", "-d", "--rm", "--name", "fol-2", IMAGE, "sleep", "3",
        ],
    );
    assert!(r.status.success(), "run fol-2: {}", stderr(&r));
    let l = leases_json(&lab, &e);
    let rec = l
        .iter()
        .find(|l| l["container"].is_string())
        .cloned()
        .unwrap_or_else(|| panic!("no record for fol-2: {l:?}"));
    let (ip2, mac2) = (
        rec["ip"].as_str().unwrap_or_default().to_string(),
        rec["mac"].as_str().unwrap_or_default().to_string(),
    );
    assert!(
        lab.server_leases()
            .iter()
            .any(|r| r.0 == mac2 && r.1 == ip2),
        "{:?}",
        lab.server_leases()
    );
    let gone = wait_for(Duration::from_secs(30), || {
        lab.released(&ip2, &mac2).then_some(())
    });
    assert!(
        gone.is_some(),
        "no DHCPRELEASE of {ip2} {mac2} after the --rm container ended; daemon log:\n{}",
        d.log()
    );
    assert!(
        !e.docker(&["inspect", "fol-2"]).status.success(),
        "Docker removed fol-2"
    );
    let dropped = wait_for(Duration::from_secs(10), || {
        leases_json(&lab, &e).is_empty().then_some(())
    });
    assert!(
        dropped.is_some(),
        "records left: {:?}",
        leases_json(&lab, &e)
    );
    let m = members(&lab, &net);
    assert!(
        m.iter().all(|(_, c)| c.is_null()),
        "networks.json still lists a container: {m:?}"
    );

    // `dhcpnet rm` with the daemon running: whichever of the two releases
    // first, rm reports the address as released.
    let r = dhcpnet(
        &lab,
        &e,
        &[
            "run", &net, "--", "-d", "--name", "fol-4", IMAGE, "sleep", "600",
        ],
    );
    assert!(r.status.success(), "run fol-4: {}", stderr(&r));
    let (ip4, mac4) = endpoint(&e, "fol-4", &net);
    let rm = dhcpnet(&lab, &e, &["rm", "fol-4", "-o", "json"]);
    eprintln!("dhcpnet rm with the daemon running:\n{}", stderr(&rm)); // shown with --nocapture
    let rm = ok(&rm);
    assert_eq!(
        rm[0]["released"],
        serde_json::json!([ip4.as_str()]),
        "{rm}; daemon log:\n{}",
        d.log()
    );
    assert!(lab.released(&ip4, &mac4), "no DHCPRELEASE of {ip4} {mac4}");
    assert!(
        leases_json(&lab, &e).is_empty(),
        "{:?}",
        leases_json(&lab, &e)
    );

    // Removed while no daemon ran: released when it starts (reconciliation).
    drop(d);
    let r = dhcpnet(
        &lab,
        &e,
        &[
            "run", &net, "--", "-d", "--name", "fol-3", IMAGE, "sleep", "600",
        ],
    );
    assert!(r.status.success(), "run fol-3: {}", stderr(&r));
    let (ip3, mac3) = endpoint(&e, "fol-3", &net);
    e.docker_ok(&["rm", "-f", "fol-3"]);
    let d = Daemon::start(&lab, &e, &["--no-plugin"], "daemon-reconcile");
    let gone = wait_for(Duration::from_secs(20), || {
        lab.released(&ip3, &mac3).then_some(())
    });
    assert!(
        gone.is_some(),
        "no DHCPRELEASE of {ip3} {mac3} at start-up; daemon log:\n{}",
        d.log()
    );
    let clean = wait_for(Duration::from_secs(10), || {
        (leases_json(&lab, &e).is_empty() && members(&lab, &net).iter().all(|(_, c)| c.is_null()))
            .then_some(())
    });
    assert!(
        clean.is_some(),
        "records left: {:?} {:?}; daemon log:\n{}",
        leases_json(&lab, &e),
        members(&lab, &net),
        d.log()
    );
}

fn delete_finishes_when_the_dhcp_interface_is_gone(v: Version) {
    let _one = subnet_10_77(v);
    let Some((lab, e)) = setup(v, true) else {
        return;
    };
    let net = format!("dn-gone-{}", std::process::id());
    let _guard = NetworkGuard {
        engine: e.clone(),
        name: net.clone(),
    };
    let parent = lab.parent().to_string();
    ok(&dhcpnet(
        &lab,
        &e,
        &["create", &net, "--parent", &parent, "-o", "json"],
    ));
    ok(&dhcpnet(&lab, &e, &["lease", &net, "-o", "json"]));
    assert_eq!(leases_json(&lab, &e).len(), 1);
    // The link goes down (a VLAN missing after a reboot, a NIC removed): no
    // RELEASE can be sent, and delete must still finish, saying so.
    common::must(&["ip", "link", "set", &parent, "down"]);
    let out = dhcpnet(&lab, &e, &["delete", &net, "-o", "json"]);
    let del = ok(&out);
    assert_eq!(del["docker_network_removed"], true, "{del}");
    assert!(
        stderr(&out).contains("forgetting 1 lease") && stderr(&out).contains("expire"),
        "{}",
        stderr(&out)
    );
    assert!(!e.has_network(&net));
    assert!(
        leases_json(&lab, &e).is_empty(),
        "the records went with the network"
    );
}

/// Docker's own IPAM never hands out an address on a `dhcpnet create`
/// network: a plain `docker run --network` is refused clearly (the server
/// never knew such an address), while `dhcpnet run` leases and starts.
fn plain_docker_run_on_a_created_network_is_refused_and_dhcpnet_run_still_leases(v: Version) {
    let Some((lab, e)) = setup(v, true) else {
        return;
    };
    let _turn = subnet_10_77(v);
    let net = format!("dn-plain-{}", std::process::id());
    let _guard = NetworkGuard {
        engine: e.clone(),
        name: net.clone(),
    };
    let parent = lab.parent().to_string();
    let made = ok(&dhcpnet(
        &lab,
        &e,
        &["create", &net, "--parent", &parent, "-o", "json"],
    ));
    let o = e.docker(&[
        "run",
        "-d",
        "--network",
        &net,
        "--name",
        "bypass",
        IMAGE,
        "sleep",
        "600",
    ]);
    let err = stderr(&o);
    let _ = e.docker(&["rm", "-f", "bypass"]);
    assert!(
        !o.status.success(),
        "plain docker run got an address: {err}"
    );
    assert!(err.contains("no available IPv4 addresses"), "{err}");
    assert!(lab.server_leases().is_empty(), "{:?}", lab.server_leases());

    let o = dhcpnet(
        &lab,
        &e,
        &[
            "run", &net, "--", "-d", "--name", "via-dhcp", IMAGE, "sleep", "600",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (ip, mac) = endpoint(&e, "via-dhcp", &net);
    assert!(
        lab.server_leases().iter().any(|r| r.0 == mac && r.1 == ip),
        "{ip} {mac} not in {:?}",
        lab.server_leases()
    );
    ok(&dhcpnet(&lab, &e, &["rm", "via-dhcp", "-o", "json"]));

    // A name that begins another container's id is no clash (Docker
    // resolves an unknown name as an id prefix; seen once in CI, `db`
    // finding `db1b6...`).
    let anchor = e.docker_ok(&["create", "--network", "none", IMAGE, "sleep", "1"]);
    let prefix = anchor.get(..6).unwrap_or_default().to_string();
    let o = dhcpnet(
        &lab,
        &e,
        &[
            "run", &net, "--", "-d", "--name", &prefix, IMAGE, "sleep", "600",
        ],
    );
    let _ = e.docker(&["rm", "-f", &anchor]);
    assert!(o.status.success(), "{prefix}: {}", stderr(&o));
    ok(&dhcpnet(&lab, &e, &["rm", &prefix, "-o", "json"]));

    // doctor: the network is closed to Docker's own IPAM. Made again as an
    // older dhcpnet made it (its labels, no --ip-range), it is a warning
    // naming it and the fix, which works.
    let networks_row = || {
        let o = dhcpnet(&lab, &e, &["doctor", &parent, "-o", "json"]);
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|err| panic!("doctor JSON ({err}): {}", stderr(&o)));
        v["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|r| r["name"] == "networks"))
            .cloned()
            .unwrap_or_else(|| panic!("no networks row: {v}"))
    };
    let row = networks_row();
    assert_eq!(row["status"], "ok", "{row}");
    e.docker_ok(&["network", "rm", &net]);
    e.docker_ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        made["subnet"].as_str().unwrap_or_default(),
        "--gateway",
        made["gateway"].as_str().unwrap_or_default(),
        "-o",
        &format!("parent={parent}"),
        "--label",
        "io.dhcpnet.managed=true",
        "--label",
        &format!("io.dhcpnet.dhcp-interface={parent}"),
        &net,
    ]);
    let row = networks_row();
    assert_eq!(row["status"], "warn", "{row}");
    let (detail, fix) = (row["detail"].to_string(), row["fix"].to_string());
    assert!(
        detail.contains(&net) && detail.contains("does not know"),
        "{row}"
    );
    assert!(
        fix.contains(&format!("dhcpnet delete {net} --force")),
        "{row}"
    );
    ok(&dhcpnet(
        &lab,
        &e,
        &["delete", &net, "--force", "-o", "json"],
    ));
    assert!(!e.has_network(&net));
}

/// Two hosts on one segment: two engines (20.10 and 26), each with its own
/// dhcpnet state directory and its own `dhcpnet create` network on the same
/// LAN, one DHCP server. Their containers' addresses never overlap, every
/// one is the server's lease, and one host removing its containers leaves
/// the other's leases alone.
#[test]
fn two_hosts_on_one_segment_with_one_dhcp_server_never_overlap() {
    let Some(mut lab) = Lab::with_root_parent(&["dnsmasq", "ss"]) else {
        return;
    };
    let (Some(a), Some(b)) = (engine_of(Version::V20_10), engine_of(Version::V26)) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let _t20 = subnet_10_77(Version::V20_10);
    let _t26 = subnet_10_77(Version::V26);
    let parent = lab.parent().to_string();
    let net = format!("dn-two-{}", std::process::id());
    let _ga = NetworkGuard {
        engine: a.clone(),
        name: net.clone(),
    };
    let _gb = NetworkGuard {
        engine: b.clone(),
        name: net.clone(),
    };
    let states = [lab.dir.path().join("host-a"), lab.dir.path().join("host-b")];
    let host = |i: usize, args: &[&str]| -> Output {
        let e = if i == 0 { &a } else { &b };
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dhcpnet"));
        cmd.arg("--state-dir").arg(&states[i]).args(args);
        for (k, v) in e.env() {
            cmd.env(k, v);
        }
        cmd.output().expect("run dhcpnet")
    };
    for i in 0..2 {
        let o = host(i, &["create", &net, "--parent", &parent, "-o", "json"]);
        assert!(o.status.success(), "host {i}: {}", stderr(&o));
    }
    let mut seen: Vec<(usize, String, String)> = Vec::new();
    for n in 0..3 {
        for i in 0..2 {
            let name = format!("h{i}-c{n}");
            let o = host(
                i,
                &[
                    "run", &net, "--", "-d", "--name", &name, IMAGE, "sleep", "600",
                ],
            );
            assert!(o.status.success(), "{name}: {}", stderr(&o));
            let e = if i == 0 { &a } else { &b };
            let (ip, mac) = endpoint(e, &name, &net);
            seen.push((i, ip, mac));
        }
    }
    let mut ips: Vec<&str> = seen.iter().map(|s| s.1.as_str()).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 6, "addresses overlap: {seen:?}");
    let table = lab.server_leases();
    for (_, ip, mac) in &seen {
        assert!(
            table.iter().any(|r| &r.0 == mac && &r.1 == ip),
            "{ip} {mac} is not the server's: {table:?}"
        );
    }
    // Host A removes its containers and its network: B's leases stay.
    for n in 0..3 {
        let o = host(0, &["rm", &format!("h0-c{n}")]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = host(0, &["delete", &net]);
    assert!(o.status.success(), "{}", stderr(&o));
    // dnsmasq rewrites its lease file in place: read until it settles.
    let settled = wait_for(Duration::from_secs(10), || {
        let table = lab.server_leases();
        seen.iter()
            .all(|(i, ip, mac)| table.iter().any(|r| &r.0 == mac && &r.1 == ip) == (*i == 1))
            .then_some(())
    });
    assert!(
        settled.is_some(),
        "after host A's rm: {:?} (seen {seen:?})",
        lab.server_leases()
    );
    for n in 0..3 {
        let o = host(1, &["rm", &format!("h1-c{n}")]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = host(1, &["delete", &net]);
    assert!(o.status.success(), "{}", stderr(&o));
}
