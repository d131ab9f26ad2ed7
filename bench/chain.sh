#!/usr/bin/env bash
# Issue 17: the chain path's latency and throughput, side by side with the
# node's own floor, in one invocation on this machine:
#  1. the node floor (crates/bulkhead-chain/benches/node.rs): eth_call,
#     a full simulation and sign + broadcast + receipt, through the client
#     the engine uses, N sequential samples each;
#  2. through the engine: `bulkhead run` of examples/chain/bench.toml.in
#     (the arbitrageur alone, trading on every gap, limits that do not bind,
#     lockstep) on a fresh anvil; the report's `chain latency:` line gives
#     intent -> decision and intent -> mined p50 / p99 and intents/s.
#
#   bench/chain.sh            # N = 500 floor samples, 5 000 market events
#   bench/chain.sh --n 200 --events 2000
set -euo pipefail
N=500
EVENTS=5000
while [ $# -gt 0 ]; do
    case "$1" in
        --n) N="$2"; shift 2 ;;
        --events) EVENTS="$2"; shift 2 ;;
        *) echo "usage: bench/chain.sh [--n N] [--events E]" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
./scripts/chain-setup.sh
./scripts/build-strategies.sh >/dev/null
cargo build -q --release -p bulkhead -p bulkhead-chain --features bulkhead-chain/devnet --bins
echo "== node floor (cargo bench -p bulkhead-chain --bench node -- $N)"
cargo bench -q -p bulkhead-chain --bench node -- "$N" 2>/dev/null | grep -v '^$'
echo "== through the engine (examples/chain/bench.toml.in, $EVENTS events)"
OUT=examples/chain/bench-out
mkdir -p "$OUT"
sed "s/^events = 5_000$/events = $EVENTS/" examples/chain/bench.toml.in > "$OUT/bench.toml.in"
target/release/devnet run "$OUT/bench.toml.in" "$OUT" -- target/release/bulkhead run '{config}' --quiet \
    | grep -E '^(wall time|chain)'
