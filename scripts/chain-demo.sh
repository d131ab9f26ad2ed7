#!/usr/bin/env bash
# The smart-contract demo (issue 17): installs anvil + solc (npm, pinned),
# builds the strategies and bulkhead, starts anvil with the demo contracts,
# runs examples/chain (an AMM arbitrageur and a hostile drainer), stops anvil,
# then replays the journal with no node.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/chain-setup.sh
./scripts/build-strategies.sh >/dev/null
cargo build --release -p bulkhead -p bulkhead-chain --features bulkhead-chain/devnet --bins
target/release/devnet run examples/chain/demo.toml.in examples/chain/out -- \
    target/release/bulkhead run '{config}' --quiet
mkdir -p examples/chain/out/modules
cp strategies/wasm/amm_arb.wasm strategies/wasm/hostile/chain_drainer.wasm examples/chain/out/modules/
target/release/bulkhead journal replay --modules examples/chain/out/modules examples/chain/out/journal
echo "chain decisions: target/release/bulkhead journal show examples/chain/out/journal --kind chain"
