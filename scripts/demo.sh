#!/usr/bin/env bash
# Build a throwaway lab (two network namespaces joined by a veth pair, dnsmasq
# in one) and run dhcpnet's main job in the other: probe, lease, leases,
# renew, release. Touches no real interface; removes everything on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/dhcpnet
srv=dhcpnet-demo-srv cli=dhcpnet-demo-cli
tmp=$(mktemp -d)
cleanup() {
  [ -n "${dns_pid:-}" ] && kill "$dns_pid" 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$srv"; ip netns add "$cli"
ip link add veth0 netns "$srv" type veth peer name veth0 netns "$cli"
ip -n "$srv" addr add 10.77.0.1/24 dev veth0
for ns in "$srv" "$cli"; do ip -n "$ns" link set lo up; ip -n "$ns" link set veth0 up; done
ip netns exec "$srv" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=veth0 \
  --bind-interfaces --no-ping --dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,600 \
  --dhcp-option=6,10.77.0.2 --domain=lab.test --dhcp-leasefile="$tmp/server.leases" 2>"$tmp/dnsmasq.log" &
dns_pid=$!
sleep 0.5
run() { echo; echo "\$ dhcpnet $*"; ip netns exec "$cli" "$bin" --state-dir "$tmp/state" "$@"; }
run probe veth0 --collect 0.5
run lease --interface veth0 --hostname web-1
run lease --interface veth0 --count 5 -o json | grep -c '"ip"' | sed 's/^/leased in one batch: /'
run leases
run renew --all
echo; echo "dnsmasq's lease table:"; cat "$tmp/server.leases"
run release --interface veth0 --all -o json >/dev/null && echo "released all"
