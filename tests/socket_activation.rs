//! Boot order: contrib/dhcpnet.socket hands the plugin socket to the daemon
//! (systemd socket activation, LISTEN_FDS/LISTEN_PID, fd 3). Tested with
//! `systemd-socket-activate`, which listens and starts the command with the
//! socket as systemd does (no systemd as PID 1 needed); the units are
//! checked with `systemd-analyze verify`. The daemon runs `--no-docker` in a
//! network namespace of its own (`unshare -n`): nothing reaches a real
//! interface.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{require, wait_for};

/// POST `call` (e.g. `/Plugin.Activate`) on `sock`: the raw answer.
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

/// `systemd-socket-activate` listening on `socks` (in that order) and
/// starting `dhcpnet daemon --no-docker` with them, in a network namespace
/// of its own; its `--plugin-socket` is `dir/unused.sock`, which must stay
/// unbound. Log in `dir/daemon.log`.
fn activated_daemon(dir: &Path, socks: &[&Path]) -> std::process::Child {
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "systemd-socket-activate"]);
    for s in socks {
        cmd.arg("-l").arg(s);
    }
    cmd.arg(env!("CARGO_BIN_EXE_dhcpnet"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["-vv", "daemon", "--no-docker", "--plugin-socket"])
        // Not used when a socket is handed over: nothing is bound here.
        .arg(dir.join("unused.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("daemon.log")).expect("log"),
        ))
        .spawn()
        .expect("systemd-socket-activate")
}

#[test]
fn a_request_to_the_socket_systemd_listens_on_is_answered_by_the_daemon_it_starts() {
    if !require(&["systemd-socket-activate", "unshare"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("dhcpnet.sock");
    let log = dir.path().join("daemon.log");
    let mut child = activated_daemon(dir.path(), &[&sock]);
    // systemd-socket-activate listens before the daemon exists; the first
    // connection starts it, and the request waits for its answer.
    let listening = wait_for(Duration::from_secs(10), || sock.exists().then_some(()));
    let answer = listening.and_then(|_| ask(&sock, "/Plugin.Activate"));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.unwrap_or_default();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("IpamDriver"),
        "answer: {answer:?}\nlog:\n{text}"
    );
    assert!(text.contains("socket activation"), "{text}");
    assert!(
        !dir.path().join("unused.sock").exists(),
        "the daemon bound a socket of its own: {text}"
    );
}

#[test]
fn both_drivers_sockets_handed_over_are_served_each_as_its_driver_and_none_is_bound() {
    if !require(&["systemd-socket-activate", "unshare"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("dhcpnet.sock");
    let ipvlan = dir.path().join("dhcpnet-ipvlan.sock");
    let log = dir.path().join("daemon.log");
    // The order systemd passes them in is the unit's; the daemon tells
    // them apart by name, so the ipvlan one comes first here.
    let mut child = activated_daemon(dir.path(), &[&ipvlan, &sock]);
    let listening = wait_for(Duration::from_secs(10), || {
        (sock.exists() && ipvlan.exists()).then_some(())
    });
    let caps = |s: &Path| ask(s, "/IpamDriver.GetCapabilities");
    let (main, second) = match listening {
        Some(()) => (caps(&sock), caps(&ipvlan)),
        None => (None, None),
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    let (main, second) = (main.unwrap_or_default(), second.unwrap_or_default());
    // dhcpnet asks the engine for endpoint MACs (macvlan); dhcpnet-ipvlan
    // does not (Docker's ipvlan driver refuses them).
    assert!(
        main.contains("\"RequiresMACAddress\":true"),
        "{main:?}\nlog:\n{text}"
    );
    assert!(
        second.contains("\"RequiresMACAddress\":false"),
        "{second:?}\nlog:\n{text}"
    );
    assert!(text.contains("the dhcpnet-ipvlan driver"), "{text}");
    for own in ["unused.sock", "unused-ipvlan.sock"] {
        assert!(
            !dir.path().join(own).exists(),
            "the daemon bound {own} of its own: {text}"
        );
    }
}

// A descriptor that is not a listening unix stream socket, or one others
// may connect to: tests/hardening_edges.rs (the daemon says so and runs on).

#[test]
fn the_systemd_units_pass_systemd_analyze_verify_and_the_service_needs_the_socket() {
    if !require(&["systemd-analyze"]) {
        return;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let service = std::fs::read_to_string(manifest.join("contrib/dhcpnet.service")).unwrap();
    let socket = std::fs::read_to_string(manifest.join("contrib/dhcpnet.socket")).unwrap();
    for line in [
        "Requires=dhcpnet.socket",
        "Before=docker.service",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET",
        "ExecStart=/usr/bin/dhcpnet daemon",
        "StateDirectory=dhcpnet",
    ] {
        assert!(service.lines().any(|l| l == line), "service lacks {line}");
    }
    assert!(
        service
            .lines()
            .any(|l| l.starts_with("After=") && l.contains("dhcpnet.socket"))
    );
    for line in [
        "ListenStream=/run/docker/plugins/dhcpnet.sock",
        "ListenStream=/run/docker/plugins/dhcpnet-ipvlan.sock",
        "Before=docker.service",
        "WantedBy=sockets.target",
    ] {
        assert!(socket.lines().any(|l| l == line), "socket lacks {line}");
    }
    // verify wants an executable it can find: the one under test.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dhcpnet.service"),
        service.replace(
            "ExecStart=/usr/bin/dhcpnet ",
            &format!("ExecStart={} ", env!("CARGO_BIN_EXE_dhcpnet")),
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("dhcpnet.socket"), &socket).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join("dhcpnet.socket"))
        .arg(dir.path().join("dhcpnet.service"))
        .output()
        .expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}
