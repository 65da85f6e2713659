//! The edges hardened in issue 17 (items 3, 4, 5, 7, 8): the plugin
//! sockets only for root whatever the umask or the socket unit; a wrong
//! descriptor handed over by socket activation is said and survived, and
//! none leaks into children; floods of forged replies cost bounded memory
//! and log lines; the shim's second packet socket hears only its parent;
//! acquisitions end cleanly on SIGHUP and SIGQUIT; the unit's sandbox holds
//! (by hand on the host, and under systemd booted in user-mode-linux).
//!
//! Daemons here run `--no-docker` (or with a stand-in docker CLI) in a
//! network namespace of their own (`unshare -n`), or in a lab: nothing
//! reaches a real interface.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{require, wait_for};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777
}

/// A temporary directory every user may enter, so that only the socket's
/// own mode (and the daemon's peer check) keeps others out.
fn open_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    d
}

/// POST `call` on `sock` as root: the raw answer.
fn ask(sock: &Path, call: &str) -> Option<String> {
    let mut s = UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    s.write_all(
        format!(
            "POST {call} HTTP/1.1\r\nHost: plugin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A client run as uid/gid 65534 (nobody): connects to `sock`, POSTs
/// /Plugin.Activate and prints the answer, or `ERROR <errno name>`.
fn ask_as_nobody(sock: &Path) -> String {
    let client = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
    try:
        s.sendall(b"POST /Plugin.Activate HTTP/1.1\r\nHost: p\r\nContent-Length: 0\r\n\r\n")
    except BrokenPipeError:
        pass  # answered and closed before the request was read
    out = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
    print(out.decode(errors="replace"))
except OSError as e:
    import errno
    print("ERROR", errno.errorcode.get(e.errno, e.errno))
"#;
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
        ])
        .arg(client)
        .arg(sock)
        .output()
        .expect("setpriv");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts `dhcpnet daemon` with descriptors 3, 4 ... handed over as by
/// socket activation (LISTEN_PID is the daemon's own pid): each of `fds` is
/// `listen:PATH:MODE` (a listening unix stream socket, chmod MODE),
/// `dgram` (a bound unix datagram socket), `stream` (one end of a
/// connected pair) or `file:PATH` (a regular file). Python makes them and
/// execs the daemon in its place, so the pid stays.
const LAUNCHER: &str = r#"
import os, socket, sys
n = int(sys.argv[1])
kinds, cmd = sys.argv[2:2 + n], sys.argv[2 + n:]
keep = []
for i, k in enumerate(kinds):
    if k.startswith("listen:"):
        _, path, m = k.split(":")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        os.chmod(path, int(m, 8))
        s.listen(16)
        fd = s.fileno()
    elif k == "dgram":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        fd = s.fileno()
    elif k == "stream":
        s, t = socket.socketpair()
        keep.append(t)
        fd = s.fileno()
    elif k.startswith("file:"):
        s = open(k[5:], "w")
        fd = s.fileno()
    keep.append(s)
    os.dup2(fd, 100 + i)
for i in range(n):
    os.dup2(100 + i, 3 + i)
    os.set_inheritable(3 + i, True)
    os.close(100 + i)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = str(n)
os.environ["LISTEN_FDNAMES"] = ":".join(["dhcpnet.socket"] * n)
os.execv(cmd[0], cmd)
"#;

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&self, what: &str, limit: Duration) -> bool {
        wait_for(limit, || self.log().contains(what).then_some(())).is_some()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> Option<i32> {
        // SAFETY: kill(2) on the pid of a child this test started and has
        // not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dhcpnet -v daemon ARGS` in a network namespace of its own, under
/// `umask`, with the descriptors `fds` handed over (see `LAUNCHER`).
fn daemon(dir: &Path, umask: &str, fds: &[String], args: &[&str]) -> Daemon {
    let log = dir.join("daemon.log");
    let mut script = format!("umask {umask}; exec unshare -n");
    if !fds.is_empty() {
        script.push_str(&format!(" python3 -c \"$LAUNCHER\" {}", fds.len()));
        for f in fds {
            script.push_str(&format!(" '{f}'"));
        }
    }
    script.push_str(" \"$@\"");
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_dhcpnet"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["-v", "daemon"])
        .args(args)
        .env("LAUNCHER", LAUNCHER)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("start the daemon");
    Daemon { child, log }
}

#[test]
fn under_umask_000_the_daemon_binds_both_plugin_sockets_0600_in_a_0755_directory() {
    if !require(&["unshare"]) {
        return;
    }
    let dir = open_dir();
    // A plugin directory that does not exist yet: the daemon makes it.
    let plugins = dir.path().join("plugins");
    let sock = plugins.join("dhcpnet.sock");
    let ipvlan = plugins.join("dhcpnet-ipvlan.sock");
    let d = daemon(
        dir.path(),
        "000",
        &[],
        &["--no-docker", "--plugin-socket", sock.to_str().unwrap()],
    );
    let up = d.wait_log("started", Duration::from_secs(20));
    let log = d.log();
    assert!(up && sock.exists() && ipvlan.exists(), "{log}");
    assert_eq!(mode(&sock), 0o600, "{log}");
    assert_eq!(mode(&ipvlan), 0o600, "{log}");
    assert_eq!(mode(&plugins), 0o755, "{log}");
    // Nothing of the private directory it bound in is left.
    let names: Vec<String> = std::fs::read_dir(&plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let answer = ask(&sock, "/Plugin.Activate").unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}\n{log}");
    assert_eq!(d.stop(), Some(0));
    assert!(
        !sock.exists() && !ipvlan.exists(),
        "its own sockets are removed at exit"
    );
}

#[test]
fn another_user_cannot_connect_and_one_who_can_reach_the_socket_is_refused_by_uid_with_few_log_lines()
 {
    if !require(&["unshare", "setpriv", "python3"]) {
        return;
    }
    let dir = open_dir();
    let sock = dir.path().join("dhcpnet.sock");
    let d = daemon(
        dir.path(),
        "000",
        &[],
        &["--no-docker", "--plugin-socket", sock.to_str().unwrap()],
    );
    assert!(
        d.wait_log("started", Duration::from_secs(20)),
        "{}",
        d.log()
    );
    // The file's mode keeps other users out.
    let said = ask_as_nobody(&sock);
    assert!(said.contains("ERROR EACCES"), "{said}");
    // Loosened by hand (or a directory someone else made): the daemon still
    // serves only root, and says so without reading the request.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    for _ in 0..20 {
        let said = ask_as_nobody(&sock);
        assert!(
            said.starts_with("HTTP/1.1 403") && said.contains("only root may use this socket"),
            "{said}"
        );
    }
    let answer = ask(&sock, "/Plugin.Activate").unwrap_or_default();
    assert!(answer.contains("IpamDriver"), "root is served: {answer}");
    let log = d.log();
    let refusals = log.matches("refused a connection from uid 65534").count();
    assert!(
        (1..=5).contains(&refusals),
        "20 refused connections, {refusals} log lines (rate-limited to 5 a minute):\n{log}"
    );
    assert_eq!(d.stop(), Some(0));
}

/// A daemon handed `fds` must say `what` and run on, serving nothing of its
/// own there, and stop cleanly.
fn survives_a_wrong_descriptor(fds: &[String], what: &str) {
    if !require(&["unshare", "python3"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let unused = dir.path().join("unused.sock");
    let fds: Vec<String> = fds
        .iter()
        .map(|f| f.replace("DIR", dir.path().to_str().unwrap()))
        .collect();
    let mut d = daemon(
        dir.path(),
        "022",
        &fds,
        &["--no-docker", "--plugin-socket", unused.to_str().unwrap()],
    );
    assert!(
        d.wait_log("started", Duration::from_secs(20)),
        "{}",
        d.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    let log = d.log();
    assert!(d.alive(), "the daemon exited:\n{log}");
    assert!(
        log.contains("socket activation: file descriptor 3")
            && log.contains(what)
            && log.contains("leases are still renewed"),
        "{log}"
    );
    assert!(
        !unused.exists(),
        "bound a socket where systemd listens: {log}"
    );
    assert_eq!(
        d.stop(),
        Some(0),
        "{}",
        std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default()
    );
}

#[test]
fn a_datagram_socket_handed_over_is_named_and_the_daemon_runs_on_without_the_plugin() {
    survives_a_wrong_descriptor(&["dgram".into()], "datagram");
}

#[test]
fn a_regular_file_handed_over_is_named_and_the_daemon_runs_on_without_the_plugin() {
    survives_a_wrong_descriptor(&["file:DIR/not-a-socket".into()], "a regular file");
}

#[test]
fn a_stream_socket_that_does_not_listen_handed_over_is_named_and_the_daemon_runs_on() {
    survives_a_wrong_descriptor(&["stream".into()], "does not listen");
}

#[test]
fn a_handed_over_socket_every_user_may_connect_to_is_refused_and_the_daemon_runs_on() {
    survives_a_wrong_descriptor(&["listen:DIR/dhcpnet.sock:666".into()], "mode 0666");
}

#[test]
fn no_handed_over_descriptor_nor_listen_variable_reaches_the_docker_cli_the_daemon_runs() {
    if !require(&["unshare", "python3"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    // Each docker call notes its own descriptors and environment, then
    // fails (the follower retries later).
    let docker = common::fake_docker(
        dir.path(),
        "  *) ls -l /proc/$$/fd > $D/fds.$$; env > $D/env.$$; sleep 1; exit 1;;\n",
    );
    let fds = [
        format!("listen:{}:600", p("dhcpnet.sock")),
        format!("listen:{}:600", p("dhcpnet-ipvlan.sock")),
        // One more than is served: it must not leak either.
        format!("listen:{}:600", p("extra.sock")),
    ];
    let d = daemon(
        dir.path(),
        "022",
        &fds,
        &[
            "--docker",
            docker.to_str().unwrap(),
            "--plugin-socket",
            &p("unused.sock"),
        ],
    );
    let seen = wait_for(Duration::from_secs(20), || {
        let f = std::fs::read_dir(dir.path())
            .ok()?
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().starts_with("env."))?;
        // Written after fds.PID: both are there.
        std::thread::sleep(Duration::from_millis(200));
        Some(f.file_name().to_string_lossy().replace("env.", ""))
    });
    let log = d.log();
    let pid = seen.unwrap_or_else(|| panic!("the daemon never ran docker:\n{log}"));
    let fds = std::fs::read_to_string(dir.path().join(format!("fds.{pid}"))).unwrap();
    let env = std::fs::read_to_string(dir.path().join(format!("env.{pid}"))).unwrap();
    assert!(
        !fds.contains("socket:"),
        "the docker CLI inherited sockets:\n{fds}\n{log}"
    );
    assert!(
        !env.lines().any(|l| l.starts_with("LISTEN_")),
        "the docker CLI got LISTEN_*:\n{env}"
    );
    assert!(log.contains("one socket too many"), "{log}");
    assert_eq!(d.stop(), Some(0));
}

// ---- Floods (item 4) ----

/// The forged replies each flood sends.
const FLOOD: usize = 20_000;
/// `FLOOD`, or `DHCPNET_FLOOD` for a longer run by hand.
fn flood_size() -> usize {
    std::env::var("DHCPNET_FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(FLOOD)
}

/// Peak heap (RssAnon) a flooded `watch` or `probe` may reach: about 1 MiB
/// here with the caps; `probe` kept every forged offer before them (4.3 MiB
/// for 20,000, and 2 MB of JSON).
const FLOOD_ANON_KIB: u64 = 3 * 1024;

/// A field of /proc/PID/status in KiB (`VmHWM`: peak resident set;
/// `RssAnon`: resident anonymous memory now, the heap and stacks).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peaks seen of a process: VmHWM (which also counts the pages of the
/// binary it ran, a debug build's being large) and sampled RssAnon (its
/// heap: what a flood could grow).
#[derive(Debug, Default, Clone, Copy)]
struct Peaks {
    hwm: u64,
    anon: u64,
}

impl Peaks {
    fn sample(&mut self, pid: u32) {
        self.hwm = self.hwm.max(status_kib(pid, "VmHWM").unwrap_or(0));
        self.anon = self.anon.max(status_kib(pid, "RssAnon").unwrap_or(0));
    }
}

/// tests/flood_replies.py in the lab's server namespace, on its veth.
fn flooder(lab: &common::Lab, mode: &str) -> Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/flood_replies.py");
    let out = std::fs::File::create(lab.dir.path().join(format!("flood-{mode}.out"))).unwrap();
    Command::new("ip")
        .args(["netns", "exec", &lab.srv, "python3", script])
        .args(["--iface", common::IFACE, "--mode", mode, "--count"])
        .arg(flood_size().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tests/flood_replies.py")
}

fn flood_said(lab: &common::Lab, mode: &str) -> String {
    std::fs::read_to_string(lab.dir.path().join(format!("flood-{mode}.out"))).unwrap_or_default()
}

/// Wait for `child` to end (up to `limit`), sampling `of`'s memory.
fn wait_sampling(
    child: &mut Child,
    of: u32,
    limit: Duration,
) -> (Option<std::process::ExitStatus>, Peaks) {
    let t = Instant::now();
    let mut peaks = Peaks::default();
    while t.elapsed() < limit {
        peaks.sample(of);
        if let Ok(Some(s)) = child.try_wait() {
            return (Some(s), peaks);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    (None, peaks)
}

#[test]
fn a_flood_of_forged_server_ids_costs_watch_bounded_memory_and_a_few_warnings() {
    let Some(lab) = common::Lab::new(&["python3"]) else {
        return;
    };
    let err = lab.dir.path().join("watch.err");
    let mut watch = Command::new("ip")
        .args(["netns", "exec", &lab.cli, env!("CARGO_BIN_EXE_dhcpnet")])
        .args(["-v", "watch", common::IFACE, "--output", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .expect("dhcpnet watch");
    let listening = wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&err)
            .ok()?
            .contains("watching DHCP")
            .then_some(())
    });
    assert!(
        listening.is_some(),
        "{}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    let mut baseline = Peaks::default();
    baseline.sample(watch.id());
    let mut flood = flooder(&lab, "watch");
    let (sent, mut peak) = wait_sampling(&mut flood, watch.id(), Duration::from_secs(120));
    assert!(
        sent.is_some_and(|s| s.success()),
        "{}",
        flood_said(&lab, "watch")
    );
    // Let it read what is queued.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        peak.sample(watch.id());
        std::thread::sleep(Duration::from_millis(20));
    }
    let alive = matches!(watch.try_wait(), Ok(None));
    let _ = watch.kill();
    let _ = watch.wait();
    let said = std::fs::read_to_string(&err).unwrap_or_default();
    let warnings = said.lines().filter(|l| l.contains("warning:")).count();
    eprintln!(
        "watch under a flood of {} forged replies: VmHWM {} KiB, peak RssAnon {} KiB (at start \
         {} and {} KiB), {warnings} warnings, {} bytes on stderr",
        flood_size(),
        peak.hwm,
        peak.anon,
        baseline.hwm,
        baseline.anon,
        said.len()
    );
    assert!(alive, "watch ended under the flood:\n{said}");
    assert!(
        said.contains("more than 64 DHCP server ids heard"),
        "{}",
        &said[..said.len().min(4000)]
    );
    assert!(
        warnings <= 12 && said.len() < 16 * 1024,
        "{warnings} warnings, {} bytes:\n{}",
        said.len(),
        &said[..said.len().min(4000)]
    );
    assert!(peak.anon < FLOOD_ANON_KIB, "{peak:?}");
}

#[test]
fn a_flood_of_forged_offers_costs_probe_bounded_memory_time_output_and_warnings() {
    let Some(lab) = common::Lab::new(&["python3"]) else {
        return;
    };
    let mut flood = flooder(&lab, "probe");
    let ready = wait_for(Duration::from_secs(10), || {
        flood_said(&lab, "probe")
            .contains("listening")
            .then_some(())
    });
    assert!(ready.is_some(), "the flooder did not start");
    let (out, err) = (
        lab.dir.path().join("probe.out"),
        lab.dir.path().join("probe.err"),
    );
    let started = Instant::now();
    let mut probe = Command::new("ip")
        .args(["netns", "exec", &lab.cli, env!("CARGO_BIN_EXE_dhcpnet")])
        .args([
            "probe",
            common::IFACE,
            "--timeout",
            "10",
            "--output",
            "json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .expect("dhcpnet probe");
    let pid = probe.id();
    let (status, peak) = wait_sampling(&mut probe, pid, Duration::from_secs(90));
    let took = started.elapsed();
    let _ = flood.kill();
    let _ = flood.wait();
    let said = std::fs::read_to_string(&err).unwrap_or_default();
    let json = std::fs::read_to_string(&out).unwrap_or_default();
    let warnings = said.lines().filter(|l| l.contains("warning:")).count();
    eprintln!(
        "probe under a flood of {} forged offers: VmHWM {} KiB, peak RssAnon {} KiB, {:.1} s, {warnings} \
         warnings, {} bytes on stderr, {} bytes of JSON ({})",
        flood_size(),
        peak.hwm,
        peak.anon,
        took.as_secs_f64(),
        said.len(),
        json.len(),
        flood_said(&lab, "probe").trim()
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "{}",
        &said[..said.len().min(4000)]
    );
    let v: serde_json::Value = serde_json::from_str(&json).expect("probe's JSON");
    let offers = v["offers"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(offers, 32, "kept offers, each from another server");
    assert!(
        said.contains("more offers were ignored"),
        "{}",
        &said[..said.len().min(4000)]
    );
    assert!(
        warnings <= 14 && said.len() < 16 * 1024,
        "{warnings} warnings, {} bytes:\n{}",
        said.len(),
        &said[..said.len().min(4000)]
    );
    assert!(peak.anon < FLOOD_ANON_KIB, "{peak:?}");
}

// ---- The shim's second packet socket (item 7) ----

#[test]
fn a_forged_ack_on_another_interface_is_ignored_when_the_shim_renews_its_own_lease() {
    let Some(mut lab) = common::Lab::new(&["dnsmasq", "python3"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    // A second segment between the same two namespaces: x0 on the client
    // (up, no address), x1 on the server side, where the forger sends.
    common::must(&[
        "ip", "link", "add", "x0", "netns", &lab.cli, "type", "veth", "peer", "name", "x1",
        "netns", &lab.srv,
    ]);
    common::must(&["ip", "-n", &lab.cli, "link", "set", "x0", "up"]);
    common::must(&["ip", "-n", &lab.srv, "link", "set", "x1", "up"]);
    let mac_of = |ns: &str, dev: &str| {
        common::text(&common::sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "cat",
            &format!("/sys/class/net/{dev}/address"),
        ]))
        .trim()
        .to_string()
    };
    let x0 = mac_of(&lab.cli, "x0");
    let server_mac = mac_of(&lab.srv, common::IFACE);
    let mac = "02:42:0a:4d:00:97";
    let v = common::ok(&lab.dhcpnet(&["shim", "add", common::IFACE, "--mac", mac, "-o", "json"]));
    let ip = v["ip"].as_str().expect("shim ip").to_string();
    // Waits for the shim's renewal on veth0 and answers it first (dnsmasq
    // ARPs before it answers), on x1, to x0's MAC.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/flood_replies.py");
    let said = lab.dir.path().join("forger.out");
    let forger = Command::new("ip")
        .args(["netns", "exec", &lab.srv, "python3", script])
        .args([
            "--iface",
            common::IFACE,
            "--mode",
            "elsewhere",
            "--send-iface",
            "x1",
        ])
        .args(["--dst-mac", &x0])
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&said).unwrap()))
        .spawn()
        .expect("start the forger");
    lab.servers.push(forger);
    let forger_said = || std::fs::read_to_string(&said).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(10), || forger_said()
            .contains("listening")
            .then_some(()))
        .is_some(),
        "the forger did not start"
    );
    std::thread::sleep(Duration::from_secs(2));
    let o = lab.dhcpnet(&["renew", "--all", "--timeout", "6", "-o", "json", "-v"]);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        wait_for(Duration::from_secs(5), || forger_said()
            .contains("forged an ACK")
            .then_some(()))
        .is_some(),
        "the forger saw no renewal: {}\n{stderr}",
        forger_said()
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("renew output is not JSON ({e}): {stderr}"));
    let mine = r
        .as_array()
        .and_then(|a| a.iter().find(|x| x["mac"] == mac))
        .unwrap_or_else(|| panic!("no result for the shim's lease: {r}"));
    assert_eq!(mine["result"], "renewed", "{r}\n{stderr}");
    let leases = common::ok(&lab.dhcpnet(&["leases", "-o", "json"]));
    let lease = leases
        .as_array()
        .and_then(|a| a.iter().find(|l| l["mac"] == mac && l["ip"] == ip.as_str()))
        .unwrap_or_else(|| panic!("the shim's lease is not recorded: {leases}"))
        .clone();
    assert_eq!(
        lease["server_mac"].as_str(),
        Some(server_mac.as_str()),
        "the server's MAC was taken from a reply on x0: {lease}\n{stderr}"
    );
    assert_ne!(
        lease["lease_time"], 7777,
        "the forged ACK was recorded: {lease}"
    );
}

// ---- The unit's restrictions (item 8) ----

/// setpriv and tests/unit_sandbox.py: the capability bounding set, ambient
/// capabilities, no_new_privs and the seccomp filters contrib/dhcpnet.service
/// asks systemd for (this machine's PID 1 is not systemd).
fn unit_sandbox() -> Vec<String> {
    let caps = "-all,+net_raw,+net_admin";
    vec![
        "setpriv".into(),
        format!("--bounding-set={caps}"),
        format!("--inh-caps={caps}"),
        format!("--ambient-caps={caps}"),
        "--no-new-privs".into(),
        "/usr/bin/python3".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/unit_sandbox.py").into(),
        "--".into(),
    ]
}

fn has_python_seccomp() -> bool {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import seccomp"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok || common::skip("python3-seccomp is missing (scripts/setup.sh installs it)")
}

#[test]
fn the_daemon_leases_releases_and_runs_docker_under_the_units_capabilities_and_system_call_filter()
{
    if !require(&["setpriv", "systemd-analyze"]) || !has_python_seccomp() {
        return;
    }
    let Some(mut lab) = common::Lab::new(&["dnsmasq", "python3"]) else {
        return;
    };
    lab.start_dnsmasq(&[]);
    let docker = common::which("docker")
        .filter(|_| Path::new("/usr/bin/docker").exists())
        .map(|_| PathBuf::from("/usr/bin/docker"));
    let Some(docker) = docker else {
        common::skip("no docker CLI at /usr/bin/docker (scripts/setup.sh installs docker.io)");
        return;
    };
    let sock = lab.dir.path().join("plugin.sock");
    let log = lab.dir.path().join("sandboxed.log");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &lab.cli]);
    cmd.args(unit_sandbox());
    cmd.arg(env!("CARGO_BIN_EXE_dhcpnet"))
        .arg("--state-dir")
        .arg(lab.state_dir())
        .args(["-v", "daemon", "--docker"])
        .arg(&docker)
        .arg("--plugin-socket")
        .arg(&sock)
        // No engine: the real docker CLI runs, fails to connect, and the
        // follower says so (its Go runtime under the filter is the point).
        .env("DOCKER_HOST", "unix:///nonexistent-dhcpnet-test.sock")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let d = Daemon {
        child: cmd.spawn().expect("start the sandboxed daemon"),
        log,
    };
    assert!(
        d.wait_log("started", Duration::from_secs(20)),
        "{}",
        d.log()
    );
    let post = |path: &str, body: serde_json::Value| common::plugin_post(&sock, path, &body);
    let p = post(
        "/IpamDriver.RequestPool",
        serde_json::json!({"Pool": "10.77.0.0/24", "Options": {"dhcp_interface": common::IFACE}}),
    );
    let pool = p["PoolID"]
        .as_str()
        .unwrap_or_else(|| panic!("{p}\n{}", d.log()))
        .to_string();
    let mac = "02:42:0a:4d:00:41";
    let a = post(
        "/IpamDriver.RequestAddress",
        serde_json::json!({"PoolID": pool, "Address": "",
            "Options": {"com.docker.network.endpoint.macaddress": mac}}),
    );
    let addr = a["Address"]
        .as_str()
        .unwrap_or_else(|| panic!("{a}\n{}", d.log()))
        .to_string();
    let ip = addr.trim_end_matches("/24").to_string();
    assert!(
        lab.server_leases().iter().any(|r| r.0 == mac && r.1 == ip),
        "{:?}",
        lab.server_leases()
    );
    let rel = post(
        "/IpamDriver.ReleaseAddress",
        serde_json::json!({"PoolID": pool, "Address": ip}),
    );
    assert!(rel.get("Error").is_none() || rel["Error"] == "", "{rel}");
    let docker_ran = d.wait_log("nonexistent-dhcpnet-test.sock", Duration::from_secs(20))
        || d.wait_log("event following", Duration::from_secs(1));
    let mut d = d;
    let log = d.log();
    assert!(docker_ran, "the docker CLI did not run or say why:\n{log}");
    assert!(d.alive(), "the sandboxed daemon died:\n{log}");
    assert!(
        !log.contains("Bad system call") && !log.contains("Operation not permitted"),
        "{log}"
    );
    eprintln!("{log}");
    assert_eq!(d.stop(), Some(0));
}

// ---- SIGHUP and SIGQUIT end an acquisition like Ctrl-C (item 8) ----

#[test]
fn sighup_or_sigquit_during_a_batch_records_every_granted_lease_strands_none_and_exits_128_plus_it()
{
    for (sig, code) in [("HUP", 129), ("QUIT", 131)] {
        let Some(mut lab) = common::Lab::new(&["dnsmasq", "timeout"]) else {
            return;
        };
        // 20 addresses for 50 clients: the batch is still running at 1.5 s.
        lab.start_dnsmasq_with_range("10.77.0.50,10.77.0.69,255.255.255.0,300", &[]);
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.cli,
                "timeout",
                "--preserve-status",
                "-s",
                sig,
                "1.5",
            ])
            .arg(env!("CARGO_BIN_EXE_dhcpnet"))
            .arg("--state-dir")
            .arg(lab.state_dir())
            .args([
                "lease",
                "--interface",
                common::IFACE,
                "--count",
                "50",
                "-o",
                "json",
            ])
            .output()
            .expect("run dhcpnet under timeout");
        let e = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(code), "SIG{sig}: {e}");
        assert!(
            e.contains(&format!("interrupted (SIG{sig})")) && e.contains("recorded"),
            "{e}"
        );
        let leases = common::ok(&lab.dhcpnet(&["leases", "-o", "json"]));
        let recs = leases.as_array().cloned().unwrap_or_default();
        assert!(
            recs.iter().all(|r| r["status"] == "bound"),
            "after SIG{sig} only leases are left: {recs:?}"
        );
        let recorded: Vec<String> = recs
            .iter()
            .filter_map(|r| r["mac"].as_str().map(str::to_string))
            .collect();
        // dnsmasq rewrites its table a moment after each change.
        let held = (0..5)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(300));
                lab.server_leases()
                    .into_iter()
                    .map(|r| r.0)
                    .collect::<Vec<_>>()
            })
            .max_by_key(Vec::len)
            .unwrap_or_default();
        assert!(!held.is_empty(), "the server granted some before SIG{sig}");
        for m in &held {
            assert!(
                recorded.contains(m),
                "SIG{sig}: the server holds {m}, dhcpnet has no record: {e}"
            );
        }
    }
}

#[test]
fn the_units_security_score_is_the_one_readme_records() {
    if !require(&["systemd-analyze"]) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/unit-security.sh"))
        .output()
        .expect("scripts/unit-security.sh");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // "→ Overall exposure level for dhcpnet.service: 2.2 OK 🙂"
    let score = text
        .lines()
        .find_map(|l| l.split("dhcpnet.service: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| {
            panic!(
                "no score in:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_string();
    let value: f64 = score.parse().expect("a number");
    assert!(value <= 3.0, "the unit's exposure rose to {score}:\n{text}");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("scores the unit **{score} (OK)**")),
        "README records another score than {score}"
    );
}

/// The plugin requests of the check inside UML (python3, stdlib).
const UML_PLUGIN_CLIENT: &str = r#"
import socket, json
def post(path, body):
    s = socket.socket(socket.AF_UNIX); s.settimeout(30)
    s.connect("/run/docker/plugins/dhcpnet.sock")
    b = json.dumps(body).encode()
    s.sendall(b"POST %s HTTP/1.1\r\nHost: p\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (path.encode(), len(b)) + b)
    out = b""
    while True:
        c = s.recv(4096)
        if not c: break
        out += c
    return out.decode().split("\r\n\r\n", 1)[-1]
print("@@@ activate", post("/Plugin.Activate", {}))
p = json.loads(post("/IpamDriver.RequestPool", {"Pool": "10.88.0.0/24", "Options": {"dhcp_interface": "v0"}}))
a = json.loads(post("/IpamDriver.RequestAddress", {"PoolID": p.get("PoolID"), "Address": "", "Options": {"com.docker.network.endpoint.macaddress": "02:42:0a:58:00:07"}}))
print("@@@ address", a.get("Address"), a.get("Err"))
ip = (a.get("Address") or "").split("/")[0]
print("@@@ release", post("/IpamDriver.ReleaseAddress", {"PoolID": p.get("PoolID"), "Address": ip}))
"#;

#[test]
fn under_systemd_in_user_mode_linux_the_hardened_unit_starts_by_socket_activation_and_leases() {
    let Some(modules) = common::uml::available() else {
        return;
    };
    if !require(&["python3", "timeout"]) {
        return;
    }
    if !Path::new("/lib/systemd/systemd").exists() {
        common::skip("no /lib/systemd/systemd (package systemd)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let units = d.join("units");
    std::fs::create_dir(&units).unwrap();
    // The unit as shipped, but for the binary under test (copied to /run
    // inside UML) and the network target, which this boot does not have.
    let service = std::fs::read_to_string(root.join("contrib/dhcpnet.service"))
        .unwrap()
        .replace(
            "ExecStart=/usr/bin/dhcpnet daemon",
            "ExecStart=/run/check/dhcpnet -v daemon --docker /usr/bin/docker",
        )
        .replace(
            "After=network-online.target dhcpnet.socket",
            "After=dhcpnet.socket",
        )
        .replace("Wants=network-online.target\n", "");
    assert!(
        service.contains("ExecStart=/run/check/dhcpnet"),
        "{service}"
    );
    std::fs::write(units.join("dhcpnet.service"), service).unwrap();
    std::fs::copy(
        root.join("contrib/dhcpnet.socket"),
        units.join("dhcpnet.socket"),
    )
    .unwrap();
    std::fs::write(
        units.join("check.target"),
        "[Unit]\nDescription=dhcpnet unit check\nRequires=check.service\n",
    )
    .unwrap();
    std::fs::write(
        units.join("check.service"),
        "[Unit]\nRequires=dhcpnet.socket\nAfter=dhcpnet.socket\n[Service]\nType=oneshot\n\
         StandardOutput=tty\nStandardError=tty\nTTYPath=/dev/console\n\
         ExecStart=/bin/sh /run/check/check.sh\n",
    )
    .unwrap();
    std::fs::write(d.join("client.py"), UML_PLUGIN_CLIENT).unwrap();
    std::fs::write(
        d.join("check.sh"),
        r#"#!/bin/sh
echo "@@@ check begins"
stat -c '@@@ mode %n %a %U' /run/docker/plugins/dhcpnet.sock /run/docker/plugins/dhcpnet-ipvlan.sock
python3 /run/check/client.py
P=$(systemctl show -p MainPID --value dhcpnet.service)
echo "@@@ service $(systemctl show -p ActiveState --value dhcpnet.service) restarts $(systemctl show -p NRestarts --value dhcpnet.service)"
grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/$P/status | sed 's/^/@@@ /'
awk '$5 == "/" || $5 == "/var/lib/dhcpnet" || $5 == "/run/docker/plugins" {print "@@@ mount", $5, $6}' /proc/$P/mountinfo
echo "@@@ journal"; journalctl -u dhcpnet.service --no-pager -o cat
echo "@@@ check done"
systemctl poweroff --force --force
"#,
    )
    .unwrap();
    let m = format!("/usr/lib/uml/modules/{modules}/kernel");
    let init = format!(
        r#"#!/bin/sh
# PID 1 of user-mode-linux: a lab, then systemd on a writable overlay of
# the host's (read-only) files; nothing written reaches the host.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /run
mkdir -p /run/netns /run/systemd/system /run/docker/plugins /run/check
cp {d}/units/* /run/systemd/system/
cp {d}/check.sh {d}/client.py /run/check/
cp {bin} /run/check/dhcpnet
for x in drivers/net/veth.ko fs/overlayfs/overlay.ko; do busybox insmod {m}/$x || echo "@@@ insmod-failed $x"; done
ip netns add srv
ip link add v0 type veth peer name v1 netns srv
ip link set lo up; ip link set v0 up
ip -n srv link set lo up; ip -n srv link set v1 up
ip -n srv addr add 10.88.0.1/24 dev v1
ip netns exec srv dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=v1 --bind-interfaces \
  --no-ping --dhcp-range=10.88.0.50,10.88.0.150,255.255.255.0,300 --dhcp-leasefile=/run/srv.leases 2>/dev/null &
mount -t tmpfs tmp /mnt
mkdir -p /mnt/u /mnt/w /mnt/root
mount -t overlay overlay -o lowerdir=/,upperdir=/mnt/u,workdir=/mnt/w /mnt/root || echo "@@@ overlay-failed"
for x in proc sys run dev; do mount --move /$x /mnt/root/$x 2>/dev/null; done
cd /mnt/root && mkdir -p oldroot && pivot_root . oldroot || echo "@@@ pivot-failed"
echo "@@@ systemd"
exec chroot . /lib/systemd/systemd --unit=check.target
"#,
        d = d.display(),
        bin = env!("CARGO_BIN_EXE_dhcpnet"),
    );
    let init_path = common::executable(&d.join("init.sh"), &init);
    let out = Command::new("timeout")
        .args([
            "-k",
            "5",
            "240",
            "linux",
            "mem=512M",
            "rootfstype=hostfs",
            "rootflags=/",
            "ro",
        ])
        .arg(format!("init={}", init_path.display()))
        .args(["con=null", "con0=fd:0,fd:1", "systemd.unit=check.target"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("user-mode-linux");
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    let said = |what: &str| console.lines().any(|l| l.starts_with(what));
    assert!(
        said("@@@ check done"),
        "the check did not finish:\n{console}"
    );
    for want in [
        // Socket activation, the sockets as the socket unit makes them.
        "@@@ mode /run/docker/plugins/dhcpnet.sock 600 root",
        "@@@ activate {\"Implements\":[\"IpamDriver\"]}",
        // A lease from dnsmasq through the plugin, and its release.
        "@@@ address 10.88.0.",
        "@@@ release {}",
        "@@@ service active restarts 0",
        // The unit's sandbox, as the kernel reports it for the daemon.
        "@@@ CapEff:\t0000000000003000",
        "@@@ CapBnd:\t0000000000003000",
        "@@@ NoNewPrivs:\t1",
        "@@@ Seccomp:\t2",
        "@@@ mount / ro,",
        "@@@ mount /var/lib/dhcpnet rw,",
        "@@@ mount /run/docker/plugins rw,",
    ] {
        assert!(said(want), "missing {want:?}:\n{console}");
    }
    assert!(
        console.contains("handed over by the service manager (socket activation)")
            && console.contains("Docker events on"),
        "{console}"
    );
}
