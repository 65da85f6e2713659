//! Deleting a network dhcpnet created. The record is marked `deleting`
//! before the first change; every step reports; a failure midway leaves the
//! record, and a second `delete` skips what is already done and finishes.

use serde::Serialize;

use crate::docker::Docker;
use crate::error::{Error, Result};
use crate::lease::{Ledger, Unreachable, release_leases_or};
use crate::links;
use crate::network::container::remove;
use crate::network::{self, from_docker};
use crate::output::step;

#[derive(Debug, Serialize)]
pub struct Deleted {
    pub network: String,
    pub containers_removed: Vec<String>,
    pub leases_released: Vec<std::net::Ipv4Addr>,
    pub docker_network_removed: bool,
    pub links_deleted: Vec<String>,
}

/// Delete the network `name`: refused while containers are attached unless
/// `force` (then each is removed), every lease on it released, `docker
/// network rm`, the links dhcpnet created for it deleted, the record gone.
pub async fn delete(ledger: &Ledger, docker: &Docker, name: &str, force: bool) -> Result<Deleted> {
    let info = docker.network_inspect(name).await?;
    let rec = match (network::find(&ledger.store, name)?, &info) {
        (Some(r), _) => r,
        (None, Some(i)) => from_docker(i).ok_or_else(|| {
            Error::NotFound(format!(
                "Docker's network {name} was not created by dhcpnet: remove it with `docker network rm {name}`"
            ))
        })?,
        (None, None) => return Err(network::not_found(name)),
    };
    // A Docker network of that name that dhcpnet did not make (another id,
    // no dhcpnet labels) is not ours to remove: only the records go.
    let info = match info {
        Some(i) if !rec.id.is_empty() && i.id != rec.id && from_docker(&i).is_none() => {
            log::warn!(
                "Docker's network {name} ({}) is not the one dhcpnet created ({}) and has no dhcpnet labels: \
                 leaving it alone, forgetting dhcpnet's record",
                crate::docker::short_id(&i.id),
                crate::docker::short_id(&rec.id)
            );
            None
        }
        other => other,
    };
    let attached: Vec<(String, String)> = match &info {
        Some(i) => {
            let mut all = docker.containers_on(&i.name).await?;
            for c in &i.containers {
                if !all.iter().any(|(id, _)| *id == c.0) {
                    all.push(c.clone());
                }
            }
            all
        }
        None => Vec::new(),
    };
    if !attached.is_empty() && !force {
        let names: Vec<&str> = attached.iter().map(|(_, n)| n.as_str()).collect();
        return Err(Error::Conflict(format!(
            "network {name} still has containers attached: {}. Remove them with `dhcpnet rm {}`, or \
             delete with --force to remove them too",
            names.join(", "),
            names.join(" ")
        )));
    }
    let marked = rec.clone();
    network::update(&ledger.store, |nets| {
        nets.retain(|n| n.name != marked.name);
        let mut m = marked;
        m.deleting = true;
        nets.push(m);
        Ok(())
    })?;
    let mut done = Deleted {
        network: name.to_string(),
        containers_removed: Vec::new(),
        leases_released: Vec::new(),
        docker_network_removed: false,
        links_deleted: Vec::new(),
    };
    for (id, cname) in &attached {
        let r = remove(ledger, docker, id).await.map_err(|e| {
            Error::Docker(format!("removing container {cname} failed: {e}; run `dhcpnet delete {name} --force` again to finish"))
        })?;
        done.leases_released.extend(r.released);
        done.containers_removed.push(cname.clone());
    }
    let released = release_leases_or(ledger, |l| l.network.as_deref() == Some(name), Unreachable::Forget).await.map_err(|e| {
        Error::Partial(format!("releasing the leases on {name} failed: {e}; run `dhcpnet delete {name}` again to finish"))
    })?;
    step(&format!("released {} lease(s) on {name}", released.len()));
    done.leases_released.extend(released.iter().map(|l| l.ip));
    if info.is_some() {
        let out = docker.run(&["network", "rm", name]).await?;
        if !out.success() {
            return Err(Error::Docker(format!(
                "`docker network rm {name}` failed: {}; run `dhcpnet delete {name}` again to finish",
                out.message()
            )));
        }
        done.docker_network_removed = true;
        step(&format!("removed Docker network {name}"));
    } else {
        step(&format!("Docker has no network {name} (any more)"));
    }
    if let Some(link) = &rec.owned_link {
        match links::delete_owned(&ledger.store, link, false).await {
            Ok(()) => {
                done.links_deleted.push(link.clone());
                step(&format!("deleted {link}"));
            }
            // Gone already, records and all (an earlier delete got that far).
            Err(Error::NotFound(_))
                if !std::path::Path::new("/sys/class/net").join(link).exists() =>
            {
                step(&format!("{link} is gone already"));
            }
            Err(e) => {
                return Err(Error::Partial(format!(
                    "deleting {link} failed: {e}; run `dhcpnet delete {name}` again to finish"
                )));
            }
        }
    }
    network::update(&ledger.store, |nets| {
        nets.retain(|n| n.name != name);
        Ok(())
    })?;
    step(&format!("forgot network {name}"));
    Ok(done)
}
