#!/usr/bin/env bash
# Regenerate completions/ and man/ from the command line definition.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/dhcpnet
mkdir -p completions man
"$bin" completions bash > completions/dhcpnet.bash
"$bin" completions zsh > completions/_dhcpnet
"$bin" completions fish > completions/dhcpnet.fish
rm -f man/*.1
"$bin" man --out-dir man
echo "regenerated completions/ and man/"
