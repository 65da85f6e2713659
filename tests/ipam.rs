//! The IPAM plugin and the event follower with a real Docker engine.
//!
//! The engine (Debian's docker.io, with its matching client /usr/bin/docker)
//! runs inside the lab's client namespace with its own data and exec roots
//! and socket, so it sees only the lab's veth. Docker finds plugins only in
//! /run/docker/plugins, which every engine on the machine shares: tests
//! serialize on a file lock and remove the socket when done.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{IFACE, Lab, ok, wait_for, which};
use serde_json::Value;

const DOCKER: &str = "/usr/bin/docker";
const PLUGIN_SOCKET: &str = "/run/docker/plugins/dhcpnet.sock";
const PLUGIN_LOCK: &str = "/run/lock/dhcpnet-plugin-tests.lock";
const IMAGE: &str = "dhcpnet-test-busybox:1";


/// SIGTERM, `grace` to exit, then SIGKILL.
fn terminate(child: &mut Child, grace: Duration) {
    // SAFETY: kill(2) with the pid of a child this test spawned and has not
    // reaped yet (so the pid cannot have been reused); no memory is involved.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    if wait_for(grace, || child.try_wait().ok().flatten()).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// An isolated dockerd in namespace `ns`; stopped (SIGTERM, then SIGKILL)
/// with everything it made when dropped.
struct Engine {
    child: Child,
    dir: PathBuf,
}

impl Engine {
    fn start(ns: &str, dir: &Path) -> Engine {
        std::fs::create_dir_all(dir).expect("engine dir");
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("log");
        // nsenter, not `ip netns exec`: that remounts /sys, which hides the
        // cgroup hierarchies dockerd needs; only the network namespace changes.
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .args(["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none"])
            .arg(format!("--data-root={}", dir.join("data").display()))
            .arg(format!("--exec-root={}", dir.join("exec").display()))
            .arg(format!("--pidfile={}", dir.join("dockerd.pid").display()))
            .arg(format!("--host=unix://{}", dir.join("docker.sock").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start dockerd");
        let e = Engine { child, dir: dir.to_path_buf() };
        let up = wait_for(Duration::from_secs(90), || e.docker(&["version"]).status.success().then_some(()));
        assert!(up.is_some(), "dockerd did not come up:\n{}", e.log());
        e
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new(DOCKER).arg("-H").arg(self.host()).args(args).output().expect("run docker")
    }

    fn must(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed: {}\ndockerd log:\n{}",
            String::from_utf8_lossy(&o.stderr),
            self.log()
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn log(&self) -> String {
        let s = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        s.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// A busybox-static image, imported (no registry here).
    fn import_busybox(&self) {
        let root = self.dir.join("rootfs");
        std::fs::create_dir_all(root.join("bin")).expect("rootfs");
        let bb = which("busybox").expect("busybox");
        std::fs::copy(&bb, root.join("bin/busybox")).expect("copy busybox");
        for l in ["sh", "sleep", "hostname", "ip"] {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(l));
        }
        let tarball = self.dir.join("rootfs.tar");
        common::must(&["tar", "-C", &root.to_string_lossy(), "-cf", &tarball.to_string_lossy(), "."]);
        self.must(&["import", &tarball.to_string_lossy(), IMAGE]);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = self.docker(&["network", "prune", "-f"]);
        terminate(&mut self.child, Duration::from_secs(20));
    }
}

/// The daemon serving the plugin at Docker's path, following this engine.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(lab: &Lab, engine: &Engine) -> Daemon {
        let log = lab.dir.path().join("daemon.log");
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.cli, env!("CARGO_BIN_EXE_dhcpnet")])
            .arg("--state-dir")
            .arg(lab.state_dir())
            .args(["-vv", "daemon", "--plugin-socket", PLUGIN_SOCKET, "--docker", DOCKER])
            .env("DOCKER_HOST", engine.host())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
            .spawn()
            .expect("start daemon");
        let d = Daemon { child, log };
        let up = wait_for(Duration::from_secs(10), || std::os::unix::net::UnixStream::connect(PLUGIN_SOCKET).ok());
        assert!(up.is_some(), "plugin socket missing; log:\n{}", d.log());
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(5));
        let _ = std::fs::remove_file(PLUGIN_SOCKET);
    }
}

/// dnsmasq logged the RELEASE of `ip` by `mac` (its lease file is rewritten
/// in place, so an empty read proves nothing).
fn released(lab: &Lab, ip: &str, mac: &str) -> bool {
    lab.server_log().lines().any(|l| l.contains("DHCPRELEASE(veth0)") && l.contains(&format!(" {ip} {mac}")))
}

fn inspect(e: &Engine, name: &str) -> Value {
    let v: Value = serde_json::from_str(&e.must(&["inspect", name])).expect("inspect JSON");
    v[0].clone()
}

#[test]
fn docker_network_with_ipam_driver_dhcpnet_leases_names_and_releases() {
    let Some(mut lab) = Lab::new(&["dnsmasq", "dockerd", "busybox", "tar", "nsenter"]) else { return };
    if !Path::new(DOCKER).exists() {
        assert!(!common::in_ci(), "{DOCKER} (docker.io) is missing; under CI=true that is a failure");
        eprintln!("SKIPPED: {DOCKER} missing");
        return;
    }
    lab.start_dnsmasq(&[]);
    std::fs::create_dir_all("/run/lock").expect("/run/lock");
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(PLUGIN_LOCK).expect("lock file");
    lock.lock().expect("plugin lock");

    let engine = Engine::start(&lab.cli, &lab.dir.path().join("engine"));
    engine.import_busybox();
    let daemon = Daemon::start(&lab, &engine);

    let parent = format!("parent={IFACE}");
    let dhcp_if = format!("dhcp_interface={IFACE}");
    let create = |name: &str, subnet: Option<&str>| {
        let mut a = vec!["network", "create", "-d", "macvlan", "--ipam-driver", "dhcpnet", "-o", &parent, "--ipam-opt", &dhcp_if];
        if let Some(s) = subnet {
            a.extend(["--subnet", s]);
        }
        a.push(name);
        engine.docker(&a)
    };
    // A subnet the DHCP server contradicts is refused, naming the right one.
    let o = create("wrong", Some("192.168.99.0/24"));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success() && err.contains("--subnet 10.77.0.0/24"), "{err}");
    // Without --subnet the subnet is discovered...
    let o = create("found", None);
    assert!(o.status.success(), "{}\ndaemon:\n{}", String::from_utf8_lossy(&o.stderr), daemon.log());
    let found = &serde_json::from_str::<Value>(&engine.must(&["network", "inspect", "found"])).expect("json")[0];
    assert_eq!(found["IPAM"]["Config"][0]["Subnet"], "10.77.0.0/24", "{found}");
    engine.must(&["network", "rm", "found"]);
    // ...unless it overlaps a route of the host: the engine refuses it and
    // asks again, and the answer says what to do.
    common::must(&["ip", "-n", &lab.cli, "addr", "add", "10.77.0.9/24", "dev", IFACE]);
    let o = create("overlap", None);
    common::must(&["ip", "-n", &lab.cli, "addr", "del", "10.77.0.9/24", "dev", IFACE]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "the engine accepted an overlapping pool; daemon:\n{}", daemon.log());
    assert!(err.contains("--subnet 10.77.0.0/24") && err.contains("dhcpnet create"), "{err}\ndaemon:\n{}", daemon.log());

    engine.must(&[
        "network", "create", "-d", "macvlan", "--ipam-driver", "dhcpnet", "--subnet", "10.77.0.0/24", "-o",
        &format!("parent={IFACE}"), "--ipam-opt", &format!("dhcp_interface={IFACE}"), "mcv0",
    ]);
    let net = &serde_json::from_str::<Value>(&engine.must(&["network", "inspect", "mcv0"])).expect("json")[0];
    assert_eq!(net["IPAM"]["Driver"], "dhcpnet", "{net}");

    // Plain docker run: the address comes from the DHCP server, for the container's MAC.
    engine.must(&["run", "-d", "--net", "mcv0", "--name", "web", "--hostname", "web-1", IMAGE, "sleep", "600"]);
    let c = inspect(&engine, "web");
    let ip = c["NetworkSettings"]["Networks"]["mcv0"]["IPAddress"].as_str().unwrap_or_default().to_string();
    let mac = c["NetworkSettings"]["Networks"]["mcv0"]["MacAddress"].as_str().unwrap_or_default().to_string();
    assert!(ip.starts_with("10.77.0."), "{c}");
    // dnsmasq rewrites its lease file in place: read until a row shows.
    let row = wait_for(Duration::from_secs(10), || lab.server_leases().into_iter().find(|r| r.0 == mac && r.1 == ip));
    assert!(row.is_some(), "dnsmasq lacks {mac} {ip}: {:?}\ndaemon:\n{}", lab.server_leases(), daemon.log());
    // Once it has started, the server's table shows its hostname too.
    let named = wait_for(Duration::from_secs(30), || {
        lab.server_leases().into_iter().find(|r| r.0 == mac && r.2 == "web-1")
    });
    assert!(named.is_some(), "no hostname in dnsmasq's table: {:?}\ndaemon:\n{}", lab.server_leases(), daemon.log());

    // docker run --ip: that address from the server, or a clear refusal.
    engine.must(&["run", "-d", "--net", "mcv0", "--ip", "10.77.0.140", "--name", "pinned", IMAGE, "sleep", "600"]);
    let p = inspect(&engine, "pinned");
    assert_eq!(p["NetworkSettings"]["Networks"]["mcv0"]["IPAddress"], "10.77.0.140", "{p}");
    let o = engine.docker(&["run", "-d", "--net", "mcv0", "--ip", "10.77.0.140", "--name", "clash", IMAGE, "sleep", "600"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success() && err.contains("would not give 10.77.0.140"), "{err}");
    let _ = engine.docker(&["rm", "-f", "clash"]);
    engine.must(&["rm", "-f", "pinned"]);

    // docker rm -f gives the address back.
    engine.must(&["rm", "-f", "web"]);
    let gone = wait_for(Duration::from_secs(20), || released(&lab, &ip, &mac).then_some(()));
    assert!(gone.is_some(), "{ip} still leased after docker rm -f: {:?}\ndaemon:\n{}", lab.server_leases(), daemon.log());

    // A lease another dhcpnet command took for a container (as `dhcpnet run`
    // does), and a plain `docker rm -f`: the event follower releases it.
    let mac2 = "02:42:0a:4d:00:52";
    ok(&lab.dhcpnet(&["lease", "--interface", IFACE, "--mac", mac2, "-o", "json"]));
    engine.must(&["network", "create", "-d", "bridge", "plain"]);
    engine.must(&["run", "-d", "--net", "plain", "--mac-address", mac2, "--name", "other", IMAGE, "sleep", "600"]);
    let attached = wait_for(Duration::from_secs(20), || {
        let l = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
        l.as_array()?.iter().find(|x| x["mac"] == mac2 && x["container"].is_string()).cloned()
    });
    assert!(attached.is_some(), "the lease was not tied to its container; daemon:\n{}", daemon.log());
    engine.must(&["rm", "-f", "other"]);
    let ip2 = attached.as_ref().and_then(|l| l["ip"].as_str()).unwrap_or_default().to_string();
    let gone2 = wait_for(Duration::from_secs(20), || released(&lab, &ip2, mac2).then_some(()));
    assert!(gone2.is_some(), "the follower did not release {mac2}; daemon:\n{}", daemon.log());
    // The record goes right after the RELEASE is sent.
    let left = wait_for(Duration::from_secs(10), || {
        let l = ok(&lab.dhcpnet(&["leases", "-o", "json"]));
        (l == serde_json::json!([])).then_some(())
    });
    assert!(left.is_some(), "records left: {}", common::text(&lab.dhcpnet(&["leases", "-o", "json"])));

    engine.must(&["network", "rm", "mcv0", "plain"]);
    drop(daemon);
    drop(engine);
}
