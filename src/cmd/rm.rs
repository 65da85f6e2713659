//! `dhcpnet rm CONTAINER...`: `docker rm -f`, then DHCPRELEASE of the
//! container's leases. The container goes first so that the server never
//! hands out an address a running container still uses.

use std::net::Ipv4Addr;

use serde::Serialize;

use super::{Ctx, release::release_leases, step};
use crate::cli::RmArgs;
use crate::docker::{ContainerInfo, Docker};
use crate::error::{Error, Result, conclude_batch};
use crate::lease::{self, Lease};
use crate::net::mac::Mac;
use crate::network::{self, Network};
use crate::output;

#[derive(Debug, Serialize)]
pub struct Removed {
    pub container: String,
    pub id: Option<String>,
    /// Whether a Docker container was removed (false: Docker had none).
    pub removed: bool,
    pub released: Vec<Ipv4Addr>,
}

/// Which leases belong to a container: recorded with its id, or held for
/// its MAC on one of dhcpnet's networks, or (when Docker no longer knows
/// it) recorded under its name.
fn picker(
    what: &str,
    info: Option<&ContainerInfo>,
    nets: &[Network],
) -> impl Fn(&Lease) -> bool + use<> {
    let id = info.map(|c| c.id.clone());
    let prefix =
        (what.len() >= 4 && what.bytes().all(|b| b.is_ascii_hexdigit())).then(|| what.to_string());
    let name = info
        .map(|c| c.name.clone())
        .unwrap_or_else(|| what.to_string());
    let mut macs: Vec<(String, Mac)> = Vec::new();
    for n in nets {
        if let Some(ep) = info.and_then(|c| c.networks.get(&n.name))
            && let Some(m) = ep.mac
        {
            macs.push((n.name.clone(), m));
        }
        if info.is_none()
            && let Some(m) = n.member(&name)
        {
            macs.push((n.name.clone(), m.mac));
        }
    }
    move |l: &Lease| {
        let by_id = match (&l.container, &id, &prefix) {
            (Some(c), Some(i), _) => c == i,
            (Some(c), None, Some(p)) => c.starts_with(p.as_str()),
            _ => false,
        };
        by_id
            || macs
                .iter()
                .any(|(n, m)| l.mac == *m && l.network.as_deref() == Some(n.as_str()))
    }
}

/// Remove one container and release its leases.
pub async fn remove(ctx: &Ctx, docker: &Docker, what: &str) -> Result<Removed> {
    let info = docker.inspect_container(what).await?;
    let nets = network::load(&ctx.store)?;
    let pick = picker(what, info.as_ref(), &nets);
    let held: Vec<Lease> = lease::load(&ctx.store)?
        .into_iter()
        .filter(|l| pick(l))
        .collect();
    if info.is_none() && held.is_empty() {
        return Err(Error::NotFound(format!(
            "Docker has no container {what}, and dhcpnet holds no lease for one: `docker ps -a` and `dhcpnet leases` list what there is"
        )));
    }
    let mut removed = false;
    if let Some(c) = &info {
        docker.check(&["rm", "-f", c.id.as_str()]).await?;
        removed = true;
        step(&format!("removed container {}", c.name));
    } else {
        log::warn!("Docker has no container {what}; releasing the leases dhcpnet recorded for it");
    }
    let mut released = if held.is_empty() {
        Vec::new()
    } else {
        release_leases(ctx, &pick).await?
    };
    for l in &released {
        step(&format!("released {} ({}) to {}", l.ip, l.mac, l.server_id));
    }
    // A running `dhcpnet daemon` sees the container's destroy event too and
    // may have released its leases first: say so, and count them.
    if released.len() < held.len() {
        let left = lease::load(&ctx.store)?;
        let same = |a: &Lease, b: &Lease| a.mac == b.mac && a.interface == b.interface;
        for l in held {
            if !released.iter().any(|r| same(r, &l)) && !left.iter().any(|r| same(r, &l)) {
                step(&format!(
                    "{} ({}) was released by the running dhcpnet daemon",
                    l.ip, l.mac
                ));
                released.push(l);
            }
        }
    }
    if let Some(c) = &info {
        network::forget_container(&ctx.store, &c.id)?;
    }
    Ok(Removed {
        container: info
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| what.to_string()),
        id: info.map(|c| c.id),
        removed,
        released: released.iter().map(|l| l.ip).collect(),
    })
}

pub async fn run(ctx: &Ctx, a: RmArgs) -> Result<()> {
    let docker = ctx.docker();
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for c in &a.containers {
        match remove(ctx, &docker, c).await {
            Ok(r) => done.push(r),
            Err(e) => errors.push((c.clone(), e)),
        }
    }
    if done.is_empty() {
        // Nothing was removed: no (empty) table, only the error(s).
        return conclude_batch(errors, 0, |_, _| String::new());
    }
    output::emit(a.out.output, &done, || {
        let mut t = output::table(&["CONTAINER", "REMOVED", "RELEASED"]);
        for r in &done {
            t.add_row(vec![
                r.container.clone(),
                if r.removed {
                    "yes".into()
                } else {
                    "no (gone)".into()
                },
                output::list(&r.released),
            ]);
        }
        t.to_string()
    })?;
    conclude_batch(errors, done.len(), |n, total| {
        format!("{n} of {total} containers could not be removed (see above)")
    })
}
