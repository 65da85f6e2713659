//! The edges hardened in issue 17 (items 3, 4, 5, 7, 8): the plugin
//! sockets only for root whatever the umask or the socket unit; a wrong
//! descriptor handed over by socket activation is said and survived, and
//! none leaks into children; floods of forged replies cost bounded memory
//! and log lines; the shim's second packet socket hears only its parent;
//! acquisitions end cleanly on SIGHUP and SIGQUIT.
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
