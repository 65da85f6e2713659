//! Test labs: network namespaces joined by a veth pair, a real DHCP server in
//! one, dhcpnet run in the other. Nothing touches the machine's own
//! interfaces; everything a lab makes is removed when it is dropped, even
//! when the test fails.
//!
//! Labs need root, iproute2 and the server binaries. Without them a test is
//! skipped with a message, except under `CI=true`, where that is a failure.

#![allow(dead_code)]

pub mod docker;
pub mod uml;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Skip (or, under CI, fail) when the lab's requirements are missing.
/// Returns false when the test should return early.
pub fn require(what: &[&str]) -> bool {
    let mut missing = Vec::new();
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root (network namespaces and packet sockets need it)".to_string());
    }
    for bin in what {
        if which(bin).is_none() {
            missing.push(format!("{bin} (see .ci/run for the package)"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    skip(&format!("lab requirements missing: {}", missing.join(", ")))
}

/// A test's requirement is missing: say so and return false (skip), or
/// panic under CI=true, where that is a failure.
pub fn skip(msg: &str) -> bool {
    if in_ci() {
        panic!("{msg}; under CI=true a missing lab is a failure");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

pub fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(PathBuf::from))
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

pub fn sh(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

pub fn must(args: &[&str]) {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A type-0 client id holding `text`, as dnsmasq and dhcpnet's records show
/// it (`00:64:68:...`): what the tests expect on the wire, written out
/// independently of dhcpnet's code.
pub fn text_client_id(text: &str) -> String {
    std::iter::once(0u8)
        .chain(text.bytes())
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `ip -n NS link add link PARENT name NAME type TYPE...` (as a hand or
/// another tool makes links beside dhcpnet's).
pub fn link_add(ns: &str, parent: &str, name: &str, kind: &[&str]) -> Output {
    let mut args = vec![
        "ip", "-n", ns, "link", "add", "link", parent, "name", name, "type",
    ];
    args.extend_from_slice(kind);
    sh(&args)
}

/// One server namespace, one client namespace, a veth pair between them.
/// The server side has 10.77.0.1/24 on `veth0`; the client side `veth0` is
/// up without an address.
pub struct Lab {
    pub srv: String,
    pub cli: String,
    pub dir: tempfile::TempDir,
    pub servers: Vec<Child>,
    pub lease_file: PathBuf,
    /// For labs built by `with_root_parent`: the veth end in the root
    /// namespace (a macvlan parent for Docker); `cli` is then empty.
    pub root_link: Option<String>,
}

pub const SERVER_IP: &str = "10.77.0.1";
pub const IFACE: &str = "veth0";

impl Lab {
    /// Build the lab, or None when requirements are missing outside CI.
    pub fn new(needs: &[&str]) -> Option<Lab> {
        let mut all = vec!["ip"];
        all.extend_from_slice(needs);
        if !require(&all) {
            return None;
        }
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}-{n}", std::process::id());
        let lab = Lab {
            srv: format!("dhcpnet-s-{tag}"),
            cli: format!("dhcpnet-c-{tag}"),
            dir: tempfile::tempdir().expect("tempdir"),
            servers: Vec::new(),
            lease_file: PathBuf::new(),
            root_link: None,
        };
        must(&["ip", "netns", "add", &lab.srv]);
        must(&["ip", "netns", "add", &lab.cli]);
        must(&[
            "ip", "link", "add", IFACE, "netns", &lab.srv, "type", "veth", "peer", "name", IFACE,
            "netns", &lab.cli,
        ]);
        must(&[
            "ip",
            "-n",
            &lab.srv,
            "addr",
            "add",
            "10.77.0.1/24",
            "dev",
            IFACE,
        ]);
        for ns in [&lab.srv, &lab.cli] {
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            must(&["ip", "-n", ns, "link", "set", IFACE, "up"]);
        }
        let mut lab = lab;
        lab.lease_file = lab.dir.path().join("server.leases");
        Some(lab)
    }

    /// A lab whose client side is a veth end in the ROOT namespace, named
    /// `dnp<pid>-<n>` (unique per test), up without an address: the parent
    /// of a Docker macvlan network. Its peer `veth0` in the server namespace
    /// has 10.77.0.1/24. Nothing else in the root namespace is touched.
    pub fn with_root_parent(needs: &[&str]) -> Option<Lab> {
        let mut all = vec!["ip"];
        all.extend_from_slice(needs);
        if !require(&all) {
            return None;
        }
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id() % 100_000;
        let parent = format!("dnp{pid}-{n}");
        let mut lab = Lab {
            srv: format!("dhcpnet-s-{pid}-{n}"),
            cli: String::new(),
            dir: tempfile::tempdir().expect("tempdir"),
            servers: Vec::new(),
            lease_file: PathBuf::new(),
            root_link: Some(parent.clone()),
        };
        lab.lease_file = lab.dir.path().join("server.leases");
        must(&["ip", "netns", "add", &lab.srv]);
        must(&[
            "ip", "link", "add", &parent, "type", "veth", "peer", "name", IFACE, "netns", &lab.srv,
        ]);
        must(&[
            "ip",
            "-n",
            &lab.srv,
            "addr",
            "add",
            "10.77.0.1/24",
            "dev",
            IFACE,
        ]);
        must(&["ip", "-n", &lab.srv, "link", "set", "lo", "up"]);
        must(&["ip", "-n", &lab.srv, "link", "set", IFACE, "up"]);
        // No IPv6 link-local chatter from the root end; it only carries the lab.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{parent}/disable_ipv6"),
            "1",
        );
        must(&["ip", "link", "set", &parent, "up"]);
        Some(lab)
    }

    /// The root-namespace parent of a `with_root_parent` lab.
    pub fn parent(&self) -> &str {
        self.root_link
            .as_deref()
            .expect("a lab made by Lab::with_root_parent")
    }

    /// Run dhcpnet in the ROOT namespace with this lab's state directory
    /// and extra environment (for `with_root_parent` labs).
    pub fn dhcpnet_root(&self, args: &[&str], env: &[(String, String)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhcpnet"));
        cmd.arg("--state-dir").arg(self.state_dir());
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run dhcpnet")
    }

    /// Also serve DNS on 10.77.0.2 in the server namespace (a second
    /// dnsmasq), answering `name` with `ip`: proof that a client resolves
    /// through the DNS server the DHCP server named.
    pub fn start_dns(&mut self, name: &str, ip: &str) {
        must(&[
            "ip",
            "-n",
            &self.srv,
            "addr",
            "add",
            "10.77.0.2/24",
            "dev",
            IFACE,
        ]);
        let log = std::fs::File::create(self.dir.path().join("dns.log")).expect("log");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.srv,
                "dnsmasq",
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=53",
            ])
            .args([
                "--listen-address=10.77.0.2",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--log-queries",
            ])
            .arg(format!("--address=/{name}/{ip}"))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("dns.pid").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start dnsmasq (DNS)");
        self.servers.push(child);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let out = sh(&["ip", "netns", "exec", &self.srv, "ss", "-uln"]);
            if String::from_utf8_lossy(&out.stdout).contains("10.77.0.2:53 ") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the DNS server did not start listening");
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Start dnsmasq on the server side (range .50-.150, 300 s leases, no
    /// ping delay) and wait until it listens.
    pub fn start_dnsmasq(&mut self, extra: &[&str]) {
        self.start_dnsmasq_with_range("10.77.0.50,10.77.0.150,255.255.255.0,300", extra)
    }

    /// Start dnsmasq with a `--dhcp-range` of your choice.
    pub fn start_dnsmasq_with_range(&mut self, range: &str, extra: &[&str]) {
        let lease_file = self.lease_file.to_string_lossy().to_string();
        let log = std::fs::File::create(self.dir.path().join("dnsmasq.log")).expect("log");
        let mut args: Vec<String> = [
            "netns",
            "exec",
            &self.srv,
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=veth0",
            "--bind-interfaces",
            "--no-ping",
            "--log-dhcp",
            "--dhcp-option=6,10.77.0.2",
            "--domain=lab.test",
            "--dhcp-lease-max=5000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--dhcp-leasefile={lease_file}"));
        args.push(format!("--dhcp-range={range}"));
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new("ip")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start dnsmasq");
        self.servers.push(child);
        self.wait_udp67();
    }

    /// Start another dnsmasq in namespace `ns` on `iface` (for labs with
    /// more than one server); it is stopped with the lab.
    pub fn spawn_dnsmasq(&mut self, ns: &str, iface: &str, range: &str, extra: &[&str]) {
        let n = self.servers.len();
        let log =
            std::fs::File::create(self.dir.path().join(format!("dnsmasq-{n}.log"))).expect("log");
        let mut args: Vec<String> = [
            "netns",
            "exec",
            ns,
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--bind-interfaces",
            "--no-ping",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--interface={iface}"));
        args.push(format!("--dhcp-range={range}"));
        args.push(format!(
            "--dhcp-leasefile={}",
            self.dir.path().join(format!("server-{n}.leases")).display()
        ));
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new("ip")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start dnsmasq");
        self.servers.push(child);
        wait_udp67_in(ns);
    }

    /// Start kea-dhcp4 on the server side (pool .50-.150, memfile CSV lease
    /// file at `kea_lease_file()`), and wait until it listens. The interface
    /// is already up: kea opens no socket on an interface that is down.
    pub fn start_kea(&mut self, valid_lifetime: u32) {
        let d = self.dir.path();
        let conf = serde_json::json!({"Dhcp4": {
            "interfaces-config": {"interfaces": [IFACE], "dhcp-socket-type": "raw"},
            "lease-database": {"type": "memfile", "persist": true, "lfc-interval": 0,
                               "name": self.kea_lease_file().to_string_lossy()},
            "valid-lifetime": valid_lifetime,
            "subnet4": [{"id": 1, "subnet": "10.77.0.0/24", "pools": [{"pool": "10.77.0.50 - 10.77.0.150"}],
                "option-data": [{"name": "routers", "data": "10.77.0.1"},
                                {"name": "domain-name-servers", "data": "10.77.0.2"}]}],
            "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                "output_options": [{"output": d.join("kea.log").to_string_lossy()}]}]
        }});
        self.spawn_kea(&conf, "kea");
    }

    /// Start kea-dhcp4 in the server namespace with config `conf` (written
    /// to NAME.json; stderr to NAME.stderr) and wait until it listens.
    pub fn spawn_kea(&mut self, conf: &serde_json::Value, name: &str) {
        let d = self.dir.path().to_path_buf();
        let path = d.join(format!("{name}.json"));
        std::fs::write(&path, conf.to_string()).expect("write kea config");
        let stderr = std::fs::File::create(d.join(format!("{name}.stderr"))).expect("kea stderr");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.srv, "kea-dhcp4", "-c"])
            .arg(&path)
            .env("KEA_PIDFILE_DIR", &d)
            .env("KEA_LOCKFILE_DIR", &d)
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start kea-dhcp4");
        self.servers.push(child);
        if !try_wait_udp67(&self.srv) {
            panic!(
                "kea did not start listening: {}",
                std::fs::read_to_string(d.join(format!("{name}.stderr"))).unwrap_or_default()
            );
        }
    }

    pub fn kea_lease_file(&self) -> PathBuf {
        self.dir.path().join("kea-leases4.csv")
    }

    /// Kea's current view per address: the last CSV row of each (the file
    /// is append-only). Rows: (address, hwaddr, valid_lifetime, expire, hostname).
    pub fn kea_leases(&self) -> Vec<(String, String, u64, u64, String)> {
        let text = std::fs::read_to_string(self.kea_lease_file()).unwrap_or_default();
        let mut last: std::collections::BTreeMap<String, (String, String, u64, u64, String)> =
            Default::default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() >= 9 {
                let row = (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[3].parse().unwrap_or(0),
                    f[4].parse().unwrap_or(0),
                    f[8].to_string(),
                );
                last.insert(f[0].to_string(), row);
            }
        }
        last.into_values().filter(|r| r.2 > 0).collect()
    }

    /// Wait until something in the server namespace listens on UDP 67.
    pub fn wait_udp67(&self) {
        if !try_wait_udp67(&self.srv) {
            panic!(
                "the DHCP server did not start listening; log: {}",
                self.server_log()
            );
        }
    }
}

pub fn wait_udp67_in(ns: &str) {
    assert!(
        try_wait_udp67(ns),
        "no DHCP server started listening in {ns}"
    );
}

fn try_wait_udp67(ns: &str) -> bool {
    {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let out = sh(&["ip", "netns", "exec", ns, "ss", "-uln"]);
            if String::from_utf8_lossy(&out.stdout).contains(":67 ") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Lab {
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dnsmasq.log")).unwrap_or_default()
    }

    /// dnsmasq logged the RELEASE of `ip` by `mac` (its lease file is
    /// rewritten in place, so an empty read proves nothing).
    pub fn released(&self, ip: &str, mac: &str) -> bool {
        self.server_log()
            .lines()
            .any(|l| l.contains("DHCPRELEASE(veth0)") && l.contains(&format!(" {ip} {mac}")))
    }

    pub fn stop_servers(&mut self) {
        for c in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.servers.clear();
    }

    /// Run dhcpnet in the client namespace with this lab's state directory.
    pub fn dhcpnet(&self, args: &[&str]) -> Output {
        let state = self.state_dir();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.cli, env!("CARGO_BIN_EXE_dhcpnet")]);
        cmd.arg("--state-dir").arg(&state);
        cmd.args(args);
        cmd.output().expect("run dhcpnet")
    }

    /// dnsmasq's lease file as (mac, ip, hostname, client id) rows.
    pub fn server_leases(&self) -> Vec<(String, String, String, String)> {
        read_dnsmasq_leases(&self.lease_file)
    }

    /// Wait (up to 10 s) until dnsmasq's table satisfies `holds`, else
    /// fail saying `what`: dnsmasq rewrites its lease file after handling a
    /// RELEASE, which the sender does not wait for.
    pub fn server_comes_to(
        &self,
        what: &str,
        holds: impl Fn(&[(String, String, String, String)]) -> bool,
    ) {
        let seen = wait_for(Duration::from_secs(10), || {
            holds(&self.server_leases()).then_some(())
        });
        assert!(seen.is_some(), "{what}: {:?}", self.server_leases());
    }

    /// The expiry time (epoch seconds) dnsmasq records for `mac`.
    pub fn server_expiry(&self, mac: &str) -> i64 {
        std::fs::read_to_string(&self.lease_file)
            .unwrap_or_default()
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(mac))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("dnsmasq has no lease for {mac}"))
    }
}

pub fn read_dnsmasq_leases(p: &Path) -> Vec<(String, String, String, String)> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| {
                (
                    f[1].to_string(),
                    f[2].to_string(),
                    f[3].to_string(),
                    f[4].to_string(),
                )
            })
        })
        .collect()
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_servers();
        let _ = sh(&["ip", "netns", "del", &self.srv]);
        if !self.cli.is_empty() {
            let _ = sh(&["ip", "netns", "del", &self.cli]);
        }
        if let Some(l) = &self.root_link {
            // Gone with its peer's namespace already, normally.
            if Path::new("/sys/class/net").join(l).exists() {
                let _ = sh(&["ip", "link", "del", l]);
            }
        }
    }
}

/// stdout as text, with stderr shown when an assertion fails.
pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn ok(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "dhcpnet failed ({:?}): {}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

/// An extra network namespace for a test, deleted when dropped.
pub struct Netns(pub String);

impl Netns {
    pub fn add(name: &str) -> Netns {
        must(&["ip", "netns", "add", name]);
        Netns(name.to_string())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.0]);
    }
}

/// Wait until `f` gives a value, checking every 200 ms, up to `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if t.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Lab {
    /// Turn the server side into a bridge `br0` (10.77.0.1/24, holding the
    /// server's `veth0`) and hang a new namespace off it whose `veth0` has
    /// `ip`/24: a second host on the client's segment (another server, a
    /// watcher). The namespace is deleted when the returned value drops.
    pub fn second_host(&mut self, suffix: &str, ip: Option<&str>) -> Netns {
        let s = self.srv.clone();
        if !Path::new(&format!("/var/run/netns/{s}")).exists() {
            panic!("no server namespace {s}");
        }
        let has_bridge = sh(&["ip", "-n", &s, "link", "show", "br0"])
            .status
            .success();
        if !has_bridge {
            must(&["ip", "-n", &s, "link", "add", "br0", "type", "bridge"]);
            must(&["ip", "-n", &s, "addr", "flush", "dev", IFACE]);
            must(&["ip", "-n", &s, "link", "set", IFACE, "master", "br0"]);
            must(&["ip", "-n", &s, "addr", "add", "10.77.0.1/24", "dev", "br0"]);
            must(&["ip", "-n", &s, "link", "set", "br0", "up"]);
        }
        let ns = Netns::add(&format!("{s}-{suffix}"));
        let port = format!("vb-{suffix}");
        must(&[
            "ip", "-n", &s, "link", "add", &port, "type", "veth", "peer", "name", IFACE, "netns",
            &ns.0,
        ]);
        must(&["ip", "-n", &s, "link", "set", &port, "master", "br0"]);
        must(&["ip", "-n", &s, "link", "set", &port, "up"]);
        // No IPv6 chatter (router solicitations, DAD) from the new host.
        must(&[
            "ip",
            "netns",
            "exec",
            &ns.0,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
        ]);
        must(&[
            "ip",
            "netns",
            "exec",
            &ns.0,
            "sysctl",
            "-qw",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]);
        if let Some(ip) = ip {
            must(&[
                "ip",
                "-n",
                &ns.0,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                IFACE,
            ]);
        }
        must(&["ip", "-n", &ns.0, "link", "set", "lo", "up"]);
        must(&["ip", "-n", &ns.0, "link", "set", IFACE, "up"]);
        ns
    }

    /// Start busybox udhcpd in namespace `ns` on `veth0` (addresses
    /// `start`..`end`, router `router`, 300 s leases) and wait until it
    /// listens. It ARP-probes each address for about 2 s before offering it.
    pub fn spawn_udhcpd(&mut self, ns: &str, start: &str, end: &str, router: &str) {
        let n = self.servers.len();
        let d = self.dir.path();
        let leases = d.join(format!("udhcpd-{n}.leases"));
        std::fs::write(&leases, b"").expect("udhcpd lease file");
        let conf = d.join(format!("udhcpd-{n}.conf"));
        std::fs::write(
            &conf,
            format!(
                "start {start}\nend {end}\ninterface {IFACE}\nlease_file {}\npidfile {}\n\
                 option subnet 255.255.255.0\noption router {router}\noption lease 300\n",
                leases.display(),
                d.join(format!("udhcpd-{n}.pid")).display()
            ),
        )
        .expect("udhcpd config");
        let log = std::fs::File::create(d.join(format!("udhcpd-{n}.log"))).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "busybox", "udhcpd", "-f"])
            .arg(&conf)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start udhcpd");
        self.servers.push(child);
        wait_udp67_in(ns);
    }

    /// The TX packet counter of `iface` in namespace `ns`.
    pub fn tx_packets(ns: &str, iface: &str) -> u64 {
        let out = sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "cat",
            &format!("/sys/class/net/{iface}/statistics/tx_packets"),
        ]);
        text(&out).trim().parse().expect("tx_packets")
    }
}

/// The records of a state table (`leases.d`, `links.d`, `networks.d`: one
/// `{"version": 1, "record": ...}` file per record) in the layout of the
/// single file older dhcpnet kept (`{"version": 1, FIELD: [...]}`, records
/// in file-name order); Null when the table's directory does not exist.
pub fn table(state: &Path, dir: &str, field: &str) -> serde_json::Value {
    let Ok(entries) = std::fs::read_dir(state.join(dir)) else {
        return serde_json::Value::Null;
    };
    let mut names: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            !n.starts_with('.') && n.ends_with(".json")
        })
        .collect();
    names.sort();
    let records: Vec<serde_json::Value> = names
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|v| v["record"].clone())
        .collect();
    serde_json::json!({"version": 1, field: records})
}

/// Write back what `table` read, edited in place: record `i` of
/// `doc[field]` goes back to the `i`-th record file (in file-name order), so
/// keys (interface, MAC; name) must not be changed.
pub fn write_table(state: &Path, dir: &str, field: &str, doc: &serde_json::Value) {
    let mut names: Vec<PathBuf> = std::fs::read_dir(state.join(dir))
        .expect("the table's directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            !n.starts_with('.') && n.ends_with(".json")
        })
        .collect();
    names.sort();
    let records = doc[field].as_array().expect("the records");
    assert_eq!(names.len(), records.len(), "records added or removed");
    for (p, r) in names.iter().zip(records) {
        let v = serde_json::json!({"version": 1, "record": r});
        std::fs::write(p, serde_json::to_vec(&v).expect("json")).expect("write a record file");
    }
}

/// Remove every record of a state table (as if its records were lost).
pub fn clear_table(state: &Path, dir: &str) {
    if let Ok(entries) = std::fs::read_dir(state.join(dir)) {
        for e in entries.flatten() {
            std::fs::remove_file(e.path()).expect("remove a record file");
        }
    }
}

/// One HTTP/1.1 POST over an IPAM plugin socket, as the Docker engine sends
/// it; the answer's JSON body (the status must be 200, as the engine wants).
pub fn plugin_post(sock: &Path, path: &str, body: &serde_json::Value) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock)
        .unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let b = body.to_string();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
        b.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {out:?}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

impl Lab {
    /// The MAC of the lab's client end (`veth0` in the client namespace):
    /// the parent every ipvlan lease shares.
    pub fn client_mac(&self) -> String {
        let o = sh(&[
            "ip",
            "netns",
            "exec",
            &self.cli,
            "cat",
            &format!("/sys/class/net/{IFACE}/address"),
        ]);
        text(&o).trim().to_string()
    }
}

/// Write `script` to `path`, executable (a stand-in for a command); `path`.
pub fn executable(path: &Path, script: &str) -> PathBuf {
    std::fs::write(path, script).expect("write a script");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    path.to_path_buf()
}

/// A docker CLI stand-in in `dir`: logs its arguments to `dir/docker.log`,
/// runs the `case "$1" in` branches `cases` (shell; `$D` is `dir`), and
/// fails on anything else, saying so.
pub fn fake_docker(dir: &Path, cases: &str) -> PathBuf {
    let script = format!(
        "#!/bin/sh\nD={}\necho \"$*\" >> $D/docker.log\ncase \"$1\" in\n{cases}esac\n\
         echo \"fake docker: unexpected: $*\" >&2\nexit 1\n",
        dir.display()
    );
    executable(&dir.join("fakedocker"), &script)
}
