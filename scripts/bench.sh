#!/usr/bin/env bash
# Benchmarks for the DHCP engine, printed as figures (not a timed test).
#
#  1. One whole `dhcpnet lease` process vs one `busybox udhcpc -q -n` full
#     exchange on the same lab, alternating, medians (goal: <= 0.15x udhcpc).
#  2. `lease --count 100` vs one single lease (goal: <= 10x the single).
#  3. The record store: one `dhcpnet lease` with 0 and with 10,000 records
#     already in the state directory (goal: <= 1.2x), the store's own part
#     of it done the keyed way (`examples/store_bench.rs put`: lock, get,
#     put) and through `lease::update`, and `dhcpnet leases -o json` of
#     10,000 records. The records are written by `store_bench gen`. With
#     OLD_DHCPNET=/path/to/an/older/dhcpnet, the same figures for it (its
#     records in one leases.json) are printed for comparison.
#
# The lab: two namespaces joined by a veth pair, dnsmasq --no-ping in one.
# Needs root, dnsmasq, busybox. Usage: scripts/bench.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-31}
cargo build --release --quiet
cargo build --release --quiet --example store_bench
bin=$PWD/target/release/dhcpnet
gen=$PWD/target/release/examples/store_bench
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

# 3. The record store.
records=${RECORDS:-10000}
small="$tmp/state-0" big="$tmp/state-$records"
"$gen" gen "$small" 0
"$gen" gen "$big" "$records"
mac=02:42:0a:4d:00:43
l0=() ln=() p0=() pn=() u0=() un=() ls=()
for st in "$small" "$big"; do # warm-up
  timeit ip netns exec "$cli" "$bin" --state-dir "$st" lease -i veth0 --mac $mac -o json >/dev/null
done
for ((i = 0; i < rounds; i++)); do
  l0+=("$(timeit ip netns exec "$cli" "$bin" --state-dir "$small" lease -i veth0 --mac $mac -o json)")
  ln+=("$(timeit ip netns exec "$cli" "$bin" --state-dir "$big" lease -i veth0 --mac $mac -o json)")
  p0+=("$(timeit "$gen" put "$small")")
  pn+=("$(timeit "$gen" put "$big")")
  u0+=("$(timeit "$gen" update "$small")")
  un+=("$(timeit "$gen" update "$big")")
  ls+=("$(timeit "$bin" --state-dir "$big" leases -o json)")
done
med() { printf '%s\n' "$@" | median; }
a=$(med "${l0[@]}") b=$(med "${ln[@]}") c=$(med "${p0[@]}") d=$(med "${pn[@]}")
e=$(med "${u0[@]}") f=$(med "${un[@]}") g=$(med "${ls[@]}")
echo "== the record store: 0 vs $records records, median of $rounds (ms) =="
printf '%-44s %8s ms\n' "dhcpnet lease (0 records)" "$a" "dhcpnet lease ($records records)" "$b" \
  "store_bench put: lock, get, put (0)" "$c" "store_bench put: lock, get, put ($records)" "$d" \
  "store_bench update (0)" "$e" "store_bench update ($records)" "$f" \
  "dhcpnet leases -o json ($records records)" "$g"
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v e="$e" -v f="$f" 'BEGIN {
  printf "ratio lease %d/0: %.2f (goal <= 1.2)\n", '"$records"', b/a
  printf "ratio keyed put %d/0: %.2f; update %d/0: %.2f\n", '"$records"', d/c, '"$records"', f/e }'

if [ -n "${OLD_DHCPNET:-}" ]; then
  osmall="$tmp/old-0" obig="$tmp/old-$records"
  "$gen" gen "$osmall" 0 --legacy
  "$gen" gen "$obig" "$records" --legacy
  o0=() on=() ol=()
  for st in "$osmall" "$obig"; do
    timeit ip netns exec "$cli" "$OLD_DHCPNET" --state-dir "$st" lease -i veth0 --mac $mac -o json >/dev/null
  done
  for ((i = 0; i < rounds; i++)); do
    o0+=("$(timeit ip netns exec "$cli" "$OLD_DHCPNET" --state-dir "$osmall" lease -i veth0 --mac $mac -o json)")
    on+=("$(timeit ip netns exec "$cli" "$OLD_DHCPNET" --state-dir "$obig" lease -i veth0 --mac $mac -o json)")
    ol+=("$(timeit "$OLD_DHCPNET" --state-dir "$obig" leases -o json)")
  done
  a=$(med "${o0[@]}") b=$(med "${on[@]}") g=$(med "${ol[@]}")
  echo "== the same with $OLD_DHCPNET (one leases.json), median of $rounds (ms) =="
  printf '%-44s %8s ms\n' "dhcpnet lease (0 records)" "$a" "dhcpnet lease ($records records)" "$b" \
    "dhcpnet leases -o json ($records records)" "$g"
  awk -v a="$a" -v b="$b" 'BEGIN {printf "ratio lease %d/0: %.2f\n", '"$records"', b/a}'
fi
