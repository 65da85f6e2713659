#!/usr/bin/env bash
# Run every test: unit tests, and the integration labs (root needed; under
# CI=true a lab that cannot be built is a failure, not a skip).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets --no-fail-fast "$@"
