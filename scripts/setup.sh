#!/usr/bin/env bash
# Install what building and testing dhcpnet needs (Debian 12, as root):
# dnsmasq and kea (real DHCP servers), busybox (udhcpc for the benchmark and
# the root of test images), iproute2/ping/nftables (labs), user-mode-linux
# (a kernel with 802.1Q for the VLAN tests), docker.io (a real engine),
# python3 (the hostile DHCP responder of tests/hostile.rs), python3-seccomp
# (the unit's system call filter, tests/hardening_edges.rs); then a current
# Docker Engine unpacked beside it (see below) and cargo-deb
# (tests/package.rs). Safe to run again: what is already there is skipped.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(dnsmasq-base kea-dhcp4-server busybox-static iproute2 iputils-ping nftables user-mode-linux docker.io python3 python3-seccomp debian-archive-keyring)
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

# A current Docker Engine for the tests, beside Debian 12's 20.10
# (tests/common/docker.rs, engine26()): Debian 13 (trixie)'s docker.io 26.1,
# its CLI, containerd, tini and Compose v2, unpacked into one directory and
# never installed. apt-get works on a source list, lists and cache of its
# own, so the machine's apt configuration never sees trixie. trixie's runc
# needs glibc 2.38: it is not fetched (and removed should a package bring
# it), so Debian 12's /usr/sbin/runc (from docker.io above) is used.
docker26=${DHCPNET_TEST_DOCKER26:-/opt/dhcpnet-test/docker26}
docker26_pkgs=(docker.io docker-cli containerd tini docker-compose)
if [ ! -e "$docker26/.complete" ]; then
  # bookworm's debian-archive-keyring (2023.3+deb12u1 and later) carries
  # the key that signs trixie's InRelease.
  keyring=/usr/share/keyrings/debian-archive-trixie-automatic.gpg
  if [ ! -e "$keyring" ]; then
    echo "setup: $keyring missing (upgrade debian-archive-keyring)" >&2
    exit 1
  fi
  apt_dir=$(dirname "$docker26")/apt-trixie
  mkdir -p "$apt_dir/sources" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
    "$keyring" > "$apt_dir/sources/trixie.sources"
  apt_trixie=(apt-get -q -o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$apt_dir/sources"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
  "${apt_trixie[@]}" update >/dev/null
  debs=$(mktemp -d)
  tmp="$docker26.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  (cd "$debs" && "${apt_trixie[@]}" download "${docker26_pkgs[@]}" >/dev/null)
  for deb in "$debs"/*.deb; do
    dpkg -x "$deb" "$tmp"
    dpkg-deb -f "$deb" Package Version | paste -sd' ' >> "$tmp/.complete.new"
  done
  rm -rf "$debs"
  rm -f "$tmp/usr/sbin/runc" "$tmp/usr/bin/runc"
  "$tmp/usr/sbin/dockerd" --version >/dev/null
  "$tmp/usr/bin/containerd" --version >/dev/null
  "$tmp/usr/libexec/docker/cli-plugins/docker-compose" version >/dev/null
  # .complete (the package versions) marks a finished unpack.
  mv "$tmp/.complete.new" "$tmp/.complete"
  rm -rf "$docker26"
  mv "$tmp" "$docker26"
  echo "setup: $("$docker26/usr/sbin/dockerd" --version) unpacked in $docker26"
fi

command -v cargo >/dev/null || { echo "setup: cargo (Rust toolchain) is required" >&2; exit 1; }
# cargo-deb builds the Debian package (tests/package.rs).
cargo_deb_version=3.8.0
if ! cargo deb --version >/dev/null 2>&1; then
  cargo install --locked cargo-deb --version "$cargo_deb_version"
fi
echo "setup: all packages present"
