#!/usr/bin/env bash
# Build the strategy modules to wasm, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-strategies.sh
cargo test --workspace --all-targets "$@"
