//! `dhcpnet delete NET [--force]`: refuse while containers are attached
//! (unless --force: then `rm` each), release every lease on NET, `docker
//! network rm`, delete the links dhcpnet created for NET, forget NET.
//!
//! The record is marked `deleting` before the first change; every step
//! reports; a failure midway leaves the record, and a second `delete`
//! skips what is already done and finishes.

use serde::Serialize;

use super::release::{Unreachable, release_leases_or};
use super::{Ctx, rm::remove, step};
use crate::cli::DeleteArgs;
use crate::error::{Error, Result};
use crate::links;
use crate::network::{self, from_docker};
use crate::output;

#[derive(Debug, Serialize)]
struct Deleted {
    network: String,
    containers_removed: Vec<String>,
    leases_released: Vec<std::net::Ipv4Addr>,
    docker_network_removed: bool,
    links_deleted: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: DeleteArgs) -> Result<()> {
    let docker = ctx.docker();
    let name = a.network.as_str();
    let info = docker.network_inspect(name).await?;
    let rec = match (network::find(&ctx.store, name)?, &info) {
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
    if !attached.is_empty() && !a.force {
        let names: Vec<&str> = attached.iter().map(|(_, n)| n.as_str()).collect();
        return Err(Error::Conflict(format!(
            "network {name} still has containers attached: {}. Remove them with `dhcpnet rm {}`, or \
             delete with --force to remove them too",
            names.join(", "),
            names.join(" ")
        )));
    }
    let marked = rec.clone();
    network::update(&ctx.store, |nets| {
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
        let r = remove(ctx, &docker, id).await.map_err(|e| {
            Error::Docker(format!("removing container {cname} failed: {e}; run `dhcpnet delete {name} --force` again to finish"))
        })?;
        done.leases_released.extend(r.released);
        done.containers_removed.push(cname.clone());
    }
    let released = release_leases_or(ctx, |l| l.network.as_deref() == Some(name), Unreachable::Forget).await.map_err(|e| {
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
        match links::delete_owned(&ctx.store, link, false).await {
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
    network::update(&ctx.store, |nets| {
        nets.retain(|n| n.name != name);
        Ok(())
    })?;
    step(&format!("forgot network {name}"));
    output::emit(a.out.output, &done, || {
        output::kv_table(&[
            ("network", done.network.clone()),
            ("containers removed", output::list(&done.containers_removed)),
            ("leases released", output::list(&done.leases_released)),
            (
                "docker network removed",
                if done.docker_network_removed {
                    "yes".into()
                } else {
                    "no (was gone)".into()
                },
            ),
            ("links deleted", output::list(&done.links_deleted)),
        ])
    })
}
