//! The CNI spec versions dhcpnet speaks, and the VERSION answer.
//!
//! A network config names one version (`cniVersion`) and the plugin must
//! answer in that version (SPEC.md §5 "ADD Success": "The same version
//! supplied on input"). What cannot be rendered is refused (code 1) rather
//! than answered in another version: libcni parses a result by the
//! result's own `cniVersion`, and the libcni Debian 12's plugins are built
//! with (1.1.2) knows results up to 1.0.0 only (pkg/types/100
//! ImplementedSpecVersion), so answering a 1.0.0 config in 1.1.0 would
//! break them.
//!
//! 0.1.0 and 0.2.0 (`ip4`/`ip6` results) are not spoken: no runtime that
//! can load an IPAM plugin of today sends them.

use std::fmt;

use serde::Serialize;

/// A spec version dhcpnet can read a config of and render a result in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V0_3_0,
    V0_3_1,
    V0_4_0,
    V1_0_0,
    V1_1_0,
}

/// Every version, oldest first: the VERSION answer's `supportedVersions`.
pub const SUPPORTED: [Version; 5] = [
    Version::V0_3_0,
    Version::V0_3_1,
    Version::V0_4_0,
    Version::V1_0_0,
    Version::V1_1_0,
];

/// The newest version: what an error is rendered in when the input named
/// none dhcpnet speaks.
pub const NEWEST: Version = Version::V1_1_0;

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_3_0 => "0.3.0",
            Version::V0_3_1 => "0.3.1",
            Version::V0_4_0 => "0.4.0",
            Version::V1_0_0 => "1.0.0",
            Version::V1_1_0 => "1.1.0",
        }
    }

    /// The version `s` names exactly (libcni's reconciler compares the
    /// strings too: "1.0" is not "1.0.0").
    pub fn parse(s: &str) -> Option<Version> {
        SUPPORTED.into_iter().find(|v| v.as_str() == s)
    }

    /// Results before 1.0.0 carry `"version": "4"` in each `ips` entry
    /// (cni pkg/types/040 IPConfig).
    pub fn ips_carry_ip_version(self) -> bool {
        self < Version::V1_0_0
    }

    /// CHECK exists from 0.4.0 on (cni pkg/skel refuses it below).
    pub fn has_check(self) -> bool {
        self >= Version::V0_4_0
    }

    /// GC and STATUS exist from 1.1.0 on (cni pkg/skel refuses them below).
    pub fn has_gc_and_status(self) -> bool {
        self >= Version::V1_1_0
    }

    /// Routes carry `mtu`, `advmss`, `priority`, `table` and `scope` from
    /// 1.1.0 on (cni pkg/types Route).
    pub fn routes_have_scope(self) -> bool {
        self >= Version::V1_1_0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The supported versions as the list an error's details name.
pub fn supported_list() -> String {
    SUPPORTED.map(Version::as_str).join(", ")
}

/// Whether `s` looks like a version number (digits and dots, short): what
/// the VERSION answer may echo. Anything else is answered with `NEWEST`.
fn echoable(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 16
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !s.starts_with('.')
}

/// The answer to VERSION (SPEC.md §5 "VERSION Success"): the input's
/// `cniVersion` echoed, whatever it is, and every version dhcpnet speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionAnswer {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    #[serde(rename = "supportedVersions")]
    pub supported_versions: Vec<&'static str>,
}

impl VersionAnswer {
    /// The answer to a VERSION whose stdin named `asked` (None: no stdin,
    /// not JSON, or no `cniVersion`; cni's skel does not read stdin for
    /// VERSION at all, so nothing there is an error).
    pub fn new(asked: Option<&str>) -> VersionAnswer {
        let cni_version = match asked {
            Some(s) if echoable(s) => s.to_string(),
            _ => NEWEST.as_str().to_string(),
        };
        VersionAnswer {
            cni_version,
            supported_versions: SUPPORTED.map(Version::as_str).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_version_parses_back_and_near_misses_do_not() {
        for v in SUPPORTED {
            assert_eq!(Version::parse(v.as_str()), Some(v));
        }
        for s in [
            "", "1.0", "1", "0.2.0", "0.1.0", "1.1.1", "2.0.0", " 1.0.0", "v1.0.0",
        ] {
            assert_eq!(Version::parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn versions_order_by_age_and_say_what_each_has() {
        assert!(Version::V0_3_1 < Version::V0_4_0 && Version::V1_0_0 < Version::V1_1_0);
        assert!(Version::V0_4_0.ips_carry_ip_version() && !Version::V1_0_0.ips_carry_ip_version());
        assert!(!Version::V0_3_1.has_check() && Version::V0_4_0.has_check());
        assert!(!Version::V1_0_0.has_gc_and_status() && Version::V1_1_0.has_gc_and_status());
        assert!(!Version::V1_0_0.routes_have_scope() && Version::V1_1_0.routes_have_scope());
    }

    #[test]
    fn the_version_answer_echoes_what_was_asked_and_lists_every_version() {
        let a = VersionAnswer::new(Some("1.0.0"));
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"#
        );
        // An unknown version is still echoed: the spec says "the value of
        // cniVersion specified on input", and the list tells the runtime.
        assert_eq!(VersionAnswer::new(Some("9.9.9")).cni_version, "9.9.9");
        assert_eq!(VersionAnswer::new(None).cni_version, "1.1.0");
        assert_eq!(VersionAnswer::new(Some("\"}{")).cni_version, "1.1.0");
        assert_eq!(
            VersionAnswer::new(Some(&"1".repeat(40))).cni_version,
            "1.1.0"
        );
    }
}
