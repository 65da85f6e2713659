#!/usr/bin/env bash
# Run every check CI runs: formatting, clippy (warnings are errors), unit
# tests, and the integration labs (root needed; under CI=true a lab that
# cannot be built is a failure, not a skip).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets --no-fail-fast "$@"
