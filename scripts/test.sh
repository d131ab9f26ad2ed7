#!/usr/bin/env bash
# Build the strategy modules to wasm, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-strategies.sh
# The OpenAPI fuzzer (pinned, in target/schemathesis-venv); with the flag
# set, a missing venv fails the server's openapi_fuzz test instead of
# skipping it.
./scripts/schemathesis-venv.sh
export BULKHEAD_REQUIRE_SCHEMATHESIS=1
cargo test --workspace --all-targets "$@"
