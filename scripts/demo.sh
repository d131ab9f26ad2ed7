#!/usr/bin/env bash
# Set up everything on a fresh machine and run the bundled demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-strategies.sh
cargo build --release -p bulkhead
./target/release/bulkhead run examples/demo.toml
./target/release/bulkhead journal verify examples/out/demo.journal
