//! Output to a reader that went away (`dhcpnet leases -o json | head -1`)
//! ends quietly: exit 0, no panic, no error message.

use std::process::{Command, Stdio};

/// Run dhcpnet with a stdout pipe whose read end is closed before it starts,
/// so its first write fails with EPIPE.
fn with_stdout_closed(args: &[&str]) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_dhcpnet"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run dhcpnet");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "{args:?} panicked on a closed stdout:\n{stderr}"
    );
    assert!(
        stderr.is_empty(),
        "{args:?} said something on a closed stdout:\n{stderr}"
    );
    assert!(
        out.status.success(),
        "{args:?} on a closed stdout: {}",
        out.status
    );
}

#[test]
fn a_closed_stdout_is_a_quiet_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A state directory dhcpnet makes itself: an existing 0755 one would be
    // tightened, with a warning that is not what this test is about.
    let state = dir.path().join("state");
    let state = state.to_str().expect("utf-8 path");
    with_stdout_closed(&["--state-dir", state, "leases", "-o", "json"]);
    with_stdout_closed(&["--state-dir", state, "leases", "-o", "yaml"]);
    with_stdout_closed(&["--state-dir", state, "leases"]);
    with_stdout_closed(&["completions", "bash"]);
    with_stdout_closed(&["man"]);
}
