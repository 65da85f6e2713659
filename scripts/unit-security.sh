#!/usr/bin/env bash
# Print `systemd-analyze security` for contrib/dhcpnet.service: each
# setting's verdict and the overall exposure score (README records it;
# lower is better, 10 is a unit with no sandboxing). --offline reads the
# unit file itself, so this needs no running systemd.
set -euo pipefail
cd "$(dirname "$0")/.."
exec systemd-analyze security --offline=yes --no-pager "$@" contrib/dhcpnet.service
