#!/usr/bin/env bash
# Issue 8: side-by-side benchmark — Bulkhead sandboxed vs Bulkhead native vs
# NautilusTrader, same strategy (strategies/bench-ema), same data, one run.
#
#   bench/run.sh                      # full: 10M events everywhere (Nautilus takes long: see BENCHMARKS.md)
#   bench/run.sh --events 200000      # quick
#   bench/run.sh --skip-nautilus      # no Python / PyPI needed
#
# Options:
#   --events N            events to generate and run (default 10000000)
#   --seed S              generator seed (default 42)
#   --nautilus-events N   run NautilusTrader (and a same-data Bulkhead pair) on the
#                         first N events only (default: all)
#   --scaling-events N    events per scaling run (default: min(events, 1000000), and at
#                         most 10000000 / strategies, so every scaling run does about
#                         the same number of strategy callbacks: 1000 strategies
#                         see 10000 events)
#   --scaling "1 10 ..."  strategy counts for the scaling runs (default "1 10 100 1000")
#   --scaling-memory-mib N  each scaled strategy's memory limit (default 2: bh-bench-ema peaks at
#                         ~1.1 MiB; the pool's slots are sized to it, as `bulkhead run` sizes them
#                         to the config's limits); 64 = the default limit
#   --skip-nautilus       skip the Python side
#   --skip-scaling        skip the scaling runs
#   --durable-events N    events of the `release_gate = durable` run (default: min(events, 200000);
#                         it fsyncs once per market event that releases an order)
#   --skip-crossing       skip the empty-crossing criterion bench (cargo bench, bulkhead-sandbox)
#   --config "k = v; ..." strategy parameters (both engines; default: the crate's defaults)
#   --out DIR             output directory (default bench/out)
#
# Writes bench/out/runs.jsonl (one JSON object per run), bench/out/results.json,
# bench/out/scaling.png (copied to bench/scaling.png) and prints the tables.
set -euo pipefail

ARGS="$*"
EVENTS=10000000
SEED=42
NAUT_EVENTS=""
SCALE_EVENTS=""
SCALING="1 10 100 1000"
SKIP_NAUT=0
SKIP_SCALING=0
SKIP_CROSSING=0
SCALE_MEM=2
DUR_EVENTS=""
CONFIG=""
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --events) EVENTS="$2"; shift 2 ;;
        --seed) SEED="$2"; shift 2 ;;
        --nautilus-events) NAUT_EVENTS="$2"; shift 2 ;;
        --scaling-events) SCALE_EVENTS="$2"; shift 2 ;;
        --scaling) SCALING="$2"; shift 2 ;;
        --skip-nautilus) SKIP_NAUT=1; shift ;;
        --skip-scaling) SKIP_SCALING=1; shift ;;
        --skip-crossing) SKIP_CROSSING=1; shift ;;
        --scaling-memory-mib) SCALE_MEM="$2"; shift 2 ;;
        --durable-events) DUR_EVENTS="$2"; shift 2 ;;
        --config) CONFIG="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$NAUT_EVENTS" ] || NAUT_EVENTS="$EVENTS"
[ -n "$DUR_EVENTS" ] || DUR_EVENTS=$(( EVENTS < 200000 ? EVENTS : 200000 ))
[ "$NAUT_EVENTS" -le "$EVENTS" ] || NAUT_EVENTS="$EVENTS"
SCALE_EXPLICIT=1
if [ -z "$SCALE_EVENTS" ]; then
    SCALE_EXPLICIT=0
    SCALE_EVENTS=$(( EVENTS < 1000000 ? EVENTS : 1000000 ))
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
[ -n "$OUT" ] || OUT="$BENCH/out"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
cd "$ROOT"
step() { printf '\n==> %s\n' "$*" >&2; }

step "building the strategy to wasm (bh-bench-ema)"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
cargo build --quiet --profile wasm --target wasm32-unknown-unknown -p bh-bench-ema
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
cp "$TARGET_DIR/wasm32-unknown-unknown/wasm/bh_bench_ema.wasm" "$OUT/bench_ema.wasm"

step "building the bulkhead CLI and bench/runner (release)"
cargo build --quiet --release -p bulkhead
BULKHEAD="$TARGET_DIR/release/bulkhead"
(cd "$BENCH/runner" && CARGO_TARGET_DIR="$BENCH/target" cargo build --quiet --release)
RUNNER="$BENCH/target/release/bench-runner"

DATA="$OUT/btcusdt.csv"
STAMP="events=$EVENTS seed=$SEED"
if [ -f "$DATA" ] && [ "$(cat "$DATA.meta" 2>/dev/null)" = "$STAMP" ]; then
    step "data: reusing $DATA ($STAMP)"
else
    step "data: generating $EVENTS events, seed $SEED -> $DATA"
    "$BULKHEAD" gen-data --events "$EVENTS" --seed "$SEED" --out "$DATA"
    echo "$STAMP" > "$DATA.meta"
fi

PY="$BENCH/.venv/bin/python"
if [ "$SKIP_NAUT" = 0 ] && ! "$PY" -c 'import nautilus_trader, matplotlib' 2>/dev/null; then
    step "creating bench/.venv and installing nautilus_trader + matplotlib from PyPI"
    python3 -m venv "$BENCH/.venv"
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet "nautilus_trader==1.221.0" matplotlib
fi

# Issue 15: the Bulkhead runs read the same events from a Parquet catalogue
# (no decimal parsing); NautilusTrader and one Bulkhead run read the CSV.
PARQUET="${DATA%.csv}.parquet"
if [ ! -f "$PARQUET" ] || [ "$PARQUET" -ot "$DATA" ]; then
    step "data: importing $DATA -> $PARQUET"
    "$RUNNER" --data "$DATA" --mode import
fi

RUNS="$OUT/runs.jsonl"
: > "$RUNS"
# One run: label, then the command. Appends {"label": ..., <the run's JSON>} to runs.jsonl.
run() {
    local label="$1"; shift
    step "run: $label"
    # Start each run with no dirty pages of an earlier run's journal still
    # being written back (a 10 M-event journal is ~1.5 GB).
    sync
    local line
    line="$("$@" | tail -n 1)"
    echo "$line" >&2
    printf '{"label":"%s",%s\n' "$label" "${line#\{}" >> "$RUNS"
}

run parse "$RUNNER" --data "$PARQUET" --mode parse
run native "$RUNNER" --data "$PARQUET" --mode native --config "$CONFIG"
run sandboxed "$RUNNER" --data "$PARQUET" --mode sandboxed --wasm "$OUT/bench_ema.wasm" --config "$CONFIG" --verify
run parse_csv "$RUNNER" --data "$DATA" --mode parse
run sandboxed_csv "$RUNNER" --data "$DATA" --mode sandboxed --wasm "$OUT/bench_ema.wasm" --config "$CONFIG"
# Issue 15: durability (the runner's journal lives under the current
# directory, a real disk): group commit under the default gate, then the
# durable gate (orders wait for their fsync at the end of each market event).
run sandboxed_group "$RUNNER" --data "$PARQUET" --mode sandboxed --wasm "$OUT/bench_ema.wasm" \
    --config "$CONFIG" --fsync "every:64:2ms"
run sandboxed_durable "$RUNNER" --data "$PARQUET" --mode sandboxed --wasm "$OUT/bench_ema.wasm" \
    --config "$CONFIG" --fsync "every:64:2ms" --release-gate durable --events "$DUR_EVENTS"

if [ "$SKIP_NAUT" = 0 ]; then
    if [ "$NAUT_EVENTS" != "$EVENTS" ]; then
        run native_subset "$RUNNER" --data "$PARQUET" --mode native --events "$NAUT_EVENTS" --config "$CONFIG"
        run sandboxed_subset "$RUNNER" --data "$PARQUET" --mode sandboxed --events "$NAUT_EVENTS" \
            --wasm "$OUT/bench_ema.wasm" --config "$CONFIG"
    fi
    run nautilus "$PY" "$BENCH/nautilus_ema.py" --data "$DATA" --events "$NAUT_EVENTS" --config "$CONFIG"
fi

if [ "$SKIP_SCALING" = 0 ]; then
    for n in $SCALING; do
        n_events="$SCALE_EVENTS"
        if [ "$SCALE_EXPLICIT" = 0 ] && [ $(( 10000000 / n )) -lt "$n_events" ]; then
            n_events=$(( 10000000 / n ))
        fi
        run "scaling_$n" "$RUNNER" --data "$PARQUET" --mode sandboxed --strategies "$n" --events "$n_events" \
            --wasm "$OUT/bench_ema.wasm" --config "$CONFIG" --memory-mib "$SCALE_MEM"
    done
fi

if [ "$SKIP_CROSSING" = 0 ]; then
    step "empty crossing: cargo bench -p bulkhead-sandbox --bench crossing"
    cargo bench --quiet -p bulkhead-sandbox --bench crossing -- --noplot >&2
    python3 - "$TARGET_DIR/criterion/empty_crossing" >> "$RUNS" <<'PY'
import json, os, sys
base = sys.argv[1]
out = {"label": "crossing"}
for name in sorted(os.listdir(base)):
    est = os.path.join(base, name, "new", "estimates.json")
    if os.path.exists(est):
        out[name + "_ns"] = json.load(open(est))["median"]["point_estimate"]
print(json.dumps(out))
PY
fi

step "report"
REPORT_PY="$PY"
"$REPORT_PY" -c 'import matplotlib' 2>/dev/null || REPORT_PY=python3
# Exit 3 from the report: the engines disagree beyond the documented
# tolerance (the tables are still written; the run fails after the plot).
status=0
"$REPORT_PY" "$BENCH/report.py" --runs "$RUNS" --out "$OUT" --command "bench/run.sh $ARGS" || status=$?
if [ "$OUT" = "$BENCH/out" ] && [ -f "$OUT/scaling.png" ]; then
    cp "$OUT/scaling.png" "$BENCH/scaling.png"
fi
exit "$status"
