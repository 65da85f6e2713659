//! What CHECK, STATUS and GC conclude from the facts the caller gathered
//! (records, the daemon's lock, the addresses on the interface): the
//! spec's semantics for an IPAM plugin (SPEC.md §2), pure.
//!
//! - CHECK "must consult the prevResult", fails when "IP reservations" or
//!   "external dependencies such as a daemon required for connectivity"
//!   are missing, and may be taken as permanent: so it fails only on what
//!   is wrong now and sends no DHCP traffic (the reference plugin's CHECK
//!   leases again; dhcpnet's does not).
//! - STATUS: 0 when ADD can be served; else 50, or 51 when attachments
//!   exist whose leases nothing renews.
//! - GC: the attachments of this network not in the runtime's list are
//!   stale; GC releases each, goes on past failures and reports them
//!   together.
//! - DEL needs no verdict: it succeeds when nothing is recorded, when the
//!   RELEASE fails (a DHCP lease ends anyway, SPEC.md §2), and when run
//!   twice.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use ipnet::Ipv4Net;

use super::Check;
use super::attachment::{AttachmentId, CniAttachment};
use super::error::{CniError, Code};
use crate::error::ExitCode;
use crate::lease::{Lease, Status};

/// What CHECK needs of the attachment's lease record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseFacts {
    pub address: Ipv4Net,
    pub status: Status,
    /// None for an infinite lease.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&Lease> for LeaseFacts {
    fn from(l: &Lease) -> LeaseFacts {
        LeaseFacts {
            address: Ipv4Net::new(l.ip, l.prefix_len).unwrap_or_else(|_| Ipv4Net::from(l.ip)),
            status: l.status,
            expires_at: l.expires_at,
        }
    }
}

fn name(id: &AttachmentId) -> String {
    format!("{}/{}/{}", id.network, id.container_id, id.ifname)
}

fn list(a: &[Ipv4Net]) -> String {
    if a.is_empty() {
        return "no IPv4 address".into();
    }
    a.iter()
        .map(Ipv4Net::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// CHECK of `c`: its lease record (None: no record), whether the daemon
/// runs, and the IPv4 addresses on CNI_IFNAME in CNI_NETNS (None: no such
/// interface).
pub fn check(
    c: &Check,
    lease: Option<&LeaseFacts>,
    daemon_running: bool,
    on_interface: Option<&[Ipv4Net]>,
    state_dir: &str,
    now: DateTime<Utc>,
) -> Result<(), CniError> {
    let who = name(&c.id);
    let restart = "the runtime should DEL and ADD the container (restart it)";
    let Some(l) = lease else {
        return Err(CniError::new(
            Code::Dhcpnet(ExitCode::NotFound),
            format!("no lease is recorded for the attachment {who} in {state_dir}"),
            format!("it was released, or ADD used another ipam.stateDir; {restart}"),
        ));
    };
    let ip = l.address.addr();
    match l.status {
        Status::Lost => {
            return Err(CniError::new(
                Code::Dhcpnet(ExitCode::Refused),
                format!(
                    "the DHCP server refused to renew {ip} for {who} (DHCPNAK): the address is lost"
                ),
                restart,
            ));
        }
        Status::Requesting | Status::Releasing => {
            return Err(CniError::new(
                Code::TryAgainLater,
                format!(
                    "the lease of {ip} for {who} is being {}",
                    if l.status == Status::Requesting {
                        "requested"
                    } else {
                        "released"
                    }
                ),
                "try again in a moment",
            ));
        }
        _ => {}
    }
    if let Some(t) = l.expires_at.filter(|t| *t <= now) {
        return Err(CniError::new(
            Code::Dhcpnet(ExitCode::NoAnswer),
            format!(
                "the lease of {ip} for {who} expired at {}: nothing renewed it",
                t.to_rfc3339()
            ),
            format!("see the daemon's log and `dhcpnet leases`; {restart}"),
        ));
    }
    if c.network.ipam.require_daemon && !daemon_running {
        return Err(CniError::daemon_not_running(state_dir));
    }
    let promised = c.prev_result.addresses_on(&c.id.ifname);
    if !promised.iter().any(|n| n.addr() == ip) {
        return Err(CniError::new(
            Code::Dhcpnet(ExitCode::Conflict),
            format!(
                "the runtime's result has {} on {}, but the lease for {who} is {ip}",
                list(&promised),
                c.id.ifname
            ),
            format!(
                "the DHCP server moved the lease (ADDRESS CHANGED in the daemon's log); {restart}"
            ),
        ));
    }
    let Some(present) = on_interface else {
        return Err(CniError::interface_missing(&c.id.ifname, &c.netns));
    };
    if !present.contains(&l.address) {
        return Err(CniError::new(
            Code::Dhcpnet(ExitCode::Interface),
            format!(
                "{} is not on {} in {} (it has {})",
                l.address,
                c.id.ifname,
                c.netns,
                list(present)
            ),
            format!("something in the container removed or changed it; {restart}"),
        ));
    }
    Ok(())
}

/// STATUS: whether ADD can be served. `cni_leases`: how many leases of CNI
/// attachments are recorded in the state directory.
pub fn status(
    require_daemon: bool,
    daemon_running: bool,
    cni_leases: usize,
    state_dir: &str,
) -> Result<(), CniError> {
    if daemon_running || !require_daemon {
        return Ok(());
    }
    let start = format!(
        "start it (`systemctl enable --now dhcpnet`, or `dhcpnet --state-dir {state_dir} daemon`); \
         ADD fails until it runs (\"requireDaemon\": false leases without renewals)"
    );
    if cni_leases == 0 {
        Err(CniError::new(
            Code::NotAvailable,
            format!("the dhcpnet daemon is not running for {state_dir}"),
            start,
        ))
    } else {
        Err(CniError::new(
            Code::LimitedConnectivity,
            format!(
                "the dhcpnet daemon is not running for {state_dir}: {cni_leases} lease{} of CNI attachments \
                 {} not renewed and end{} at expiry",
                if cni_leases == 1 { "" } else { "s" },
                if cni_leases == 1 { "is" } else { "are" },
                if cni_leases == 1 { "s" } else { "" }
            ),
            start,
        ))
    }
}

/// The attachments GC must release: those of `network` whose (container
/// id, ifname) is not in `valid`. Records of other networks are never
/// touched (and Docker's leases carry no `CniAttachment` at all).
pub fn gc_stale<'a>(
    network: &str,
    valid: &BTreeSet<(String, String)>,
    records: impl IntoIterator<Item = &'a CniAttachment>,
) -> Vec<&'a CniAttachment> {
    records
        .into_iter()
        .filter(|r| r.id.network == network)
        .filter(|r| !valid.contains(&(r.id.container_id.clone(), r.id.ifname.clone())))
        .collect()
}

/// GC's answer once every stale lease was tried: success, or one error
/// naming what could not be released (`failures`: "address: why").
pub fn gc_result(released: usize, failures: &[String]) -> Result<(), CniError> {
    if failures.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 5;
    let mut shown = failures
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if failures.len() > SHOWN {
        shown.push_str(&format!("; and {} more", failures.len() - SHOWN));
    }
    Err(CniError::new(
        Code::TryAgainLater,
        format!(
            "GC released {released} stale lease{} but not {}: {shown}",
            if released == 1 { "" } else { "s" },
            failures.len()
        ),
        "their records are kept, so the next GC (or the daemon, after its grace time) tries again",
    ))
}

/// A lease's address, for messages of the caller's.
pub fn describe(ip: Ipv4Addr, id: &AttachmentId) -> String {
    format!("{ip} ({})", name(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::config::{Network, ParentHint, PrevResult, prev_result};
    use crate::cni::version::Version;
    use chrono::Duration;
    use serde_json::json;

    fn id() -> AttachmentId {
        AttachmentId {
            network: "lan".into(),
            container_id: "c1".into(),
            ifname: "eth0".into(),
        }
    }

    fn network() -> Network {
        Network {
            name: "lan".into(),
            plugin: "macvlan".into(),
            mode: None,
            parent: ParentHint::Named("dnlab0".into()),
            ipam: Default::default(),
        }
    }

    fn check_call(prev: PrevResult) -> Check {
        Check {
            version: Version::V1_0_0,
            id: id(),
            netns: "/run/netns/ctr1".into(),
            network: network(),
            prev_result: prev,
        }
    }

    fn prev() -> PrevResult {
        prev_result(
            &json!({"interfaces": [{"name": "eth0", "sandbox": "/run/netns/ctr1"}],
            "ips": [{"address": "192.168.77.57/24", "gateway": "192.168.77.1", "interface": 0}]}),
        )
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-05-01T12:00:00Z".parse().unwrap()
    }

    fn bound() -> LeaseFacts {
        LeaseFacts {
            address: "192.168.77.57/24".parse().unwrap(),
            status: Status::Bound,
            expires_at: Some(now() + Duration::seconds(60)),
        }
    }

    fn addr() -> Vec<Ipv4Net> {
        vec!["192.168.77.57/24".parse().unwrap()]
    }

    fn code(r: Result<(), CniError>) -> u32 {
        r.unwrap_err().code.number()
    }

    #[test]
    fn check_passes_for_a_bound_lease_whose_address_is_promised_and_present() {
        let c = check_call(prev());
        assert_eq!(
            check(
                &c,
                Some(&bound()),
                true,
                Some(&addr()),
                "/var/lib/dhcpnet",
                now()
            ),
            Ok(())
        );
        let infinite = LeaseFacts {
            expires_at: None,
            ..bound()
        };
        assert_eq!(
            check(&c, Some(&infinite), true, Some(&addr()), "/d", now()),
            Ok(())
        );
        // Without requireDaemon a stopped daemon is no failure.
        let mut c2 = c.clone();
        c2.network.ipam.require_daemon = false;
        assert_eq!(
            check(&c2, Some(&bound()), false, Some(&addr()), "/d", now()),
            Ok(())
        );
    }

    #[test]
    fn check_fails_for_each_thing_that_is_wrong_with_its_own_code() {
        let c = check_call(prev());
        let d = "/var/lib/dhcpnet";
        let e = check(&c, None, true, Some(&addr()), d, now()).unwrap_err();
        assert_eq!(e.code.number(), 106);
        assert_eq!(
            e.msg,
            "dhcpnet: no lease is recorded for the attachment lan/c1/eth0 in /var/lib/dhcpnet"
        );
        let lost = LeaseFacts {
            status: Status::Lost,
            ..bound()
        };
        assert_eq!(
            code(check(&c, Some(&lost), true, Some(&addr()), d, now())),
            105
        );
        let busy = LeaseFacts {
            status: Status::Requesting,
            ..bound()
        };
        assert_eq!(
            code(check(&c, Some(&busy), true, Some(&addr()), d, now())),
            11
        );
        let expired = LeaseFacts {
            expires_at: Some(now()),
            ..bound()
        };
        let e = check(&c, Some(&expired), true, Some(&addr()), d, now()).unwrap_err();
        assert_eq!(e.code.number(), 104);
        assert!(
            e.msg.contains("expired at 2026-05-01T12:00:00+00:00"),
            "{e}"
        );
        let e = check(&c, Some(&bound()), false, Some(&addr()), d, now()).unwrap_err();
        assert_eq!(e, CniError::daemon_not_running(d));
        let moved =
            check_call(prev_result(&json!({"ips": [{"address": "192.168.77.58/24"}]})).unwrap());
        let e = check(&moved, Some(&bound()), true, Some(&addr()), d, now()).unwrap_err();
        assert_eq!(e.code.number(), 112);
        assert_eq!(
            e.msg,
            "dhcpnet: the runtime's result has 192.168.77.58/24 on eth0, but the lease for lan/c1/eth0 is 192.168.77.57"
        );
        assert_eq!(
            check(&c, Some(&bound()), true, None, d, now())
                .unwrap_err()
                .code
                .number(),
            103
        );
        let e = check(&c, Some(&bound()), true, Some(&[]), d, now()).unwrap_err();
        assert_eq!(e.code.number(), 103);
        assert_eq!(
            e.msg,
            "dhcpnet: 192.168.77.57/24 is not on eth0 in /run/netns/ctr1 (it has no IPv4 address)"
        );
        let other_prefix = vec!["192.168.77.57/16".parse().unwrap()];
        assert_eq!(
            code(check(
                &c,
                Some(&bound()),
                true,
                Some(&other_prefix),
                d,
                now()
            )),
            103
        );
    }

    #[test]
    fn status_is_ready_with_a_daemon_and_50_or_51_without_one() {
        assert_eq!(status(true, true, 3, "/d"), Ok(()));
        assert_eq!(status(false, false, 3, "/d"), Ok(()));
        let e = status(true, false, 0, "/d").unwrap_err();
        assert_eq!(
            e.to_json("1.1.0"),
            r#"{"cniVersion":"1.1.0","code":50,"msg":"dhcpnet: the dhcpnet daemon is not running for /d","details":"start it (`systemctl enable --now dhcpnet`, or `dhcpnet --state-dir /d daemon`); ADD fails until it runs (\"requireDaemon\": false leases without renewals)"}"#
        );
        let e = status(true, false, 1, "/d").unwrap_err();
        assert_eq!(e.code.number(), 51);
        assert!(
            e.msg
                .ends_with("1 lease of CNI attachments is not renewed and ends at expiry"),
            "{e}"
        );
        let e = status(true, false, 2, "/d").unwrap_err();
        assert!(
            e.msg
                .ends_with("2 leases of CNI attachments are not renewed and end at expiry"),
            "{e}"
        );
    }

    fn rec(network: &str, c: &str, i: &str) -> CniAttachment {
        CniAttachment {
            id: AttachmentId {
                network: network.into(),
                container_id: c.into(),
                ifname: i.into(),
            },
            netns: "/run/netns/x".into(),
            parent: None,
            plugin: "macvlan".into(),
            broadcast: false,
            pod_namespace: None,
            pod_name: None,
        }
    }

    #[test]
    fn gc_releases_only_this_network_s_attachments_missing_from_the_list() {
        let records = [
            rec("lan", "c1", "eth0"),
            rec("lan", "c1", "eth1"),
            rec("lan", "c2", "eth0"),
            rec("other", "c9", "eth0"),
        ];
        let valid: BTreeSet<_> = [("c1".to_string(), "eth0".to_string())].into();
        let stale = gc_stale("lan", &valid, &records);
        assert_eq!(stale, [&records[1], &records[2]]);
        assert_eq!(gc_stale("lan", &BTreeSet::new(), &records).len(), 3);
        assert!(gc_stale("none", &BTreeSet::new(), &records).is_empty());
    }

    #[test]
    fn gc_reports_every_failure_in_one_error_and_succeeds_without_any() {
        assert_eq!(gc_result(4, &[]), Ok(()));
        let fails: Vec<String> = (1..=7).map(|i| format!("10.0.0.{i}: no answer")).collect();
        let e = gc_result(2, &fails).unwrap_err();
        assert_eq!(e.code.number(), 11);
        assert_eq!(
            e.msg,
            "dhcpnet: GC released 2 stale leases but not 7: 10.0.0.1: no answer; 10.0.0.2: no answer; \
             10.0.0.3: no answer; 10.0.0.4: no answer; 10.0.0.5: no answer; and 2 more"
        );
        assert_eq!(
            describe(Ipv4Addr::new(10, 0, 0, 1), &id()),
            "10.0.0.1 (lan/c1/eth0)"
        );
    }
}
