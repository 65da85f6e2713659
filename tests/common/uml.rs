//! Running a shell script on a real 802.1Q kernel, which the host kernel of
//! the build machines lacks: Debian's user-mode-linux (a Linux that runs as a
//! process, the host's files as its read-only root) boots `init.sh`, which
//! loads 8021q/veth/macvlan, builds a lab (v0 in the root namespace, v1 in
//! namespace `srv`, VLAN 10 on v1 with dnsmasq serving 10.88.10.0/24), then
//! runs the caller's steps. Each `step NAME CMD...` prints its exit code,
//! stdout and stderr between markers on the console; `run` returns them
//! parsed, and every failure it reports shows the whole console. Nothing
//! leaves the UML kernel: its network is a veth pair inside it.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MODULES: [&str; 7] = [
    "net/llc/llc.ko",
    "net/802/stp.ko",
    "net/802/garp.ko",
    "net/802/mrp.ko",
    "net/8021q/8021q.ko",
    "drivers/net/veth.ko",
    "drivers/net/macvlan.ko",
];

/// How long one step may take inside UML, and the whole boot; a hung
/// kernel or step is killed.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub step: Duration,
    pub boot: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct Step {
    pub rc: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The steps of one boot by name, and the whole console.
pub struct Run {
    pub steps: HashMap<String, Step>,
    pub console: String,
}

impl Run {
    fn ctx(&self, what: &str) -> String {
        format!("{what}\n--- console ---\n{}", self.console)
    }

    /// Step `n`, which must have run.
    pub fn get(&self, n: &str) -> &Step {
        self.steps
            .get(n)
            .unwrap_or_else(|| panic!("{}", self.ctx(&format!("step {n} missing"))))
    }

    /// Step `n`, which must have exited 0.
    pub fn ok(&self, n: &str) -> &Step {
        let s = self.get(n);
        assert_eq!(s.rc, Some(0), "step {n} failed: {s:?}");
        s
    }

    /// The stdout of step `n`, which must have exited 0, as JSON.
    pub fn json(&self, n: &str) -> Value {
        let s = self.ok(n);
        serde_json::from_str(&s.stdout).unwrap_or_else(|e| panic!("{n}: not JSON ({e}): {s:?}"))
    }
}

/// The newest module tree of Debian's user-mode-linux package, or None
/// (skip; a failure under CI) when UML is missing.
pub fn available() -> Option<String> {
    if !super::require(&["linux", "dnsmasq", "ip", "busybox"]) {
        return None;
    }
    let mut v: Vec<String> = std::fs::read_dir("/usr/lib/uml/modules")
        .ok()
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    let m = v.pop();
    if m.is_none() {
        let msg =
            "user-mode-linux modules missing in /usr/lib/uml/modules (package user-mode-linux)";
        assert!(!super::in_ci(), "{msg}; under CI=true this is a failure");
        eprintln!("SKIPPED: {msg}");
    }
    m
}

/// Shell that loads ipvlan (and what it needs), makes VLAN 10 of the lab on
/// the client side (`v0.10`, its MAC in `$MAC`: every ipvlan slave has it)
/// and, per name in `containers`, a namespace of that name holding an
/// ipvlan L2 slave `ip<name>` of v0.10, up, without an address.
pub fn ipvlan_containers(modules: &str, containers: &[&str]) -> String {
    let m = format!("/usr/lib/uml/modules/{modules}/kernel");
    let names = containers.join(" ");
    format!(
        r#"
for k in lib/crc-ccitt.ko net/ipv6/ipv6.ko drivers/net/ipvlan/ipvlan.ko; do
  busybox insmod {m}/$k || echo "@@@ insmod-failed $k"
done
ip link add link v0 name v0.10 type vlan id 10
ip link set v0.10 up
MAC=$(cat /sys/class/net/v0.10/address)
for c in {names}; do
  ip netns add $c
  ip link add link v0.10 name ip$c type ipvlan mode l2
  ip link set ip$c netns $c
  ip -n $c link set lo up
  ip -n $c link set ip$c up
done
"#
    )
}

fn init_script(bin: &str, modules: &str, steps: &str, step_timeout: Duration) -> String {
    let mods = MODULES.join(" ");
    let step_secs = step_timeout.as_secs();
    format!(
        r#"#!/bin/sh
# Runs as PID 1 inside user-mode-linux.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /run
mkdir -p /run/netns /run/state
echo 1 > /proc/sys/kernel/printk
for m in {mods}; do busybox insmod /usr/lib/uml/modules/{modules}/kernel/$m || echo "@@@ insmod-failed $m"; done
D="{bin} --state-dir /run/state"
step() {{
  n=$1; shift
  timeout {step_secs} "$@" >/run/out 2>/run/err
  rc=$?
  echo "@@@ $n rc=$rc"
  echo "@@@ $n stdout"; cat /run/out
  echo "@@@ $n stderr"; cat /run/err
  echo "@@@ $n end"
}}
# The lab: v0 (client, root namespace) <-> v1 (namespace srv); VLAN 10 on v1
# carries dnsmasq.
ip netns add srv
ip link add v0 type veth peer name v1 netns srv
ip link set lo up; ip link set v0 up
ip -n srv link set lo up; ip -n srv link set v1 up
ip -n srv link add link v1 name v1.10 type vlan id 10
ip -n srv addr add 10.88.10.1/24 dev v1.10
ip -n srv link set v1.10 up
ip netns exec srv dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=v1.10 --bind-interfaces \
  --no-ping --dhcp-range=10.88.10.50,10.88.10.150,255.255.255.0,300 --dhcp-leasefile=/run/srv.leases \
  2>/run/dnsmasq.log &
for i in $(seq 50); do ip netns exec srv ss -uln | grep -q ':67 ' && break; sleep 0.1; done
echo "@@@ ready"
{steps}
echo "@@@ done"
busybox poweroff -f
"#
    )
}

/// Boot UML with the lab and `steps` (shell, may use `step` and `$D`, which
/// is dhcpnet with a state directory on /run), `modules` being what
/// `available` returned; return the steps by name and the whole console.
pub fn run(dir: &Path, modules: &str, steps: &str, timeouts: Timeouts) -> Run {
    let path = dir.join("init.sh");
    let script = init_script(env!("CARGO_BIN_EXE_dhcpnet"), modules, steps, timeouts.step);
    std::fs::write(&path, script).expect("write init.sh");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod init.sh");
    let console = boot(&path, timeouts.boot);
    let run = Run {
        steps: parse(&console),
        console,
    };
    assert!(
        !run.console.contains("@@@ insmod-failed"),
        "{}",
        run.ctx("a module did not load")
    );
    assert!(
        run.console.contains("@@@ ready"),
        "{}",
        run.ctx("the lab inside UML did not come up")
    );
    assert!(
        run.console.contains("@@@ done"),
        "{}",
        run.ctx("the script inside UML did not finish")
    );
    run
}

fn parse(console: &str) -> HashMap<String, Step> {
    let mut steps: HashMap<String, Step> = HashMap::new();
    let mut cur: Option<(String, bool)> = None;
    for line in console.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(rest) = line.strip_prefix("@@@ ") {
            let (name, what) = rest.split_once(' ').unwrap_or((rest, ""));
            cur = None;
            match what {
                "stdout" => cur = Some((name.into(), true)),
                "stderr" => cur = Some((name.into(), false)),
                w => {
                    if let Some(rc) = w.strip_prefix("rc=") {
                        steps.entry(name.into()).or_default().rc = rc.parse().ok();
                    }
                }
            }
            continue;
        }
        if let Some((n, out)) = &cur {
            let s = steps.entry(n.clone()).or_default();
            let buf = if *out { &mut s.stdout } else { &mut s.stderr };
            buf.push_str(line);
            buf.push('\n');
        }
    }
    steps
}

/// Kills the whole UML process group when dropped (UML forks helpers).
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals the process group made
        // for this child (process_group(0)); no memory is involved.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

fn boot(script: &Path, timeout: Duration) -> String {
    let mut child = Command::new("linux")
        .args([
            "mem=384M",
            "quiet",
            "rootfstype=hostfs",
            "rootflags=/",
            "ro",
        ])
        .arg(format!("init={}", script.display()))
        .args(["con=null", "con0=fd:0,fd:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start user-mode-linux (`linux`)");
    let mut stdout = child.stdout.take().expect("stdout");
    let group = Group(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    let t = Instant::now();
    let out = rx.recv_timeout(timeout);
    drop(group);
    match out {
        Ok(b) => {
            eprintln!("user-mode-linux ran for {:.1} s", t.elapsed().as_secs_f64());
            String::from_utf8_lossy(&b).into_owned()
        }
        Err(_) => {
            // Killing it closed the pipe: show what it printed until then.
            let partial = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
            panic!(
                "user-mode-linux did not finish within {timeout:?} and was killed; console so far:\n{}",
                String::from_utf8_lossy(&partial)
            )
        }
    }
}
