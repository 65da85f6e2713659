#!/usr/bin/env bash
# Install what building and testing dhcpnet needs (Debian 12, as root):
# dnsmasq and kea (real DHCP servers), busybox (udhcpc for the benchmark and
# the root of test images), iproute2/ping/nftables (labs), user-mode-linux
# (a kernel with 802.1Q for the VLAN tests), docker.io (a real engine),
# python3 (the hostile DHCP responder of tests/hostile.rs).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(dnsmasq-base kea-dhcp4-server busybox-static iproute2 iputils-ping nftables user-mode-linux docker.io python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # Installing must not start services: a system dockerd would create docker0
  # and iptables rules, kea would serve DHCP. The tests start their own,
  # isolated (tests/common/docker.rs). policy-rc.d 101 = "do not start".
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust toolchain) is required" >&2; exit 1; }
echo "setup: all packages present"
