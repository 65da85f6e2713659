//! `dhcpnet probe IFACE`: DISCOVER from a throwaway MAC, report every offer,
//! never REQUEST (so no server commits a lease).

use std::net::Ipv4Addr;

use serde::Serialize;

use super::Ctx;
use crate::cli::ProbeArgs;
use crate::dhcp::message::{self, Route};
use crate::dhcp::transport::Offer;
use crate::error::Result;
use crate::net::iface::Interface;
use crate::net::mac::Mac;
use crate::output;

/// One server's offer, as printed.
#[derive(Debug, Serialize)]
pub struct OfferView {
    pub server_id: Ipv4Addr,
    pub server_mac: Mac,
    pub offered_ip: Ipv4Addr,
    pub subnet: ipnet::Ipv4Net,
    pub netmask: Ipv4Addr,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub lease_time: Option<u32>,
    pub renewal_time: Option<u32>,
    pub rebinding_time: Option<u32>,
    pub mtu: Option<u16>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Serialize)]
pub struct ProbeView {
    pub interface: String,
    /// How long the probe listened for offers, in seconds.
    pub listened_s: f64,
    #[serde(flatten)]
    pub first: OfferView,
    pub offers: Vec<OfferView>,
}

fn finite(v: u32) -> Option<u32> {
    (v != message::INFINITE).then_some(v)
}

impl From<&Offer> for OfferView {
    fn from(o: &Offer) -> Self {
        let p = &o.params;
        OfferView {
            server_id: p.server_id,
            server_mac: o.server_mac,
            offered_ip: p.ip,
            subnet: message::subnet_of(p.ip, p.prefix_len),
            netmask: p.netmask,
            gateway: p.gateway,
            dns: p.dns.clone(),
            domain: p.domain.clone(),
            lease_time: finite(p.lease_time),
            renewal_time: finite(p.renewal_time),
            rebinding_time: finite(p.rebinding_time),
            mtu: p.mtu,
            routes: p.routes.clone(),
        }
    }
}

pub async fn run(_ctx: &Ctx, a: ProbeArgs) -> Result<()> {
    let iface = Interface::lookup(&a.interface)?;
    let bar = super::spinner(format!("listening for DHCP offers on {}", iface.name));
    let res =
        crate::dhcp::probe::survey(&iface, a.mac, a.timeout, a.collect, !a.no_broadcast).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let survey = res?;
    let offers = &survey.offers;
    let views: Vec<OfferView> = offers.iter().map(OfferView::from).collect();
    let Some(first) = offers.first().map(OfferView::from) else {
        return Err(crate::error::Error::Other(
            "internal: a probe with no offer".into(),
        ));
    };
    let view = ProbeView {
        interface: iface.name.clone(),
        listened_s: (survey.listened.as_secs_f64() * 10.0).round() / 10.0,
        first,
        offers: views,
    };
    output::emit(a.out.output, &view, || table(&view))
}

fn table(v: &ProbeView) -> String {
    let f = &v.first;
    let secs = |s: Option<u32>| output::duration(s.map(|x| x as i64));
    let mut out = output::kv_table(&[
        ("interface", v.interface.clone()),
        ("listened", format!("{:.1} s", v.listened_s)),
        ("server", format!("{} ({})", f.server_id, f.server_mac)),
        ("subnet", f.subnet.to_string()),
        ("gateway", output::opt(&f.gateway)),
        ("dns", output::list(&f.dns)),
        ("domain", output::opt(&f.domain)),
        ("lease time", secs(f.lease_time)),
        ("offered", f.offered_ip.to_string()),
        ("mtu", output::opt(&f.mtu)),
        (
            "routes",
            output::list(
                &f.routes
                    .iter()
                    .map(|r| format!("{} via {}", r.destination, r.gateway))
                    .collect::<Vec<_>>(),
            ),
        ),
    ]);
    if v.offers.len() > 1 {
        let mut t = output::table(&["SERVER", "MAC", "OFFERED", "SUBNET", "GATEWAY"]);
        for o in &v.offers {
            t.add_row(vec![
                o.server_id.to_string(),
                o.server_mac.to_string(),
                o.offered_ip.to_string(),
                o.subnet.to_string(),
                output::opt(&o.gateway),
            ]);
        }
        out = format!("{out}\n{} servers answered:\n{t}", v.offers.len());
    }
    out
}
