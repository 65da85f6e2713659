//! CNI error objects: what a failed call prints on stdout (SPEC.md §5
//! "Error": `{"cniVersion", "code", "msg", "details"}`), with the spec's
//! well-known codes and dhcpnet's own.
//!
//! The object goes to stdout, not stderr: libcni reads stdout and falls
//! back to stderr only when stdout is empty (cni pkg/invoke/raw_exec.go
//! pluginErr; Podman's libnetwork/cni/cni_exec.go does the same). Main
//! plugins pass an IPAM plugin's error object on unchanged (skel does not
//! wrap a `*types.Error`), so `msg` starts with "dhcpnet: " to say whose
//! it is, and `details` says what to do.
//!
//! dhcpnet's own codes are 100 + its exit code (README's table): 103 an
//! interface, 105 the server refused, 106 no such lease, 107 the state
//! directory, 108 a privilege, 109 the kernel, 112 a conflict, 101 anything
//! else. No answer from a DHCP server is the spec's 11 (try again later).

use std::fmt;

use serde::Serialize;

use crate::error::{Error, ExitCode};

/// An error code: the spec's well-known ones (0-99) and dhcpnet's (100+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 1: the config's `cniVersion` is one dhcpnet does not speak, or the
    /// command does not exist in it.
    IncompatibleVersion,
    /// 2: a field dhcpnet does not support; the message names key and value.
    UnsupportedField,
    /// 3: the container (its network namespace) does not exist; the
    /// runtime needs no cleanup.
    UnknownContainer,
    /// 4: a CNI_* variable is missing or invalid; the message names it.
    InvalidEnv,
    /// 5: reading stdin failed.
    Io,
    /// 6: stdin is not the JSON object a network config is.
    Decode,
    /// 7: the network config is invalid.
    InvalidConfig,
    /// 11: a transient condition; the runtime may try again later.
    TryAgainLater,
    /// 50 (STATUS): dhcpnet cannot serve ADD.
    NotAvailable,
    /// 51 (STATUS): dhcpnet cannot serve ADD and existing attachments may
    /// lose connectivity (their leases are not being renewed).
    LimitedConnectivity,
    /// 100 + a dhcpnet exit code.
    Dhcpnet(ExitCode),
}

impl Code {
    pub fn number(self) -> u32 {
        match self {
            Code::IncompatibleVersion => 1,
            Code::UnsupportedField => 2,
            Code::UnknownContainer => 3,
            Code::InvalidEnv => 4,
            Code::Io => 5,
            Code::Decode => 6,
            Code::InvalidConfig => 7,
            Code::TryAgainLater => 11,
            Code::NotAvailable => 50,
            Code::LimitedConnectivity => 51,
            Code::Dhcpnet(e) => 100 + e as u32,
        }
    }
}

/// A failed call: code, a short message, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    pub code: Code,
    pub msg: String,
    pub details: String,
}

/// The object as it is printed.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "cniVersion")]
    cni_version: &'a str,
    code: u32,
    msg: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    details: &'a str,
}

impl CniError {
    /// An error whose message is `msg` (after "dhcpnet: ") and whose
    /// details are `details`.
    pub fn new(code: Code, msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: format!("dhcpnet: {}", msg.into()),
            details: details.into(),
        }
    }

    /// The error object in version `cni_version` (the config's, when it
    /// named one dhcpnet speaks), as one line of JSON.
    pub fn to_json(&self, cni_version: &str) -> String {
        let w = Wire {
            cni_version,
            code: self.code.number(),
            msg: &self.msg,
            details: &self.details,
        };
        // A struct of strings and a number always serialises.
        serde_json::to_string(&w).unwrap_or_default()
    }

    /// The network namespace `CNI_NETNS` names does not exist (code 3: the
    /// container is gone, nothing to clean up).
    pub fn netns_missing(netns: &str, why: &str) -> CniError {
        CniError::new(
            Code::UnknownContainer,
            format!("the container's network namespace {netns} cannot be opened: {why}"),
            "the container is gone or CNI_NETNS is wrong; nothing was leased",
        )
    }

    /// `CNI_IFNAME` is not in the container's namespace: the main plugin
    /// should have made it before calling its IPAM plugin.
    pub fn interface_missing(ifname: &str, netns: &str) -> CniError {
        CniError::new(
            Code::Dhcpnet(ExitCode::Interface),
            format!("there is no interface {ifname} in {netns}"),
            "dhcpnet is an IPAM plugin: the main plugin (macvlan, ipvlan, bridge) makes the \
             interface and then calls dhcpnet; check that \"ipam\" sits inside that plugin's config",
        )
    }

    /// No DHCP server answered within the config's timeout.
    pub fn no_offer(
        ifname: &str,
        mac: &str,
        secs: f64,
        netns: &str,
        parent: Option<&str>,
    ) -> CniError {
        let parent = parent.map(|p| format!(" (parent {p})")).unwrap_or_default();
        CniError::new(
            Code::TryAgainLater,
            format!("no DHCP offer for {ifname} ({mac}) in {secs} s"),
            format!(
                "nothing answered the DISCOVERs sent on {ifname} in {netns}{parent}; check that a DHCP \
                 server serves this segment (`dhcpnet probe PARENT` on the host), or raise ipam.timeout"
            ),
        )
    }

    /// The daemon that renews leases does not run, and the config wants it
    /// (`requireDaemon`, the default): a lease nothing renews is an outage
    /// at its expiry, so ADD refuses rather than succeed towards it.
    pub fn daemon_not_running(state_dir: &str) -> CniError {
        CniError::new(
            Code::TryAgainLater,
            format!(
                "the dhcpnet daemon is not running for {state_dir}: nothing would renew this lease"
            ),
            format!(
                "start it (`systemctl enable --now dhcpnet`, or `dhcpnet --state-dir {state_dir} daemon`), \
                 or set \"requireDaemon\": false in ipam to lease without renewals"
            ),
        )
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.details.is_empty() {
            f.write_str(&self.msg)
        } else {
            write!(f, "{}; {}", self.msg, self.details)
        }
    }
}

/// A failure of dhcpnet's other layers as a CNI error: no answer is 11, a
/// missing interface or network namespace keeps dhcpnet's meaning as
/// 100 + exit code, and so on.
impl From<&Error> for CniError {
    fn from(e: &Error) -> CniError {
        let code = match e.exit_code() {
            ExitCode::NoAnswer => Code::TryAgainLater,
            other => Code::Dhcpnet(other),
        };
        CniError::new(code, e.to_string(), "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_well_known_code_has_the_spec_s_number() {
        let table = [
            (Code::IncompatibleVersion, 1),
            (Code::UnsupportedField, 2),
            (Code::UnknownContainer, 3),
            (Code::InvalidEnv, 4),
            (Code::Io, 5),
            (Code::Decode, 6),
            (Code::InvalidConfig, 7),
            (Code::TryAgainLater, 11),
            (Code::NotAvailable, 50),
            (Code::LimitedConnectivity, 51),
            (Code::Dhcpnet(ExitCode::Failure), 101),
            (Code::Dhcpnet(ExitCode::Interface), 103),
            (Code::Dhcpnet(ExitCode::NotFound), 106),
            (Code::Dhcpnet(ExitCode::Conflict), 112),
        ];
        for (c, n) in table {
            assert_eq!(c.number(), n, "{c:?}");
        }
    }

    #[test]
    fn an_error_prints_as_the_spec_s_object_and_leaves_out_empty_details() {
        let e = CniError::new(Code::InvalidConfig, "bad", "fix it");
        assert_eq!(
            e.to_json("1.0.0"),
            r#"{"cniVersion":"1.0.0","code":7,"msg":"dhcpnet: bad","details":"fix it"}"#
        );
        let e = CniError::new(Code::Io, "short \"read\"", "");
        assert_eq!(
            e.to_json("0.4.0"),
            r#"{"cniVersion":"0.4.0","code":5,"msg":"dhcpnet: short \"read\""}"#
        );
        assert_eq!(e.to_string(), "dhcpnet: short \"read\"");
    }

    #[test]
    fn the_errors_of_the_integration_are_golden() {
        assert_eq!(
            CniError::no_offer(
                "eth0",
                "02:42:c0:a8:4d:39",
                30.0,
                "/run/netns/ctr1",
                Some("dnlab0")
            )
            .to_json("1.0.0"),
            r#"{"cniVersion":"1.0.0","code":11,"msg":"dhcpnet: no DHCP offer for eth0 (02:42:c0:a8:4d:39) in 30 s","details":"nothing answered the DISCOVERs sent on eth0 in /run/netns/ctr1 (parent dnlab0); check that a DHCP server serves this segment (`dhcpnet probe PARENT` on the host), or raise ipam.timeout"}"#
        );
        assert_eq!(
            CniError::netns_missing("/run/netns/x", "No such file or directory").to_json("1.0.0"),
            r#"{"cniVersion":"1.0.0","code":3,"msg":"dhcpnet: the container's network namespace /run/netns/x cannot be opened: No such file or directory","details":"the container is gone or CNI_NETNS is wrong; nothing was leased"}"#
        );
        assert_eq!(
            CniError::interface_missing("eth0", "/run/netns/x").to_json("1.1.0"),
            r#"{"cniVersion":"1.1.0","code":103,"msg":"dhcpnet: there is no interface eth0 in /run/netns/x","details":"dhcpnet is an IPAM plugin: the main plugin (macvlan, ipvlan, bridge) makes the interface and then calls dhcpnet; check that \"ipam\" sits inside that plugin's config"}"#
        );
        assert_eq!(
            CniError::daemon_not_running("/var/lib/dhcpnet").to_json("0.4.0"),
            r#"{"cniVersion":"0.4.0","code":11,"msg":"dhcpnet: the dhcpnet daemon is not running for /var/lib/dhcpnet: nothing would renew this lease","details":"start it (`systemctl enable --now dhcpnet`, or `dhcpnet --state-dir /var/lib/dhcpnet daemon`), or set \"requireDaemon\": false in ipam to lease without renewals"}"#
        );
    }

    #[test]
    fn dhcpnet_s_own_errors_keep_their_meaning_as_100_plus_the_exit_code_and_no_answer_is_try_again()
     {
        let e = CniError::from(&Error::NoAnswer("no answer on eth0".into()));
        assert_eq!(e.code.number(), 11);
        assert_eq!(e.msg, "dhcpnet: no answer on eth0");
        assert_eq!(
            CniError::from(&Error::Refused("NAK".into())).code.number(),
            105
        );
        assert_eq!(
            CniError::from(&Error::state("/x", "locked")).code.number(),
            107
        );
        assert_eq!(
            CniError::from(&Error::Permission("CAP_NET_RAW".into()))
                .code
                .number(),
            108
        );
        assert_eq!(CniError::from(&Error::Other("?".into())).code.number(), 101);
    }
}
