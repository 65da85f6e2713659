#!/usr/bin/env bash
# Benchmarks for the DHCP engine, printed as figures (not a timed test).
#
#  1. One whole `dhcpnet lease` process vs one `busybox udhcpc -q -n` full
#     exchange on the same lab, alternating, medians (goal: <= 0.15x udhcpc).
#  2. `lease --count 100` vs one single lease (goal: <= 10x the single).
#
# The lab: two namespaces joined by a veth pair, dnsmasq --no-ping in one.
# Needs root, dnsmasq, busybox. Usage: scripts/bench.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-31}
cargo build --release --quiet
bin=$PWD/target/release/dhcpnet
busybox=$(command -v busybox)
. scripts/lab.sh
lab_up bench 10.77.0.1/16 10.77.1.1,10.77.40.254,255.255.0.0 3600 --dhcp-lease-max=20000

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }
timeit() { local a b; a=$(now_us); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; b=$(now_us); echo $((b - a)); }

state="$tmp/state"
mac=02:42:0a:4d:00:42
dn=() ub=() ns=()
# Warm-up: first runs pay page-cache misses.
timeit ip netns exec "$cli" "$bin" --state-dir "$state" lease -i veth0 --mac $mac -o json >/dev/null
timeit ip netns exec "$cli" "$busybox" udhcpc -i veth0 -q -n -f -s /bin/true -t 3 -T 1 >/dev/null
for ((i = 0; i < rounds; i++)); do
  dn+=("$(timeit ip netns exec "$cli" "$bin" --state-dir "$state" lease -i veth0 --mac $mac -o json)")
  ub+=("$(timeit ip netns exec "$cli" "$busybox" udhcpc -i veth0 -q -n -f -s /bin/true -t 3 -T 1)")
  ns+=("$(timeit ip netns exec "$cli" true)")
done
d=$(printf '%s\n' "${dn[@]}" | median)
u=$(printf '%s\n' "${ub[@]}" | median)
n=$(printf '%s\n' "${ns[@]}" | median)
echo "== one full exchange, whole process, median of $rounds (ms) =="
printf '%-36s %8s ms\n' "dhcpnet lease" "$d" "busybox udhcpc -q -n" "$u" "ip netns exec true (overhead)" "$n"
awk -v d="$d" -v u="$u" 'BEGIN {printf "ratio dhcpnet/udhcpc: %.3f (goal <= 0.15)\n", d/u}'

ip netns exec "$cli" "$bin" --state-dir "$state" release -i veth0 --all -o json >/dev/null
sleep 1
one=() hundred=()
for ((i = 0; i < 7; i++)); do
  one+=("$(timeit ip netns exec "$cli" "$bin" --state-dir "$state" lease -i veth0 -o json)")
  hundred+=("$(timeit ip netns exec "$cli" "$bin" --state-dir "$state" lease -i veth0 --count 100 -o json)")
  ip netns exec "$cli" "$bin" --state-dir "$state" release -i veth0 --all -o json >/dev/null
  sleep 1 # let dnsmasq work through the 100 RELEASEs (one lease-file write each)
done
o=$(printf '%s\n' "${one[@]}" | median)
h=$(printf '%s\n' "${hundred[@]}" | median)
echo "== batch: lease --count 100 vs one lease, median of 7 (ms) =="
printf '%-36s %8s ms\n' "lease (1)" "$o" "lease --count 100" "$h"
awk -v o="$o" -v h="$h" 'BEGIN {printf "ratio count100/single: %.2f (goal <= 10)\n", h/o}'
