#!/usr/bin/env bash
# Build the example strategies to wasm32-unknown-unknown (no WASI) and copy the
# modules to strategies/wasm/. Then check that every module imports only the
# `bulkhead` functions of the ABI, with the right signatures, and exports what
# the host requires (crates/bulkhead-sdk/tests/wasm_modules.rs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

rustup target add wasm32-unknown-unknown

cargo build --profile wasm --target wasm32-unknown-unknown \
    -p bh-market-maker -p bh-momentum -p bh-misbehaving -p bh-bench-ema -p bh-amm-arb

TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
OUT_IN="$TARGET_DIR/wasm32-unknown-unknown/wasm"
OUT="$ROOT/strategies/wasm"
mkdir -p "$OUT"
for name in market_maker momentum misbehaving bench_ema amm_arb; do
    cp "$OUT_IN/bh_${name}.wasm" "$OUT/${name}.wasm"
done

# The hostile catalogue (DESIGN.md §5) is its own workspace (the root one
# excludes it); its WAT cases are compiled by the containment tests.
HOSTILE="$ROOT/strategies/hostile"
cargo build --target wasm32-unknown-unknown --release --manifest-path "$HOSTILE/Cargo.toml"
HOSTILE_TARGET="$(cargo metadata --format-version 1 --no-deps --manifest-path "$HOSTILE/Cargo.toml" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
mkdir -p "$OUT/hostile"
for f in "$HOSTILE_TARGET"/wasm32-unknown-unknown/release/bh_hostile_*.wasm; do
    name="$(basename "$f" .wasm)"
    cp "$f" "$OUT/hostile/${name#bh_hostile_}.wasm"
done

BULKHEAD_REQUIRE_WASM=1 BULKHEAD_WASM_DIR="$OUT" \
    cargo test --quiet -p bulkhead-sdk --test wasm_modules

echo "strategy modules:"
for f in "$OUT"/*.wasm "$OUT"/hostile/*.wasm; do
    printf '  %-28s %8d bytes\n' "${f#"$OUT"/}" "$(wc -c < "$f")"
done
