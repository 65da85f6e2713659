//! The IPAM plugin server under load and abuse, with no DHCP at all: a
//! `dhcpnet daemon --no-docker` in a network namespace of its own (`unshare
//! -n`: only a loopback, so nothing can reach a real interface), a state
//! directory with no leases, and clients on its socket. Only the fixed
//! answers (`/Plugin.Activate`) are asked for.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::wait_for;

struct Daemon {
    child: Child,
    log: PathBuf,
    sock: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Start the daemon with at most `nofile` open descriptors.
    fn start(nofile: u32) -> Daemon {
        Daemon::start_with(nofile, &[])
    }

    /// Start it with these lease records (JSON) in its state directory,
    /// written as record files by hand: dhcpnet's own writer refuses
    /// records that fail their checks.
    fn start_with(nofile: u32, leases: &[serde_json::Value]) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        if !leases.is_empty() {
            let table = dir.path().join("state/leases.d");
            std::fs::create_dir_all(&table).expect("state dir");
            for v in leases {
                let name = format!(
                    "{}@{}.json",
                    v["interface"].as_str().expect("interface"),
                    v["mac"].as_str().expect("mac").replace(':', "-")
                );
                let doc = serde_json::json!({"version": 1, "record": v});
                std::fs::write(table.join(name), doc.to_string()).expect("write a record file");
            }
        }
        let log = dir.path().join("daemon.log");
        let sock = dir.path().join("plugin.sock");
        let f = std::fs::File::create(&log).expect("log");
        let child = Command::new("unshare")
            .args([
                "-n",
                "prlimit",
                &format!("--nofile={nofile}:{nofile}"),
                "--",
            ])
            .arg(env!("CARGO_BIN_EXE_dhcpnet"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(["-vv", "daemon", "--no-docker", "--plugin-socket"])
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(f))
            .spawn()
            .expect("start dhcpnet daemon");
        let d = Daemon {
            child,
            log,
            sock,
            _dir: dir,
        };
        let up = wait_for(Duration::from_secs(20), || {
            UnixStream::connect(&d.sock).ok().map(|_| ())
        });
        assert!(up.is_some(), "no plugin socket; log:\n{}", d.log());
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runnable() -> bool {
    common::require(&["unshare", "prlimit"])
}

/// POST /Plugin.Activate on a new connection; the raw answer.
fn activate(sock: &Path) -> std::io::Result<String> {
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(
        b"POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn answers(sock: &Path) -> bool {
    activate(sock).is_ok_and(|a| a.starts_with("HTTP/1.1 200") && a.contains("IpamDriver"))
}

#[test]
fn the_plugin_keeps_answering_after_accept_runs_out_of_file_descriptors() {
    if !runnable() {
        return;
    }
    let d = Daemon::start(40);
    assert!(answers(&d.sock), "log:\n{}", d.log());
    // Idle connections, each holding a descriptor in the daemon, until it
    // has none left for the next accept() (the listen backlog takes the rest).
    let held: Vec<UnixStream> = (0..80)
        .map(|_| UnixStream::connect(&d.sock).expect("connect (backlog)"))
        .collect();
    let exhausted = wait_for(Duration::from_secs(10), || {
        d.log().contains("Too many open files").then_some(())
    });
    assert!(
        exhausted.is_some(),
        "the daemon never ran out of descriptors; log:\n{}",
        d.log()
    );
    drop(held);
    // Once the clients are gone the daemon closes their connections and
    // serves again, without a restart.
    let back = wait_for(Duration::from_secs(20), || answers(&d.sock).then_some(()));
    assert!(
        back.is_some(),
        "the plugin stopped answering; log:\n{}",
        d.log()
    );
    assert!(
        d.log().contains("accepting connections again"),
        "log:\n{}",
        d.log()
    );
    for _ in 0..20 {
        assert!(answers(&d.sock), "log:\n{}", d.log());
    }
}

#[test]
fn a_client_that_never_finishes_its_request_blocks_no_other_and_is_cut_off() {
    if !runnable() {
        return;
    }
    let d = Daemon::start(1024);
    let mut slow = UnixStream::connect(&d.sock).expect("connect");
    slow.write_all(b"POST /Plugin.Activate HTTP/1.1\r\nContent-Le")
        .expect("write");
    let started = Instant::now();
    // Other clients are answered at once meanwhile.
    for _ in 0..10 {
        let t = Instant::now();
        assert!(answers(&d.sock), "log:\n{}", d.log());
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "an answer took {:?}",
            t.elapsed()
        );
    }
    // A request never finished is answered 400 and closed within the
    // request timeout (10 s).
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut out = String::new();
    slow.read_to_string(&mut out).expect("the daemon closes it");
    assert!(
        out.starts_with("HTTP/1.1 400") && out.contains("did not arrive whole"),
        "{out:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "cut off after {took:?}"
    );
    // Headers with no end in sight are refused without waiting for it.
    let mut long = UnixStream::connect(&d.sock).expect("connect");
    long.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = long.write_all(&vec![b'a'; 64 * 1024]);
    let mut out = String::new();
    let _ = long.read_to_string(&mut out);
    assert!(
        out.starts_with("HTTP/1.1 400") && out.contains("too long"),
        "{out:?}"
    );
    assert!(answers(&d.sock), "log:\n{}", d.log());
}

#[test]
fn the_daemon_refuses_a_plugin_socket_path_holding_a_regular_file_and_keeps_the_file() {
    if !runnable() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plugin.sock");
    std::fs::write(&path, b"not a socket").expect("write");
    let out = Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_dhcpnet"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["daemon", "--no-docker", "--plugin-socket"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("run dhcpnet daemon");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{err}");
    assert!(
        err.contains("a regular file") && err.contains("nothing was removed"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).expect("kept"), b"not a socket");
}

/// A record as `dhcpnet lease` writes it, on an interface that does not
/// exist in the daemon's namespace (nothing can be sent anywhere).
fn record(mac_last: u8, obtained_at: &str, expires_at: &str, lease_time: u32) -> serde_json::Value {
    serde_json::json!({
        "ip": format!("10.77.0.{mac_last}"), "prefix_len": 24, "subnet": "10.77.0.0/24",
        "mac": format!("02:00:00:00:00:{mac_last:02x}"), "gateway": null, "dns": [], "domain": null,
        "server_id": "10.77.0.1", "lease_time": lease_time, "renewal_time": null,
        "rebinding_time": null, "obtained_at": obtained_at, "expires_at": expires_at,
        "hostname": null, "client_id": format!("01:02:00:00:00:00:{mac_last:02x}"),
        "interface": "nosuch0", "network": null,
    })
}

#[test]
fn records_dated_at_the_ends_of_the_calendar_do_not_crash_the_renewal_loop() {
    if !runnable() {
        return;
    }
    let max = chrono::DateTime::<chrono::Utc>::MAX_UTC;
    let min = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    let at = |t: chrono::DateTime<chrono::Utc>| serde_json::to_value(t).expect("date");
    let text = |t: chrono::DateTime<chrono::Utc>| at(t).as_str().unwrap_or_default().to_string();
    let leases = [
        // Obtained a second before the end of time: its T1 lies past it.
        record(
            1,
            &text(max - chrono::Duration::seconds(1)),
            &text(max),
            u32::MAX - 1,
        ),
        // Obtained and expired at the beginning of time.
        record(2, &text(min), &text(min + chrono::Duration::seconds(1)), 60),
        // Obtained long ago, expiring at the end of time.
        record(3, &text(min), &text(max), 3600),
    ];
    let mut d = Daemon::start_with(1024, &leases);
    // Outside 1970..=9999 no record loads: the loop sets the three files
    // aside (naming them) and goes on.
    let tried = wait_for(Duration::from_secs(20), || {
        d.log().contains("nosuch0").then_some(())
    });
    assert!(
        tried.is_some(),
        "the records were never attended; log:\n{}",
        d.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        d.child.try_wait().expect("wait").is_none(),
        "the daemon exited; log:\n{}",
        d.log()
    );
    assert!(!d.log().contains("panicked"), "log:\n{}", d.log());
    assert!(answers(&d.sock), "log:\n{}", d.log());
}

#[test]
fn connections_past_the_cap_wait_for_a_free_slot_and_are_then_served() {
    if !runnable() {
        return;
    }
    use dhcpnet::daemon::plugin::{MAX_CONNECTIONS, REQUEST_TIMEOUT};
    let d = Daemon::start(1024);
    // Every slot taken by a request that never finishes.
    let slow: Vec<UnixStream> = (0..MAX_CONNECTIONS)
        .map(|_| {
            let mut s = UnixStream::connect(&d.sock).expect("connect");
            s.write_all(b"POST /Plugin.Activate HTTP/1.1\r\n")
                .expect("write");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let answer = activate(&d.sock).expect("an answer once a slot frees");
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    // It waited for the slow ones to be cut off, and no longer.
    assert!(
        waited >= REQUEST_TIMEOUT - Duration::from_secs(3)
            && waited < REQUEST_TIMEOUT + Duration::from_secs(5),
        "answered after {waited:?}"
    );
    assert!(
        d.log().contains("connections open; new ones wait"),
        "log:\n{}",
        d.log()
    );
    drop(slow);
    assert!(answers(&d.sock), "log:\n{}", d.log());
}
