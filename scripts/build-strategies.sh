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
    -p bh-market-maker -p bh-momentum -p bh-misbehaving

TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
OUT_IN="$TARGET_DIR/wasm32-unknown-unknown/wasm"
OUT="$ROOT/strategies/wasm"
mkdir -p "$OUT"
for name in market_maker momentum misbehaving; do
    cp "$OUT_IN/bh_${name}.wasm" "$OUT/${name}.wasm"
done

BULKHEAD_REQUIRE_WASM=1 BULKHEAD_WASM_DIR="$OUT" \
    cargo test --quiet -p bulkhead-sdk --test wasm_modules

echo "strategy modules:"
for f in "$OUT"/*.wasm; do
    printf '  %-20s %8d bytes\n' "$(basename "$f")" "$(wc -c < "$f")"
done
