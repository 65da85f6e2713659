# Sourced by demo.sh, bench.sh and bench-daemon.sh: a throwaway DHCP lab.
# Two network namespaces joined by a veth pair (`veth0` in each), dnsmasq in
# the server one; nothing touches the host's own interfaces. Everything is
# removed on exit (define `lab_before_cleanup` to stop your own processes
# first).
#
#   lab_up NAME SERVER_CIDR RANGE LEASE_SECS [dnsmasq args...]
#
# sets: srv, cli (namespace names), tmp (a temporary directory), dns_pid.

lab_cleanup() {
  if declare -F lab_before_cleanup >/dev/null; then lab_before_cleanup || true; fi
  [ -n "${dns_pid:-}" ] && kill "$dns_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  rm -rf "$tmp"
}

lab_up() {
  local name=$1 cidr=$2 range=$3 lease=$4
  shift 4
  srv=dhcpnet-$name-srv-$$ cli=dhcpnet-$name-cli-$$
  tmp=$(mktemp -d)
  trap lab_cleanup EXIT
  ip netns add "$srv"; ip netns add "$cli"
  ip link add veth0 netns "$srv" type veth peer name veth0 netns "$cli"
  ip -n "$srv" addr add "$cidr" dev veth0
  for ns in "$srv" "$cli"; do ip -n "$ns" link set lo up; ip -n "$ns" link set veth0 up; done
  ip netns exec "$srv" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=veth0 \
    --bind-interfaces --no-ping --dhcp-range="$range,$lease" \
    --dhcp-leasefile="$tmp/server.leases" "$@" 2>"$tmp/dnsmasq.log" &
  dns_pid=$!
  sleep 0.5
}
