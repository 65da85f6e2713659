#!/usr/bin/env bash
# The daemon holding many leases: resident memory and CPU over an idle
# period, printed as figures (not a timed test).
#
# The leases are real: `dhcpnet lease --count N` against dnsmasq in a veth
# lab (two namespaces; nothing touches the host's interfaces), 1-hour
# leases so that no renewal falls inside the idle period. Then
# `dhcpnet daemon` (plugin on a socket in the lab's temp dir, no Docker)
# runs in the client namespace; after it has loaded the records, RSS is read
# from /proc and CPU (utime+stime) is sampled over the idle period.
# Goals: RSS <= 30 MiB, CPU near zero.
#
# Needs root and dnsmasq. Usage: scripts/bench-daemon.sh [LEASES] [IDLE_SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
idle=${2:-60}
cargo build --release --quiet
bin=$PWD/target/release/dhcpnet
lab_before_cleanup() { [ -n "${dmn_pid:-}" ] && kill "$dmn_pid" 2>/dev/null; }
. scripts/lab.sh
lab_up bd 10.77.0.1/16 10.77.1.1,10.77.60.254,255.255.0.0 3600 --dhcp-lease-max=20000
state=$tmp/state
t0=$EPOCHREALTIME
# A partial batch (exit 11) still leaves its granted leases recorded.
ip netns exec "$cli" "$bin" --state-dir "$state" -q lease -i veth0 --count "$n" --timeout 300 -o json >/dev/null || true
t1=$EPOCHREALTIME
held=$(ip netns exec "$cli" "$bin" --state-dir "$state" leases -o json | grep -c '"mac"' || true)
printf 'leases taken: %s of %s in %.1f s; leases.json %s KiB\n' "$held" "$n" \
  "$(echo "$t1 - $t0" | bc)" "$(( $(stat -c %s "$state/leases.json") / 1024 ))"

ip netns exec "$cli" "$bin" --state-dir "$state" -v daemon --no-docker \
  --plugin-socket "$tmp/plugin.sock" 2>"$tmp/daemon.log" &
dmn_pid=$!
# The daemon has loaded the records once it says how many it holds.
for _ in $(seq 100); do grep -q "holding" "$tmp/daemon.log" && break; sleep 0.1; done
grep "holding" "$tmp/daemon.log" || { echo "daemon did not start:"; cat "$tmp/daemon.log"; exit 1; }
sleep 1
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$dmn_pid/stat"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$dmn_pid/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$dmn_pid/status"; }
c0=$(cpu)
sleep "$idle"
c1=$(cpu)
printf 'daemon holding %s leases: RSS %.1f MiB (peak %.1f MiB), goal <= 30 MiB\n' "$held" \
  "$(echo "$(rss) / 1024" | bc -l)" "$(echo "$(hwm) / 1024" | bc -l)"
printf 'CPU over %s idle seconds: %s ticks = %.2f s (%.3f%% of one core)\n' "$idle" "$((c1 - c0))" \
  "$(echo "($c1 - $c0) / $hz" | bc -l)" "$(echo "($c1 - $c0) * 100 / $hz / $idle" | bc -l)"
