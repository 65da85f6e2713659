#!/usr/bin/env bash
# dhcpnet's main job end to end, in a throwaway lab that touches no real
# interface: a server namespace with dnsmasq behind a veth whose other end,
# in the root namespace, is the macvlan parent (the "LAN"), and a Docker
# Engine of the demo's own (own data root, exec root and socket, no bridge,
# no iptables; Debian 13's 26.1 from scripts/setup.sh when unpacked, else the
# system's dockerd), holding one image made from busybox-static.
#
#   1. probe, create, run two containers with hostnames, ping them from the
#      LAN side, the server's lease table, rm, delete;
#   2. the IPAM plugin: `dhcpnet daemon`, a network with --ipam-driver
#      dhcpnet, plain `docker run`, a restart (same address, one lease), and
#      Docker Compose;
#   3. everything removed at the end (also on failure or Ctrl-C).
#
# As root. DHCPNET_BIN=path skips the build (e.g. target/debug/dhcpnet).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${DHCPNET_BIN:-}" ]; then
  bin=$(realpath "$DHCPNET_BIN")
else
  echo "building dhcpnet (cargo build --release; a few minutes the first time) ..."
  cargo build --release --quiet
  bin=$PWD/target/release/dhcpnet
fi

d26=${DHCPNET_TEST_DOCKER26:-/opt/dhcpnet-test/docker26}
tmp=$(mktemp -d /tmp/dhcpnet-demo.XXXXXX)
srv=dhcpnet-demo-srv-$$
parent=dnd$$
image=dhcpnet-demo/busybox:latest
plugin_sock=/run/docker/plugins/dhcpnet.sock
dockerd_pid='' dns_pid='' daemon_pid='' lock_fd=''

say() { printf '\n== %s\n' "$*"; }
show() { local s="$*"; echo "\$ ${s/#dk /docker }"; "$@"; }

cleanup() {
  set +e
  if [ -n "$dockerd_pid" ]; then
    for c in $(dk ps -aq 2>/dev/null); do dk rm -f "$c" >/dev/null 2>&1; done
    for n in $(dk network ls -q --filter type=custom 2>/dev/null); do dk network rm "$n" >/dev/null 2>&1; done
  fi
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  [ -n "$dockerd_pid" ] && kill "$dockerd_pid" 2>/dev/null && wait "$dockerd_pid" 2>/dev/null
  [ -n "$dns_pid" ] && kill "$dns_pid" 2>/dev/null && wait "$dns_pid" 2>/dev/null
  ip netns del "$srv" 2>/dev/null
  ip link del "$parent" 2>/dev/null
  grep -o " $tmp[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$tmp"
  echo; echo "demo lab removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the LAN: dnsmasq in a namespace, the root end of a veth as parent -----
ip netns add "$srv"
ip link add "$parent" type veth peer name veth0 netns "$srv"
ip -n "$srv" addr add 10.77.0.1/24 dev veth0
ip -n "$srv" link set lo up
ip -n "$srv" link set veth0 up
echo 1 > "/proc/sys/net/ipv6/conf/$parent/disable_ipv6"
ip link set "$parent" up
ip netns exec "$srv" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=veth0 \
  --bind-interfaces --no-ping --dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,600 \
  --dhcp-option=6,10.77.0.1 --domain=lab.test \
  --dhcp-leasefile="$tmp/server.leases" 2>"$tmp/dnsmasq.log" &
dns_pid=$!

# --- a Docker Engine of the demo's own ------------------------------------
mkdir -p "$tmp/data" "$tmp/exec" "$tmp/cli" "$tmp/root/bin"
echo '{}' > "$tmp/daemon.json"
if [ -f "$d26/.complete" ]; then
  export PATH="$d26/usr/sbin:$d26/usr/bin:$PATH"
  docker_cli=$d26/usr/bin/docker
  printf '{"cliPluginsExtraDirs": ["%s"]}\n' "$d26/usr/libexec/docker/cli-plugins" > "$tmp/cli/config.json"
else
  docker_cli=$(command -v /usr/bin/docker || command -v docker)
fi
export DOCKER_HOST=unix://$tmp/docker.sock DOCKER_CONFIG=$tmp/cli DHCPNET_DOCKER=$docker_cli
dk() { "$docker_cli" "$@"; }
dockerd --config-file "$tmp/daemon.json" --data-root "$tmp/data" --exec-root "$tmp/exec" \
  --pidfile "$tmp/dockerd.pid" -H "$DOCKER_HOST" --bridge=none --iptables=false \
  --ip6tables=false --ip-forward=false --ip-masq=false >"$tmp/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 100); do dk version >/dev/null 2>&1 && break; sleep 0.3; done
echo "Docker engine $(dk version --format '{{.Server.Version}}') (the demo's own, $DOCKER_HOST)"
cp "$(command -v busybox)" "$tmp/root/bin/busybox"
for a in sh sleep ip hostname cat; do ln -s busybox "$tmp/root/bin/$a"; done
mkdir -p "$tmp/root/etc" "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/dev" "$tmp/root/tmp"
tar -C "$tmp/root" -c . | dk import - "$image" >/dev/null

dn() { echo "\$ dhcpnet $*"; "$bin" --state-dir "$tmp/state" "$@"; }
ip_of() { dk inspect --format "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"; }
table() { echo "dnsmasq's lease table (expiry, MAC, IP, hostname, client id):"; sed 's/^/  /' "$tmp/server.leases"; }

# --- 1. dhcpnet create / run ----------------------------------------------
say "1. probe, create, run, ping, rm, delete"
dn probe "$parent"
dn create demo --parent "$parent"
dn run demo --hostname web-1 -- -d --name web "$image" sleep 600
dn run demo --hostname db-1 -- -d --name db "$image" sleep 600
dn leases
for c in web db; do
  a=$(ip_of "$c" demo)
  echo "\$ ping $a   # $c, from the LAN side (the DHCP server's namespace)"
  ip netns exec "$srv" ping -c 1 -W 2 "$a" | grep -E 'bytes from|loss'
done
table
echo "\$ docker run --network demo ...   # plain docker: Docker's IPAM has no address to give"
dk run -d --network demo --name bypass "$image" sleep 1 2>&1 | tail -n 1 || true
dk rm -f bypass >/dev/null 2>&1 || true   # created, never started
dn rm web db
dn delete demo
table

# --- 2. the IPAM plugin ---------------------------------------------------
say "2. the IPAM plugin: plain docker and Compose"
# Docker finds plugins only in /run/docker/plugins: take turns with the tests.
mkdir -p /run/lock /run/docker/plugins
exec {lock_fd}>/run/lock/dhcpnet-plugin-tests.lock
flock "$lock_fd"
"$bin" --state-dir "$tmp/state" daemon --plugin-socket "$plugin_sock" \
  --default-interface "$parent" 2>"$tmp/daemon.log" &
daemon_pid=$!
for _ in $(seq 50); do [ -S "$plugin_sock" ] && break; sleep 0.2; done
echo "dhcpnet daemon running (plugin on $plugin_sock, log $tmp/daemon.log)"
show dk network create -d macvlan --ipam-driver dhcpnet --subnet 10.77.0.0/24 \
  -o parent="$parent" --ipam-opt dhcp_interface="$parent" lan
show dk run -d --network lan --name app --hostname app-1 "$image" sleep 600
echo "app: $(ip_of app lan)"
show dk restart -t 0 app
echo "app after restart: $(ip_of app lan) (same address; one lease at the server)"
sleep 2
table
dn leases
echo "# doctor's restarts row: app has no fixed MAC (docker run --mac-address keeps an address across reboots)"
dn doctor "$parent" || true
show dk rm -f app
show dk network rm lan
if dk compose version >/dev/null 2>&1; then
  mkdir -p "$tmp/compose"
  cat > "$tmp/compose/compose.yaml" <<EOF
services:
  box:
    image: $image
    pull_policy: never
    hostname: box-1
    command: ["sleep", "600"]
    networks: [lan]
networks:
  lan:
    driver: macvlan
    driver_opts:
      parent: $parent
    ipam:
      driver: dhcpnet
      config:
        - subnet: 10.77.0.0/24
EOF
  echo "compose.yaml:"; sed 's/^/  /' "$tmp/compose/compose.yaml"
  (cd "$tmp/compose" && show dk compose -p demo up -d)
  echo "box: $(ip_of demo-box-1 demo_lan)"
  sleep 2
  table
  (cd "$tmp/compose" && show dk compose -p demo down -t 0)
else
  echo "(no Docker Compose v2 here: scripts/setup.sh unpacks it with Docker 26.1)"
fi
sleep 1
table
