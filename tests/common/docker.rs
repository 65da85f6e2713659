//! A Docker Engine of the tests' own: `dockerd` with its own data root,
//! exec root, socket, pid file and an empty config file, no bridge and no
//! iptables, so it touches nothing else on the machine (not docker0, not a
//! system engine, not /etc/docker/daemon.json). It holds one image,
//! `dhcpnet-test/busybox`, imported from busybox-static (no registry).
//!
//! Two engines: `engine()` is Debian 12's docker.io (20.10, API 1.41) from
//! PATH; `engine26()` is Debian 13's 26.1 (API 1.45), unpacked by
//! scripts/setup.sh into /opt/dhcpnet-test/docker26 (DHCPNET_TEST_DOCKER26
//! overrides), run with its own containerd and CLI and Debian 12's runc.
//! Each starts on first use and is shared between the tests of one test
//! binary; it stops (containers and all) and its directory is removed when
//! the last test holding it is done, panicking or not. Both can run at once.
//! Engines left by killed test processes are stopped and removed the next
//! time. Starting is serialized across test binaries (and worktrees) with a
//! file lock.
//!
//! `on_each_engine!(name, ...)` makes, for each `fn name(v: Version)`, the
//! tests `name::on_docker_20_10` and `name::on_docker_26`.
//!
//! Under CI=true a missing dockerd/containerd/runc/busybox, or a missing
//! unpacked 26.1, is a failure.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::{require, skip, which};

pub const IMAGE: &str = "dhcpnet-test/busybox:latest";
const LOCK: &str = "/tmp/dhcpnet-test-engine.lock";
const PREFIX: &str = "dhcpnet-engine-";
/// Where scripts/setup.sh unpacks Debian 13's Docker.
const DOCKER26: &str = "/opt/dhcpnet-test/docker26";

/// Which engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Debian 12's docker.io 20.10 (API 1.41), found on PATH.
    V20_10,
    /// Debian 13's docker.io 26.1 (API 1.45), unpacked by scripts/setup.sh.
    V26,
}

impl Version {
    pub fn label(self) -> &'static str {
        match self {
            Version::V20_10 => "20.10",
            Version::V26 => "26",
        }
    }
}

static ENGINE: Mutex<Weak<Engine>> = Mutex::new(Weak::new());
static ENGINE26: Mutex<Weak<Engine>> = Mutex::new(Weak::new());

/// Makes, for each `fn name(v: Version)` listed, a module `name` holding
/// the tests `on_docker_20_10` and `on_docker_26`, which run it on that
/// engine.
#[macro_export]
macro_rules! on_each_engine {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn on_docker_20_10() {
                super::$name($crate::common::docker::Version::V20_10)
            }
            #[test]
            fn on_docker_26() {
                super::$name($crate::common::docker::Version::V26)
            }
        }
    )+};
}

pub struct Engine {
    pub version: Version,
    /// Everything of this engine lives here.
    pub dir: PathBuf,
    /// `unix:///.../docker.sock`, for DOCKER_HOST.
    pub host: String,
    /// The docker CLI that matches the engine (for 20.10 Debian's
    /// /usr/bin/docker when present, DHCPNET_TEST_DOCKER overrides; for 26
    /// the unpacked one).
    pub cli: PathBuf,
    /// DOCKER_CONFIG for the CLI: this engine's own, where Compose v2 is
    /// found (cliPluginsExtraDirs) when 26.1 is unpacked.
    pub config: PathBuf,
    /// PATH for dockerd (26.1: its own containerd first).
    path: Option<String>,
    dockerd: PathBuf,
    child: Mutex<Option<Child>>,
}

/// The shared 20.10 engine, started when needed; None (test skipped) when
/// the requirements are missing outside CI.
pub fn engine() -> Option<Arc<Engine>> {
    engine_of(Version::V20_10)
}

/// The shared 26.1 engine, as `engine()`.
pub fn engine26() -> Option<Arc<Engine>> {
    engine_of(Version::V26)
}

/// The directory holding the unpacked 26.1 (`usr/sbin/dockerd` ...).
pub fn docker26_dir() -> PathBuf {
    std::env::var_os("DHCPNET_TEST_DOCKER26")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DOCKER26))
}

/// Engines start one at a time across test binaries (and worktrees): held
/// until the file is dropped.
fn engine_lock() -> File {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .expect("engine lock file");
    lock.lock().expect("lock the engine lock file");
    lock
}

/// Whether an engine of that version can run here (else skipped, or under
/// CI=true failed).
fn engine_available(v: Version) -> bool {
    let needs: &[&str] = match v {
        Version::V20_10 => &["dockerd", "containerd", "runc", "busybox", "tar"],
        Version::V26 => &["runc", "busybox", "tar"],
    };
    if !require(needs) {
        return false;
    }
    if v == Version::V26 && !docker26_dir().join(".complete").is_file() {
        skip(&format!(
            "Docker 26.1 not unpacked in {} (run scripts/setup.sh)",
            docker26_dir().display()
        ));
        return false;
    }
    true
}

/// An engine of the caller's alone (not shared with the other tests of the
/// binary), which it may stop and start again (`restart`, `stop`,
/// `start_again`).
pub fn private_engine(v: Version) -> Option<Arc<Engine>> {
    engine_available(v).then(|| Arc::new(Engine::start(v)))
}

/// The shared engine of that version.
pub fn engine_of(v: Version) -> Option<Arc<Engine>> {
    if !engine_available(v) {
        return None;
    }
    let slot = match v {
        Version::V20_10 => &ENGINE,
        Version::V26 => &ENGINE26,
    };
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = slot.upgrade() {
        return Some(e);
    }
    let e = Arc::new(Engine::start(v));
    *slot = Arc::downgrade(&e);
    Some(e)
}

fn docker_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("DHCPNET_TEST_DOCKER") {
        return PathBuf::from(p);
    }
    let debian = Path::new("/usr/bin/docker");
    if debian.is_file() {
        return debian.to_path_buf();
    }
    which("docker")
        .unwrap_or_else(|| panic!("no docker CLI found (install docker.io, see .ci/run)"))
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists; it
    // has no other effect and no memory is involved.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

fn read_pid(p: &Path) -> Option<i32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// Stop a dockerd by pid: TERM, wait up to 20 s, then KILL.
fn stop_pid(pid: i32) {
    // SAFETY: sending a signal to a pid we read from our own engine's pid
    // file; no memory is involved.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let t = Instant::now();
    while alive(pid) && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive(pid) {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Unmount whatever is still mounted under `dir` (deepest first), then
/// remove it.
fn remove_tree(dir: &Path) {
    let prefix = dir.to_string_lossy().to_string();
    let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        let _ = Command::new("umount").args(["-l", &m]).output();
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Engines whose test process is gone: stop them and remove their trees.
fn reap_stale() {
    let Ok(rd) = std::fs::read_dir("/tmp") else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.starts_with(PREFIX) {
            continue;
        }
        let dir = e.path();
        if read_pid(&dir.join("owner")).is_some_and(alive) {
            continue;
        }
        if let Some(pid) = read_pid(&dir.join("dockerd.pid")).filter(|p| alive(*p)) {
            stop_pid(pid);
        }
        remove_tree(&dir);
    }
}

impl Engine {
    fn start(version: Version) -> Engine {
        let lock = engine_lock();
        reap_stale();
        // One directory per engine, not per process: an engine whose last
        // test just ended may still be stopping (and removing its tree)
        // while the next test starts another.
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, Ordering::SeqCst);
        let tag = match version {
            Version::V20_10 => "20",
            Version::V26 => "26",
        };
        let dir = PathBuf::from(format!("/tmp/{PREFIX}{tag}-{}-{n}", std::process::id()));
        remove_tree(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("engine dir");
        std::fs::create_dir_all(dir.join("exec")).expect("engine dir");
        std::fs::create_dir_all(dir.join("cli")).expect("engine dir");
        std::fs::write(dir.join("owner"), std::process::id().to_string()).expect("owner file");
        std::fs::write(dir.join("daemon.json"), "{}\n").expect("daemon.json");
        let d26 = docker26_dir();
        let plugins = d26.join("usr/libexec/docker/cli-plugins");
        std::fs::write(
            dir.join("cli/config.json"),
            serde_json::json!({ "cliPluginsExtraDirs": [plugins] }).to_string(),
        )
        .expect("CLI config.json");
        // For 26, PATH has its own containerd, shim and docker-init first,
        // then the system's (Debian 12's runc).
        let (dockerd, cli, path) = match version {
            Version::V20_10 => (PathBuf::from("dockerd"), docker_cli(), None),
            Version::V26 => {
                let system = std::env::var("PATH").unwrap_or_default();
                let path = format!(
                    "{}:{}:{system}:/usr/sbin:/usr/bin:/sbin:/bin",
                    d26.join("usr/sbin").display(),
                    d26.join("usr/bin").display()
                );
                (
                    d26.join("usr/sbin/dockerd"),
                    d26.join("usr/bin/docker"),
                    Some(path),
                )
            }
        };
        let sock = dir.join("docker.sock");
        let host = format!("unix://{}", sock.display());
        let engine = Engine {
            version,
            config: dir.join("cli"),
            dir,
            host,
            cli,
            path,
            dockerd,
            child: Mutex::new(None),
        };
        engine.spawn();
        engine.import_busybox();
        drop(lock);
        engine
    }

    /// Start this engine's dockerd (same directories, same socket) and
    /// wait until it answers.
    fn spawn(&self) {
        let version = self.version;
        let dir = &self.dir;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("dockerd.log"))
            .expect("dockerd log");
        let mut cmd = Command::new(&self.dockerd);
        if let Some(p) = &self.path {
            cmd.env("PATH", p);
        }
        let child = cmd
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(&self.host)
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
            ])
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start dockerd");
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        let engine = self;
        let t = Instant::now();
        loop {
            let out = engine.docker(&["version", "--format", "{{.Server.Version}}"]);
            if out.status.success() {
                let server = String::from_utf8_lossy(&out.stdout).trim().to_string();
                assert!(
                    server.starts_with(&format!("{}.", version.label())),
                    "asked for Docker {}, got {server}",
                    version.label()
                );
                break;
            }
            if t.elapsed() > Duration::from_secs(60) {
                panic!(
                    "dockerd {} did not come up in 60 s; log:\n{}",
                    version.label(),
                    engine.log()
                );
            }
            if let Some(c) = engine
                .child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!(
                    "dockerd {} exited ({st}); log:\n{}",
                    version.label(),
                    engine.log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stop dockerd as systemd does at shutdown (SIGTERM: containers are
    /// stopped, their addresses given back), waiting for it to exit.
    pub fn stop(&self) {
        self.stop_within(Duration::from_secs(60));
    }

    /// SIGTERM, wait up to `wait`, then SIGKILL.
    fn stop_within(&self, wait: Duration) {
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut c) = child {
            // Our own child: reap it while waiting (a zombie still "exists").
            // SAFETY: signalling our own child process; no memory involved.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let t = Instant::now();
            while matches!(c.try_wait(), Ok(None)) && t.elapsed() < wait {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start a stopped engine again (its containers with a restart policy
    /// come back, as at boot).
    pub fn start_again(&self) {
        let _lock = engine_lock();
        self.spawn();
    }

    /// A macvlan network `name` on `parent` that uses the dhcpnet plugin
    /// (subnet 10.77.0.0/24), with `dhcp_interface` given when `Some`
    /// (Compose passes none).
    pub fn plugin_network(&self, name: &str, parent: &str, dhcp_interface: Option<&str>) {
        let parent = format!("parent={parent}");
        let mut a = vec![
            "network",
            "create",
            "-d",
            "macvlan",
            "--ipam-driver",
            "dhcpnet",
            "--subnet",
            "10.77.0.0/24",
            "-o",
            &parent,
        ];
        let opt = dhcp_interface.map(|i| format!("dhcp_interface={i}"));
        if let Some(o) = &opt {
            a.extend_from_slice(&["--ipam-opt", o]);
        }
        a.push(name);
        self.docker_ok(&a);
    }

    /// `systemctl restart docker`: stop, then start again.
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// `docker import` a root holding busybox-static and its applets.
    fn import_busybox(&self) {
        let root = self.dir.join("image-root");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
            std::fs::create_dir_all(root.join(d)).expect("image dir");
        }
        let busybox = which("busybox").expect("busybox");
        std::fs::copy(&busybox, root.join("bin/busybox")).expect("copy busybox");
        for applet in [
            "sh", "cat", "sleep", "ip", "hostname", "ls", "nslookup", "grep", "ifconfig", "echo",
        ] {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("tar");
        let stdout = tar.stdout.take().expect("tar stdout");
        let out = Command::new(&self.cli)
            .args(["import", "-", IMAGE])
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.config)
            .stdin(Stdio::from(stdout))
            .output()
            .expect("docker import");
        let _ = tar.wait();
        assert!(
            out.status.success(),
            "docker import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run the matching docker CLI against this engine.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(&self.cli)
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.config)
            .output()
            .expect("run docker")
    }

    /// `docker compose ARGS` (Compose v2 from the unpacked 26.1) against
    /// this engine, in `dir` (where compose.yaml is).
    pub fn compose(&self, dir: &Path, args: &[&str]) -> Output {
        compose(self, dir, args)
    }

    /// stdout of a docker command that must succeed.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The environment that points dhcpnet (and any docker CLI) at this engine.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DOCKER_HOST".into(), self.host.clone()),
            (
                "DOCKER_CONFIG".into(),
                self.config.to_string_lossy().to_string(),
            ),
            (
                "DHCPNET_DOCKER".into(),
                self.cli.to_string_lossy().to_string(),
            ),
        ]
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Whether Docker has a network of that name.
    pub fn has_network(&self, name: &str) -> bool {
        self.docker(&["network", "inspect", name]).status.success()
    }

    /// Remove every container on `network`, then the network (for cleanup
    /// guards; errors ignored).
    pub fn remove_network(&self, network: &str) {
        let ids = self.docker(&["ps", "-aq", "--filter", &format!("network={network}")]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = self.docker(&["network", "rm", network]);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_within(Duration::from_secs(20));
        remove_tree(&self.dir);
    }
}

/// `docker compose ARGS` in `dir` against `engine`, with Compose v2 (2.26)
/// from the unpacked 26.1 (found through the engine's DOCKER_CONFIG).
pub fn compose(engine: &Engine, dir: &Path, args: &[&str]) -> Output {
    Command::new(&engine.cli)
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", &engine.host)
        .env("DOCKER_CONFIG", &engine.config)
        .output()
        .expect("run docker compose")
}

/// Removes a Docker network and its containers when dropped (declare it
/// after the lab, so it goes first).
pub struct NetworkGuard {
    pub engine: Arc<Engine>,
    pub name: String,
}

impl Drop for NetworkGuard {
    fn drop(&mut self) {
        self.engine.remove_network(&self.name);
    }
}

/// Docker finds plugins only in /run/docker/plugins, which every engine on
/// the machine shares: a test serving `dhcpnet.sock` there holds this lock
/// (across test binaries and worktrees) until it is done.
pub const PLUGIN_SOCKET: &str = "/run/docker/plugins/dhcpnet.sock";
const PLUGIN_LOCK: &str = "/run/lock/dhcpnet-plugin-tests.lock";

/// Hold the plugin socket's lock (released when the file is dropped).
pub fn plugin_lock() -> File {
    std::fs::create_dir_all("/run/lock").expect("/run/lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PLUGIN_LOCK)
        .expect("plugin lock file");
    lock.lock().expect("lock the plugin lock file");
    lock
}

/// `dhcpnet daemon` in the root namespace with the lab's state directory,
/// following this engine (DOCKER_HOST, DHCPNET_DOCKER). Stopped (SIGTERM,
/// then SIGKILL) when dropped; a plugin socket it was given is removed.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    socket: Option<PathBuf>,
}

impl Daemon {
    /// Start it with `extra` arguments; wait until it follows the engine's
    /// events and (with `--plugin-socket`) serves the plugin.
    pub fn start(lab: &super::Lab, engine: &Engine, extra: &[&str], name: &str) -> Daemon {
        Daemon::spawn(lab, engine, extra, name, !extra.contains(&"--no-docker"))
    }

    /// Start it while the engine is down (as at boot, where the plugin must
    /// answer before the engine restores its networks): wait only for the
    /// plugin socket.
    pub fn start_before_engine(
        lab: &super::Lab,
        engine: &Engine,
        extra: &[&str],
        name: &str,
    ) -> Daemon {
        Daemon::spawn(lab, engine, extra, name, false)
    }

    fn spawn(
        lab: &super::Lab,
        engine: &Engine,
        extra: &[&str],
        name: &str,
        follows: bool,
    ) -> Daemon {
        let log = lab.dir.path().join(format!("{name}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhcpnet"));
        cmd.arg("--state-dir")
            .arg(lab.state_dir())
            .args(["-vv", "daemon"])
            .args(extra);
        for (k, v) in engine.env() {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(File::create(&log).expect("daemon log")))
            .spawn()
            .expect("start dhcpnet daemon");
        let socket = extra
            .iter()
            .position(|a| *a == "--plugin-socket")
            .and_then(|i| extra.get(i + 1))
            .map(PathBuf::from);
        let d = Daemon { child, log, socket };
        if follows {
            let up = super::wait_for(Duration::from_secs(20), || {
                d.log().contains("following container events").then_some(())
            });
            assert!(
                up.is_some(),
                "the daemon does not follow the engine; log:\n{}",
                d.log()
            );
        }
        if let Some(s) = &d.socket {
            let up = super::wait_for(Duration::from_secs(10), || {
                std::os::unix::net::UnixStream::connect(s).ok()
            });
            assert!(
                up.is_some(),
                "plugin socket {} missing; log:\n{}",
                s.display(),
                d.log()
            );
        }
        d
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a child this test spawned and has not reaped
        // (so the pid cannot have been reused); no memory is involved.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        if super::wait_for(Duration::from_secs(5), || {
            self.child.try_wait().ok().flatten()
        })
        .is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(s) = &self.socket {
            let _ = std::fs::remove_file(s);
        }
    }
}
