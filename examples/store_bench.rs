//! The record store's cost with many records, for `scripts/bench.sh`.
//!
//!     store_bench gen DIR N [--legacy]  write N lease records into the
//!                                       state directory DIR (one file per
//!                                       record; with --legacy, one old
//!                                       leases.json instead)
//!     store_bench put DIR               record one lease the keyed way
//!                                       (lock, get, put): what `lease`
//!                                       costs in the store once its call
//!                                       site uses `lease::put`
//!     store_bench update DIR            record one lease through
//!                                       `lease::update` (every record
//!                                       read, only the changed written)
//!     store_bench list DIR              read every record
//!
//! Each run is one process, as a command is; bench.sh times them.

use std::process::ExitCode;

use chrono::{Duration, SubsecRound, Utc};
use dhcpnet::lease::{self, Lease, Status};
use dhcpnet::net::mac::Mac;
use dhcpnet::store::Store;

/// The `i`th lease on veth0: a locally administered MAC and an address in
/// 10.77.0.0/16 derived from `i`.
fn record(i: u32) -> Lease {
    let [_, a, b, c] = i.to_be_bytes();
    let now = Utc::now().trunc_subsecs(0);
    Lease {
        ip: std::net::Ipv4Addr::new(10, 77, 2 + b % 200, c.max(1)),
        prefix_len: 16,
        subnet: "10.77.0.0/16".parse().unwrap(),
        mac: Mac([0x02, 0x42, 0xbe, a, b, c]),
        gateway: Some(std::net::Ipv4Addr::new(10, 77, 0, 1)),
        dns: vec![std::net::Ipv4Addr::new(10, 77, 0, 1)],
        domain: Some("lab".into()),
        search: vec![],
        server_id: std::net::Ipv4Addr::new(10, 77, 0, 1),
        server_mac: Some(Mac([0x02, 0, 0, 0, 0, 1])),
        lease_time: Some(3600),
        renewal_time: Some(1800),
        rebinding_time: Some(3150),
        obtained_at: now,
        expires_at: Some(now + Duration::seconds(3600)),
        hostname: Some(format!("host-{i}")),
        client_id: format!("01:02:42:be:{a:02x}:{b:02x}:{c:02x}"),
        interface: "veth0".into(),
        network: None,
        container: None,
        mtu: None,
        routes: vec![],
        status: Status::Bound,
        in_use_ip: None,
        pid: None,
        kept_since: None,
        mac_fixed: false,
    }
}

fn run(args: &[String]) -> dhcpnet::error::Result<()> {
    let usage = || dhcpnet::error::Error::Usage("see the source for the usage".into());
    let (cmd, dir) = match args {
        [c, d, ..] => (c.as_str(), d.as_str()),
        _ => return Err(usage()),
    };
    let store = Store::new(dir);
    match cmd {
        "gen" => {
            let n: u32 = args.get(2).and_then(|n| n.parse().ok()).ok_or_else(usage)?;
            let all: Vec<Lease> = (1..=n).map(record).collect();
            store.prepare()?;
            let lock = store.lock()?;
            if args.iter().any(|a| a == "--legacy") {
                let doc = serde_json::json!({"version": 1, "leases": all});
                store.write(&lock, lease::LEGACY, &doc)?;
            } else {
                lease::put_all(&store, &lock, &all)?;
            }
        }
        "put" => {
            let l = record(0x00ff_ffff);
            let lock = store.lock()?;
            let _was = lease::get(&store, &l.key())?;
            lease::put(&store, &lock, &l)?;
        }
        "update" => {
            let l = record(0x00ff_ffff);
            lease::update(&store, |all| {
                all.retain(|o| !o.has_key(&l.key()));
                all.push(l);
                Ok(())
            })?;
        }
        "list" => {
            let n = lease::load(&store)?.len();
            println!("{n}");
        }
        _ => return Err(usage()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("store_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
