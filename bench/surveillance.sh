#!/usr/bin/env bash
# Issue 16: what surveillance costs. Engine events/s with every rule on
# (bench/surveillance.toml) vs off, side by side in one invocation, same
# strategy (bh-bench-ema, sandboxed), same data (Parquet), runs interleaved
# off/on so machine drift hits both.
#
#   bench/surveillance.sh                    # 2 M events, 1 and 10 strategies, 3 reps
#   bench/surveillance.sh --events 500000 --reps 5 --strategies "1 10 100"
#
# Prints one line per run (the runner's JSON) and a table of medians with
# the on/off ratio; appends the JSON lines to bench/out/surveillance.jsonl.
set -euo pipefail
EVENTS=2000000
REPS=3
STRATS="1 10"
while [ $# -gt 0 ]; do
    case "$1" in
        --events) EVENTS="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --strategies) STRATS="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "surveillance.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
mkdir -p "$OUT"
cd "$ROOT"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
cargo build --quiet --profile wasm --target wasm32-unknown-unknown -p bh-bench-ema
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
cp "$TARGET_DIR/wasm32-unknown-unknown/wasm/bh_bench_ema.wasm" "$OUT/bench_ema.wasm"
cargo build --quiet --release -p bulkhead
(cd "$BENCH/runner" && CARGO_TARGET_DIR="$BENCH/target" cargo build --quiet --release)
RUNNER="$BENCH/target/release/bench-runner"
DATA="$OUT/surv-$EVENTS.csv"
[ -f "$DATA" ] || "$TARGET_DIR/release/bulkhead" gen-data --events "$EVENTS" --seed 42 --out "$DATA"
PARQUET="${DATA%.csv}.parquet"
[ -f "$PARQUET" ] || "$RUNNER" --data "$DATA" --mode import
LOG="$OUT/surveillance.jsonl"
for n in $STRATS; do
    for r in $(seq 1 "$REPS"); do
        for mode in off on; do
            extra=()
            [ "$mode" = on ] && extra=(--surveillance "$BENCH/surveillance.toml")
            line="$("$RUNNER" --data "$PARQUET" --mode sandboxed --wasm "$OUT/bench_ema.wasm" \
                --strategies "$n" --memory-mib 2 "${extra[@]}" | tail -n 1)"
            echo "$line"
            printf '{"rules":"%s","rep":%s,%s\n' "$mode" "$r" "${line#\{}" >> "$LOG"
        done
    done
done | tee "$OUT/surveillance-last.jsonl"
python3 - "$OUT/surveillance-last.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("\nstrategies | rules off ev/s (median) | rules on ev/s (median) | on/off | alerts (on) | fills")
for n in sorted({r["strategies"] for r in rows}):
    off = [r["events_per_s"] for r in rows if r["strategies"] == n and not r["surveillance"]]
    on = [r["events_per_s"] for r in rows if r["strategies"] == n and r["surveillance"]]
    alerts = max(r["alerts"] for r in rows if r["strategies"] == n and r["surveillance"])
    fills = max(r["fills"] for r in rows if r["strategies"] == n)
    mo, mn = statistics.median(off), statistics.median(on)
    print(f"{n} | {mo:,.0f} | {mn:,.0f} | {mn / mo:.3f} (cost {100 * (1 - mn / mo):.1f} %) | {alerts} | {fills}")
PY
