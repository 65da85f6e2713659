//! `dhcpnet shim add|del|list`: the host shim (see `links::shim`).

use super::{Ctx, secs};
use crate::cli::{LinkDelArgs, ListArgs, ShimAddArgs, ShimCommand};
use crate::error::{Error, Result};
use crate::links::Kind;
use crate::links::shim::{self, ShimRequest, ShimView};
use crate::network::{self, Driver, Network};
use crate::output;

/// The shim's driver, and what to tell the user about it.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    /// Given, or macvlan by default: nothing to say.
    Plain(Driver),
    /// Chosen from the network records: say why.
    Recorded(Driver, String),
    /// Given against the records: kept (they may be stale), with a warning.
    Against(Driver, String),
}

/// The driver of the shim on `parent`: the one given, else the one of the
/// dhcpnet networks recorded on `parent` (ipvlan ones make it ipvlan),
/// else macvlan. Records of both drivers and none given is a usage error.
fn choose(given: Option<Driver>, nets: &[Network], parent: &str) -> Result<Choice> {
    let ipvlan = network::on_parent(nets, parent, Driver::Ipvlan);
    let macvlan = network::on_parent(nets, parent, Driver::Macvlan);
    let against = |d: Driver| match d {
        Driver::Macvlan => &ipvlan,
        Driver::Ipvlan => &macvlan,
    };
    match given {
        Some(d) if !against(d).is_empty() => {
            let other = match d {
                Driver::Macvlan => Driver::Ipvlan,
                Driver::Ipvlan => Driver::Macvlan,
            };
            Ok(Choice::Against(
                d,
                format!(
                    "{parent} carries the {other} network(s) {}: macvlan and ipvlan links cannot share a \
                     parent, so a {d} shim fails while their containers run (`--driver {other}`)",
                    against(d).join(", ")
                ),
            ))
        }
        Some(d) => Ok(Choice::Plain(d)),
        None if !ipvlan.is_empty() && !macvlan.is_empty() => Err(Error::Usage(format!(
            "{parent} carries macvlan network(s) {} and ipvlan network(s) {}: say which containers the \
             shim is for with --driver macvlan or --driver ipvlan",
            macvlan.join(", "),
            ipvlan.join(", ")
        ))),
        None if !ipvlan.is_empty() => Ok(Choice::Recorded(
            Driver::Ipvlan,
            format!(
                "an ipvlan shim, as {parent} carries the ipvlan network(s) {} (macvlan and ipvlan links \
                 cannot share a parent)",
                ipvlan.join(", ")
            ),
        )),
        None => Ok(Choice::Plain(Driver::Macvlan)),
    }
}

pub async fn run(ctx: &Ctx, c: ShimCommand) -> Result<()> {
    match c {
        ShimCommand::Add(a) => add(ctx, a).await,
        ShimCommand::Del(a) => del(ctx, a).await,
        ShimCommand::List(a) => list(ctx, a).await,
    }
}

fn table(rows: &[ShimView]) -> String {
    if rows.is_empty() {
        return "no shims recorded".into();
    }
    let mut t = output::table(&[
        "NAME", "KIND", "PARENT", "MAC", "IP", "ROUTES", "EXISTS", "UP", "STATE",
    ]);
    for v in rows {
        let r = &v.status.record;
        t.add_row(vec![
            r.name.clone(),
            r.kind.to_string(),
            r.parent.clone(),
            output::opt(&r.mac),
            output::opt(&v.ip),
            output::list(&v.routes),
            if v.status.exists { "yes" } else { "no" }.into(),
            if v.status.up { "yes" } else { "no" }.into(),
            v.status.state.to_string(),
        ]);
    }
    t.to_string()
}

async fn add(ctx: &Ctx, a: ShimAddArgs) -> Result<()> {
    let nets = network::load(&ctx.store)?;
    let driver = match choose(a.driver, &nets, &a.parent)? {
        Choice::Plain(d) => d,
        Choice::Against(d, why) => {
            log::warn!("{why}");
            d
        }
        Choice::Recorded(d, why) => {
            if a.mac.is_some() {
                return Err(Error::Usage(format!(
                    "--mac cannot be given here: the shim is {why}, and an ipvlan shim has {}'s MAC \
                     (ipvlan links share their parent's); leave out --mac",
                    a.parent
                )));
            }
            output::step(&why);
            d
        }
    };
    if driver == Driver::Ipvlan && a.mac.is_some() {
        return Err(Error::Usage(format!(
            "an ipvlan shim has {}'s MAC (ipvlan links share their parent's): leave out --mac, or give \
             --driver macvlan",
            a.parent
        )));
    }
    let req = ShimRequest {
        parent: a.parent.clone(),
        name: a.name.clone(),
        kind: match driver {
            Driver::Macvlan => Kind::Macvlan,
            Driver::Ipvlan => Kind::Ipvlan,
        },
        mac: a.mac,
        hostname: a.hostname.clone(),
        timeout: secs(a.timeout),
    };
    let v = shim::add(&ctx.ledger(), &req).await?;
    output::emit(a.out.output, &v, || table(std::slice::from_ref(&v)))
}

async fn del(ctx: &Ctx, a: LinkDelArgs) -> Result<()> {
    shim::delete(&ctx.ledger(), &a.name, a.force).await
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let rows = shim::view(&ctx.store, "").await?;
    output::emit(a.out.output, &rows, || table(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, parent: &str, driver: &str) -> Network {
        serde_json::from_value(serde_json::json!({
            "name": name, "id": "x", "parent": parent, "driver": driver,
            "dhcp_interface": parent, "subnet": "10.0.0.0/24", "gateway": "10.0.0.1",
            "created_at": "2026-01-01T00:00:00Z"
        }))
        .expect("a network record")
    }

    #[test]
    fn the_shim_is_ipvlan_when_its_parent_carries_an_ipvlan_network_and_says_so() {
        let nets = [
            net("wlan", "wlan0", "ipvlan"),
            net("lan", "eth0", "macvlan"),
            net("v10", "eth0.10", "ipvlan"),
        ];
        match choose(None, &nets, "wlan0").unwrap() {
            Choice::Recorded(Driver::Ipvlan, why) => assert!(why.contains("wlan"), "{why}"),
            c => panic!("{c:?}"),
        }
        // A VLAN network's parent is its PARENT.VID link.
        assert!(matches!(
            choose(None, &nets, "eth0.10").unwrap(),
            Choice::Recorded(Driver::Ipvlan, _)
        ));
        assert_eq!(
            choose(None, &nets, "eth0").unwrap(),
            Choice::Plain(Driver::Macvlan)
        );
        assert_eq!(
            choose(None, &[], "eth1").unwrap(),
            Choice::Plain(Driver::Macvlan)
        );
        assert_eq!(
            choose(Some(Driver::Ipvlan), &[], "eth1").unwrap(),
            Choice::Plain(Driver::Ipvlan)
        );
        // A network being deleted decides nothing.
        let mut going = net("old", "eth1", "ipvlan");
        going.deleting = true;
        assert_eq!(
            choose(None, &[going], "eth1").unwrap(),
            Choice::Plain(Driver::Macvlan)
        );
    }

    #[test]
    fn a_driver_given_against_the_records_is_kept_with_a_warning_and_both_recorded_is_a_usage_error()
     {
        let nets = [net("wlan", "wlan0", "ipvlan")];
        match choose(Some(Driver::Macvlan), &nets, "wlan0").unwrap() {
            Choice::Against(Driver::Macvlan, why) => {
                assert!(
                    why.contains("wlan") && why.contains("--driver ipvlan"),
                    "{why}"
                )
            }
            c => panic!("{c:?}"),
        }
        let both = [net("wlan", "eth0", "ipvlan"), net("lan", "eth0", "macvlan")];
        let e = choose(None, &both, "eth0").unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
        assert!(
            e.to_string().contains("--driver") && e.to_string().contains("lan"),
            "{e}"
        );
    }
}
