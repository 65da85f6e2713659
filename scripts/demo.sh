#!/usr/bin/env bash
# Build a throwaway lab (two network namespaces joined by a veth pair, dnsmasq
# in one) and run dhcpnet's main job in the other: probe, lease, leases,
# renew, release. Touches no real interface; removes everything on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/dhcpnet
. scripts/lab.sh
lab_up demo 10.77.0.1/24 10.77.0.50,10.77.0.150,255.255.255.0 600 --dhcp-option=6,10.77.0.2 --domain=lab.test
run() { echo; echo "\$ dhcpnet $*"; ip netns exec "$cli" "$bin" --state-dir "$tmp/state" "$@"; }
run probe veth0 --collect 0.5
run lease --interface veth0 --hostname web-1
run lease --interface veth0 --count 5 -o json | grep -c '"ip"' | sed 's/^/leased in one batch: /'
run leases
run renew --all
echo; echo "dnsmasq's lease table:"; cat "$tmp/server.leases"
run release --interface veth0 --all -o json >/dev/null && echo "released all"
