//! A hostile DHCP server on the lab (tests/hostile_server.py, run in the
//! server namespace, bound to its veth): crafted OFFERs, ACKs and NAKs that a
//! well-behaved encoder would never produce. Whatever it sends, dhcpnet
//! must not panic, must exit with a documented code, and must record no
//! lease carrying a value that makes no sense (issue 8).

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::{IFACE, Lab};
use serde_json::Value;

const MAC: &str = "02:42:0a:4d:08:01";
const PROBE_MAC: &str = "02:42:0a:4d:08:02";
/// dhcpnet's `--timeout` in every case: long enough for one exchange with a
/// local responder, short enough that a refused reply costs little.
const TIMEOUT: &str = "3";
/// The address the responder offers unless its case says otherwise.
const OFFERED: &str = "10.77.0.60";

/// A lab whose server namespace runs the hostile responder in one case.
struct Hostile {
    lab: Lab,
    case: String,
    log: PathBuf,
}

fn hostile(case: &str, arg: &str) -> Option<Hostile> {
    hostile_with(case, arg, &[])
}

/// The responder in `case` with more of its flags (`--phase renew`).
fn hostile_with(case: &str, arg: &str, flags: &[&str]) -> Option<Hostile> {
    let mut lab = Lab::new(&["python3"])?;
    let log = start_responder(&mut lab, case, arg, flags);
    let h = Hostile {
        lab,
        case: format!("{case} {arg} {}", flags.join(" ")),
        log,
    };
    h.wait_listening();
    common::wait_udp67_in(&h.lab.srv);
    Some(h)
}

/// Start tests/hostile_server.py in the lab's server namespace, on its veth
/// only; it is stopped with the lab (and exits by itself after 180 s).
/// Returns its log file.
fn start_responder(lab: &mut Lab, case: &str, arg: &str, flags: &[&str]) -> PathBuf {
    let log = lab.dir.path().join("hostile.log");
    let stderr = std::fs::File::create(lab.dir.path().join("hostile.stderr")).expect("stderr");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile_server.py");
    let child = Command::new("ip")
        .args(["netns", "exec", &lab.srv, "python3", script])
        .args(["--iface", IFACE, "--case", case, "--arg", arg])
        .args(flags)
        .args(["--seconds", "180", "--log"])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("start tests/hostile_server.py");
    lab.servers.push(child);
    log
}

impl Hostile {
    fn wait_listening(&self) {
        let started = common::wait_for(std::time::Duration::from_secs(10), || {
            self.responder_log().contains("listening").then_some(())
        });
        assert!(
            started.is_some(),
            "the hostile responder did not start: {}",
            self.context()
        );
    }

    fn responder_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What a failed assertion shows: the case and what the responder did
    /// (without the hex dumps, which are in the log file).
    fn context(&self) -> String {
        let log: Vec<String> = self
            .responder_log()
            .lines()
            .map(|l| match l.find(" hex=") {
                Some(i) => l[..i].to_string(),
                None => l.to_string(),
            })
            .collect();
        format!(
            "case {}\nresponder log:\n{}\nresponder stderr:\n{}",
            self.case,
            log.join("\n"),
            std::fs::read_to_string(self.lab.dir.path().join("hostile.stderr")).unwrap_or_default()
        )
    }

    fn run(&self, args: &[&str]) -> Output {
        self.lab.dhcpnet(args)
    }

    fn lease(&self, format: &str) -> Output {
        self.run(&[
            "lease",
            "--interface",
            IFACE,
            "--mac",
            MAC,
            "--timeout",
            TIMEOUT,
            "-o",
            format,
        ])
    }

    fn probe(&self, format: &str) -> Output {
        self.run(&[
            "probe",
            IFACE,
            "--mac",
            PROBE_MAC,
            "--timeout",
            TIMEOUT,
            "--collect",
            "0.3",
            "-o",
            format,
        ])
    }

    /// `dhcpnet leases -o json` with the lab's state directory.
    fn recorded(&self) -> Vec<Value> {
        let out = self.run(&["leases", "-o", "json"]);
        self.sane(&out, "leases");
        assert!(
            out.status.success(),
            "leases failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.context()
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("leases: not JSON ({e})"))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The process ended by itself, without a panic, with a documented
    /// exit code (0 to 11; 101 is Rust's panic code).
    fn sane(&self, out: &Output, what: &str) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked"),
            "{what} panicked:\n{stderr}\n{}",
            self.context()
        );
        let code = out.status.code();
        assert!(
            matches!(code, Some(0..=11)),
            "{what} exited with {:?} (not a documented dhcpnet exit code):\n{stderr}\n{}",
            out.status,
            self.context()
        );
    }

    /// The responder answered: without this a case proves nothing.
    fn assert_answered(&self, kind: &str) {
        assert!(
            self.responder_log().contains(&format!("sent {kind}")),
            "the responder sent no {kind}:\n{}",
            self.context()
        );
    }

    /// `lease` (JSON) and `probe` (JSON) run at once against the responder;
    /// both must be sane. Returns the lease's output.
    fn lease_and_probe(&self) -> Output {
        let probe = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.lab.cli,
                env!("CARGO_BIN_EXE_dhcpnet"),
            ])
            .arg("--state-dir")
            .arg(self.lab.state_dir())
            .args(["probe", IFACE, "--mac", PROBE_MAC, "--timeout", TIMEOUT])
            .args(["--collect", "0.3", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dhcpnet probe");
        let lease = self.lease("json");
        let probe = probe.wait_with_output().expect("dhcpnet probe");
        self.sane(&lease, "lease");
        self.sane(&probe, "probe");
        self.assert_answered("OFFER");
        lease
    }

    /// The reply was refused: `lease` failed (a documented code) and no
    /// lease is recorded.
    fn assert_refused(&self, lease: &Output) {
        let recorded = self.recorded();
        assert!(
            !lease.status.success(),
            "lease accepted the reply (exit 0): {}\nrecorded: {recorded:?}\n{}",
            String::from_utf8_lossy(&lease.stdout),
            self.context()
        );
        assert!(
            recorded.is_empty(),
            "a lease was recorded: {recorded:?}\n{}",
            self.context()
        );
    }

    /// Every recorded lease passes `ok`.
    fn assert_recorded(&self, what: &str, ok: impl Fn(&Value) -> bool) {
        for l in self.recorded() {
            assert!(ok(&l), "{what}; recorded: {l}\n{}", self.context());
        }
    }

    /// The one recorded lease (lease must have succeeded).
    fn the_lease(&self, lease: &Output) -> Value {
        assert!(
            lease.status.success(),
            "lease failed ({:?}): {}\n{}",
            lease.status.code(),
            String::from_utf8_lossy(&lease.stderr),
            self.context()
        );
        let recorded = self.recorded();
        assert_eq!(recorded.len(), 1, "{recorded:?}\n{}", self.context());
        recorded[0].clone()
    }
}

// ------------------------------------------------------------------ hlen

#[test]
fn a_reply_with_hlen_255_and_the_right_xid_crashes_neither_lease_nor_probe() {
    let Some(h) = hostile("hlen", "255") else {
        return;
    };
    let _ = h.lease_and_probe();
    h.assert_recorded("a lease for another MAC", |l| l["mac"] == MAC);
}

#[test]
fn a_reply_with_hlen_17_and_the_right_xid_crashes_neither_lease_nor_probe() {
    let Some(h) = hostile("hlen", "17") else {
        return;
    };
    let _ = h.lease_and_probe();
    h.assert_recorded("a lease for another MAC", |l| l["mac"] == MAC);
}

// ---------------------------------------------------------------- yiaddr

fn a_yiaddr_is_refused(yiaddr: &str) {
    let Some(h) = hostile("yiaddr", yiaddr) else {
        return;
    };
    let lease = h.lease_and_probe();
    h.assert_refused(&lease);
}

#[test]
fn an_offer_of_the_limited_broadcast_address_is_refused() {
    a_yiaddr_is_refused("255.255.255.255");
}

#[test]
fn an_offer_of_a_multicast_address_is_refused() {
    a_yiaddr_is_refused("224.0.0.5");
}

#[test]
fn an_offer_of_a_loopback_address_is_refused() {
    a_yiaddr_is_refused("127.0.0.1");
}

#[test]
fn an_offer_of_0_0_0_0_is_refused() {
    a_yiaddr_is_refused("0.0.0.0");
}

#[test]
fn an_offer_of_the_subnets_network_address_is_refused() {
    a_yiaddr_is_refused("10.77.0.0");
}

#[test]
fn an_offer_of_the_subnets_broadcast_address_is_refused() {
    a_yiaddr_is_refused("10.77.0.255");
}

#[test]
fn an_offer_of_the_servers_own_address_is_refused() {
    a_yiaddr_is_refused("10.77.0.1");
}

#[test]
fn an_offer_of_the_gateways_own_address_is_refused() {
    let Some(h) = hostile("yiaddr-is-gateway", "") else {
        return;
    };
    let lease = h.lease_and_probe();
    h.assert_refused(&lease);
}

// ------------------------------------------------------------ subnet mask

fn a_mask_is_not_recorded(mask: &str) {
    let Some(h) = hostile("mask", mask) else {
        return;
    };
    let _ = h.lease_and_probe();
    h.assert_recorded(
        &format!("mask {mask} recorded as /0 or a guessed /8"),
        |l| !matches!(l["prefix_len"].as_u64(), Some(0) | Some(8)),
    );
}

#[test]
fn a_subnet_mask_of_0_0_0_0_is_not_recorded_as_a_slash_0() {
    a_mask_is_not_recorded("0.0.0.0");
}

#[test]
fn a_non_contiguous_subnet_mask_is_not_recorded_as_a_guessed_slash_8() {
    a_mask_is_not_recorded("255.0.255.0");
}

// ----------------------------------------------------------------- router

fn a_router_is_dropped(router: &str) {
    let Some(h) = hostile("router", router) else {
        return;
    };
    let lease = h.lease_and_probe();
    let recorded = h.recorded();
    for l in &recorded {
        assert!(
            l["gateway"].is_null(),
            "the router {router} was recorded as the gateway: {l}\n{}",
            h.context()
        );
    }
    if !recorded.is_empty() {
        assert!(
            !lease.stderr.is_empty(),
            "router {router} dropped without a warning\n{}",
            h.context()
        );
    }
}

#[test]
fn a_router_outside_the_subnet_is_dropped_with_a_warning() {
    a_router_is_dropped("192.168.9.1");
}

#[test]
fn a_router_equal_to_our_own_address_is_dropped_with_a_warning() {
    a_router_is_dropped(OFFERED);
}

// -------------------------------------------------------------- server id

#[test]
fn a_server_id_of_255_255_255_255_is_refused() {
    let Some(h) = hostile("server-id", "255.255.255.255") else {
        return;
    };
    let lease = h.lease_and_probe();
    h.assert_refused(&lease);
}

// -------------------------------------------------------------------- MTU

#[test]
fn an_mtu_of_1_is_dropped_with_a_warning() {
    let Some(h) = hostile("mtu", "1") else {
        return;
    };
    let lease = h.lease_and_probe();
    let recorded = h.recorded();
    for l in &recorded {
        assert!(
            l["mtu"].is_null(),
            "MTU 1 was recorded: {l}\n{}",
            h.context()
        );
    }
    if !recorded.is_empty() {
        assert!(
            !lease.stderr.is_empty(),
            "MTU 1 dropped without a warning\n{}",
            h.context()
        );
    }
}

// ------------------------------------- one bad option does not drop the rest

fn a_bad_option_leaves_the_lease_time(code: &str) {
    let Some(h) = hostile("bad-option", code) else {
        return;
    };
    let lease = h.lease_and_probe();
    let l = h.the_lease(&lease);
    assert_eq!(
        l["lease_time"],
        600,
        "option {code} before 51/54/58/59 lost the lease time: {l}\n{}",
        h.context()
    );
    assert_eq!(l["ip"], OFFERED, "{l}");
    assert_eq!(l["server_id"], "10.77.0.1", "{l}");
    assert!(!l["expires_at"].is_null(), "{l}");
}

#[test]
fn a_non_utf8_hostname_before_the_lease_time_does_not_make_the_lease_infinite() {
    a_bad_option_leaves_the_lease_time("12");
}

#[test]
fn a_non_utf8_domain_before_the_lease_time_does_not_make_the_lease_infinite() {
    a_bad_option_leaves_the_lease_time("15");
}

#[test]
fn a_non_utf8_message_before_the_lease_time_does_not_make_the_lease_infinite() {
    a_bad_option_leaves_the_lease_time("56");
}

#[test]
fn a_truncated_option_121_before_the_lease_time_does_not_make_the_lease_infinite() {
    a_bad_option_leaves_the_lease_time("121");
}

// ------------------------------------------------------------- option 51

fn never_infinite(case: &str) {
    let Some(h) = hostile(case, "") else {
        return;
    };
    let _ = h.lease_and_probe();
    h.assert_recorded(&format!("{case}: recorded as an infinite lease"), |l| {
        l["lease_time"]
            .as_u64()
            .is_some_and(|t| t < u32::MAX as u64)
            && !l["expires_at"].is_null()
    });
}

#[test]
fn an_ack_without_option_51_is_never_recorded_as_infinite() {
    never_infinite("lease-missing");
}

#[test]
fn an_ack_with_a_3_byte_option_51_is_never_recorded_as_infinite() {
    never_infinite("lease-len3");
}

#[test]
fn an_ack_with_two_different_option_51s_is_never_recorded_as_infinite() {
    never_infinite("lease-dup");
}

// ------------------------------------------------------ option overload

#[test]
fn options_overloaded_into_the_file_field_are_read() {
    let Some(h) = hostile("overload-file", "") else {
        return;
    };
    let lease = h.lease_and_probe();
    let l = h.the_lease(&lease);
    assert_eq!(l["lease_time"], 600, "{l}\n{}", h.context());
    assert_eq!(l["prefix_len"], 24, "{l}");
    assert_eq!(l["subnet"], "10.77.0.0/24", "{l}");
    assert_eq!(l["gateway"], "10.77.0.1", "{l}");
    assert_eq!(l["dns"], serde_json::json!(["10.77.0.2"]), "{l}");
}

#[test]
fn overloaded_fields_full_of_overrunning_lengths_crash_nothing() {
    let Some(h) = hostile("overload-garbage", "") else {
        return;
    };
    let _ = h.lease_and_probe();
    h.assert_recorded("an infinite lease", |l| !l["lease_time"].is_null());
}

// ------------------------------------------------------- server strings

/// A name a resolver would accept: labels of letters, digits and hyphens.
fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// No control character reached this output raw (a newline is fine only
/// between lines, never inside a server's string).
fn assert_clean(h: &Hostile, what: &str, out: &Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let bad = bytes
            .iter()
            .position(|&b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f);
        let text = String::from_utf8_lossy(bytes);
        assert!(
            bad.is_none(),
            "{what} {stream} has a raw control character {:#04x} at {}: {text:?}\n{}",
            bad.map(|i| bytes[i]).unwrap_or(0),
            bad.unwrap_or(0),
            h.context()
        );
        for split in ["\n.com", "\nname", "\nthere"] {
            assert!(
                !text.contains(split),
                "{what} {stream}: a server's string carried a newline: {text:?}\n{}",
                h.context()
            );
        }
    }
}

#[test]
fn control_characters_in_server_strings_reach_neither_the_terminal_nor_the_records() {
    let Some(h) = hostile("evil-strings", "") else {
        return;
    };
    for format in ["table", "json"] {
        let out = h.probe(format);
        h.sane(&out, "probe");
        assert_clean(&h, &format!("probe -o {format}"), &out);
    }
    let out = h.lease("table");
    h.sane(&out, "lease");
    assert_clean(&h, "lease -o table", &out);
    h.assert_answered("OFFER");
    for format in ["table", "json"] {
        let out = h.run(&["leases", "-o", format]);
        h.sane(&out, "leases");
        assert_clean(&h, &format!("leases -o {format}"), &out);
    }
    h.assert_recorded("a domain that is not a valid name", |l| {
        l["domain"].as_str().is_none_or(valid_domain)
    });
    // The same again with JSON output, as a script would read it.
    let _ = h.run(&["release", "--interface", IFACE, "--all"]);
    let out = h.lease("json");
    h.sane(&out, "lease");
    assert_clean(&h, "lease -o json", &out);
    if out.status.success() {
        let v: Value = serde_json::from_slice(&out.stdout).expect("lease JSON");
        assert!(
            v["domain"].as_str().is_none_or(valid_domain),
            "lease -o json: domain {}\n{}",
            v["domain"],
            h.context()
        );
    }
}

#[test]
fn a_domain_option_holding_a_list_is_not_recorded_as_one_name() {
    let Some(h) = hostile("domain", "a.example b.example") else {
        return;
    };
    let out = h.lease_and_probe();
    assert_clean(&h, "lease", &out);
    h.assert_recorded("a domain that is not a valid name", |l| {
        l["domain"].as_str().is_none_or(valid_domain)
            && l["search"]
                .as_array()
                .is_none_or(|s| s.iter().all(|d| d.as_str().is_some_and(valid_domain)))
    });
}

// ---------------------------------------------------- malformed framing

#[test]
fn options_truncated_in_the_middle_of_a_value_crash_nothing() {
    let Some(h) = hostile("truncated-options", "") else {
        return;
    };
    let _ = h.lease_and_probe();
    h.assert_recorded("an infinite lease", |l| !l["lease_time"].is_null());
}

#[test]
fn options_ending_without_a_length_byte_crash_nothing() {
    let Some(h) = hostile("truncated-length", "") else {
        return;
    };
    let _ = h.lease_and_probe();
    h.assert_recorded("an infinite lease", |l| !l["lease_time"].is_null());
}

#[test]
fn options_without_an_end_option_crash_nothing() {
    let Some(h) = hostile("no-end", "") else {
        return;
    };
    let _ = h.lease_and_probe();
    h.assert_recorded("an infinite lease", |l| !l["lease_time"].is_null());
}

#[test]
fn three_hundred_unknown_options_before_the_real_ones_leave_the_lease_intact() {
    let Some(h) = hostile("many-options", "") else {
        return;
    };
    let lease = h.lease_and_probe();
    let l = h.the_lease(&lease);
    assert_eq!(l["ip"], OFFERED, "{l}");
    assert_eq!(l["lease_time"], 600, "{l}\n{}", h.context());
    assert_eq!(l["gateway"], "10.77.0.1", "{l}");
}

#[test]
fn a_1500_byte_reply_that_is_almost_all_pad_is_read() {
    let Some(h) = hostile("pad-1500", "") else {
        return;
    };
    let lease = h.lease_and_probe();
    let l = h.the_lease(&lease);
    assert_eq!(l["ip"], OFFERED, "{l}");
    assert_eq!(l["lease_time"], 600, "{l}\n{}", h.context());
}

// --------------------------------------------------------------- renewal

/// Lease from the responder (its OFFER and ACK are sane in these cases),
/// then renew; returns the renew output.
fn lease_then_renew(h: &Hostile) -> Output {
    let lease = h.lease("json");
    h.sane(&lease, "lease");
    let l = h.the_lease(&lease);
    assert_eq!(l["ip"], OFFERED, "{l}");
    let renew = h.run(&["renew", "--mac", MAC, "--timeout", TIMEOUT, "-o", "json"]);
    h.sane(&renew, "renew");
    renew
}

#[test]
fn a_nak_from_another_server_during_renew_leaves_the_lease_bound() {
    let Some(h) = hostile("renew-foreign-nak", "") else {
        return;
    };
    let renew = lease_then_renew(&h);
    h.assert_answered("NAK");
    let recorded = h.recorded();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let l = &recorded[0];
    assert_eq!(
        l["status"],
        "bound",
        "a NAK from 10.77.0.9 ended a lease of 10.77.0.1: {l}\nrenew: {}{}\n{}",
        String::from_utf8_lossy(&renew.stdout),
        String::from_utf8_lossy(&renew.stderr),
        h.context()
    );
    assert_eq!(l["ip"], OFFERED, "{l}");
    assert_eq!(l["server_id"], "10.77.0.1", "{l}");
}

#[test]
fn an_ack_to_a_renewal_that_moves_the_lease_to_1_1_1_1_is_not_recorded() {
    let Some(h) = hostile("renew-ack-other-ip", "1.1.1.1") else {
        return;
    };
    let renew = lease_then_renew(&h);
    h.assert_answered("ACK");
    h.assert_recorded(
        &format!(
            "the renewal moved the lease out of the subnet (renew: {}{})",
            String::from_utf8_lossy(&renew.stdout),
            String::from_utf8_lossy(&renew.stderr)
        ),
        |l| l["ip"] == OFFERED,
    );
}

// ---------------------------------------------------------------- control

#[test]
fn a_well_behaved_reply_from_the_responder_is_leased_as_sent() {
    let Some(h) = hostile("good", "") else {
        return;
    };
    let lease = h.lease_and_probe();
    let l = h.the_lease(&lease);
    assert_eq!(l["ip"], OFFERED, "{l}");
    assert_eq!(l["prefix_len"], 24, "{l}");
    assert_eq!(l["gateway"], "10.77.0.1", "{l}");
    assert_eq!(l["dns"], serde_json::json!(["10.77.0.2"]), "{l}");
    assert_eq!(l["domain"], "lab.test", "{l}");
    assert_eq!(l["server_id"], "10.77.0.1", "{l}");
    assert_eq!(l["lease_time"], 600, "{l}");
    assert_eq!(l["renewal_time"], 300, "{l}");
    assert_eq!(l["rebinding_time"], 525, "{l}");
    h.assert_answered("ACK");
}

// ------------------------------------ the same defects in answer to a renewal

/// The record of `MAC` after `renew`: still the first lease, bound.
fn still_the_first_lease(h: &Hostile, renew: &Output) {
    let recorded = h.recorded();
    assert_eq!(recorded.len(), 1, "{recorded:?}\n{}", h.context());
    let l = &recorded[0];
    let why = format!(
        "{l}\nrenew: {}{}\n{}",
        String::from_utf8_lossy(&renew.stdout),
        String::from_utf8_lossy(&renew.stderr),
        h.context()
    );
    assert_eq!(l["ip"], OFFERED, "{why}");
    assert_eq!(l["status"], "bound", "{why}");
    assert!(
        l["lease_time"]
            .as_u64()
            .is_some_and(|t| t < u32::MAX as u64),
        "{why}"
    );
}

#[test]
fn an_ack_with_hlen_255_to_a_renewal_crashes_nothing_and_keeps_the_lease() {
    let Some(h) = hostile_with("hlen", "255", &["--phase", "renew"]) else {
        return;
    };
    let renew = lease_then_renew(&h);
    h.assert_answered("ACK");
    still_the_first_lease(&h, &renew);
}

#[test]
fn an_ack_to_a_renewal_of_the_limited_broadcast_address_is_not_recorded() {
    let Some(h) = hostile_with("yiaddr", "255.255.255.255", &["--phase", "renew"]) else {
        return;
    };
    let renew = lease_then_renew(&h);
    still_the_first_lease(&h, &renew);
}

#[test]
fn an_ack_to_a_renewal_without_option_51_is_never_recorded_as_infinite() {
    let Some(h) = hostile_with("lease-missing", "", &["--phase", "renew"]) else {
        return;
    };
    let renew = lease_then_renew(&h);
    h.assert_recorded("renewed as an infinite lease", |l| {
        l["lease_time"]
            .as_u64()
            .is_some_and(|t| t < u32::MAX as u64)
            && !l["expires_at"].is_null()
    });
    let _ = renew;
}

// ---------------------------------------------------------------- daemon

/// kea's latest expiry (epoch seconds) for `mac` in its memfile.
fn kea_expiry(lab: &Lab, mac: &str) -> Option<i64> {
    std::fs::read_to_string(lab.kea_lease_file())
        .ok()?
        .lines()
        .filter(|l| l.split(',').nth(1) == Some(mac))
        .filter_map(|l| l.split(',').nth(4)?.parse::<i64>().ok())
        .max()
}

#[test]
fn the_daemon_keeps_renewing_real_leases_while_a_rogue_sprays_naks_and_bad_acks() {
    let Some(mut lab) = Lab::new(&["kea-dhcp4", "python3"]) else {
        return;
    };
    lab.start_kea(20);
    let macs = [
        "02:42:0a:4d:08:11",
        "02:42:0a:4d:08:12",
        "02:42:0a:4d:08:13",
    ];
    let mut ips = Vec::new();
    for mac in macs {
        let v =
            common::ok(&lab.dhcpnet(&["lease", "--interface", IFACE, "--mac", mac, "-o", "json"]));
        assert_eq!(v["lease_time"], 20, "{v}");
        ips.push(v["ip"].as_str().expect("ip").to_string());
    }
    // The rogue reads every renewal off the wire (kea holds UDP 67) and
    // answers it at once: NAK from 10.77.0.9, ACK of 1.1.1.1 for ever, ACK
    // with hlen 255.
    let log = start_responder(&mut lab, "spray", "", &["--sniff"]);
    let h = Hostile {
        lab,
        case: "spray --sniff (beside kea, 20 s leases)".into(),
        log,
    };
    h.wait_listening();
    let e0: Vec<i64> = macs
        .iter()
        .map(|m| kea_expiry(&h.lab, m).expect("kea recorded the lease"))
        .collect();

    let daemon_log = h.lab.dir.path().join("daemon.log");
    let mut daemon = Command::new("ip")
        .args(["netns", "exec", &h.lab.cli, env!("CARGO_BIN_EXE_dhcpnet")])
        .arg("--state-dir")
        .arg(h.lab.state_dir())
        .args(["-vv", "daemon", "--no-plugin", "--no-docker"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(&daemon_log).expect("daemon log"),
        ))
        .spawn()
        .expect("start dhcpnet daemon");
    let daemon_text = || {
        let t = std::fs::read_to_string(&daemon_log).unwrap_or_default();
        let n = t.len().saturating_sub(6000);
        t[t.ceil_char_boundary(n)..].to_string()
    };

    // T1 is 10 s: within 35 s every lease is renewed at least twice, each
    // renewal met by the rogue's spray.
    let renewed_twice = common::wait_for(std::time::Duration::from_secs(35), || {
        if daemon.try_wait().ok().flatten().is_some() {
            return Some(false);
        }
        let e: Vec<i64> = macs
            .iter()
            .map(|m| kea_expiry(&h.lab, m).unwrap_or(0))
            .collect();
        e.iter()
            .zip(&e0)
            .all(|(e, e0)| *e >= e0 + 15)
            .then_some(true)
    });
    let status = daemon.try_wait().ok().flatten();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let log = daemon_text();
    assert!(
        !log.contains("panicked"),
        "the daemon panicked:\n{log}\n{}",
        h.context()
    );
    assert!(
        status.is_none(),
        "the daemon ended ({status:?}):\n{log}\n{}",
        h.context()
    );
    assert!(
        h.responder_log().contains("sent NAK"),
        "the rogue never answered a renewal:\n{}",
        h.context()
    );
    assert_eq!(
        renewed_twice,
        Some(true),
        "kea did not see every lease renewed twice:\n{log}\n{}",
        h.context()
    );
    let recorded = h.recorded();
    assert_eq!(recorded.len(), macs.len(), "{recorded:?}");
    for (mac, ip) in macs.iter().zip(&ips) {
        let l = recorded
            .iter()
            .find(|l| l["mac"] == *mac)
            .unwrap_or_else(|| panic!("no record for {mac}: {recorded:?}"));
        let why = format!("{l}\n{log}\n{}", h.context());
        assert_eq!(l["ip"], ip.as_str(), "{why}");
        assert_eq!(l["status"], "bound", "{why}");
        assert_eq!(l["server_id"], "10.77.0.1", "{why}");
        assert_eq!(l["lease_time"], 20, "{why}");
        assert!(l["seconds_left"].as_i64().unwrap_or(0) > 0, "{why}");
    }
}
