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
# The chain tests' real parts: anvil and solc from npm (pinned, tools/chain);
# with the flag set a missing anvil fails those tests instead of skipping.
./scripts/chain-setup.sh
export BULKHEAD_REQUIRE_CHAIN=1
# NATS for the cluster tests (Debian's nats-server); with the flag set a
# missing nats-server fails those tests instead of skipping.
./scripts/nats-setup.sh
export BULKHEAD_REQUIRE_NATS=1
# Lints are part of the suite: the workspace's [lints] (unsafe only in the
# sandbox and the SDK, documented; a function-length ceiling; no platform
# libm in decisions) and clippy's defaults, as errors; and rustfmt.
rustup component add clippy rustfmt >/dev/null 2>&1 || true
cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo test --workspace --all-targets "$@"
