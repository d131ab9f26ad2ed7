#!/usr/bin/env bash
# Before / after, side by side in one invocation: Bulkhead at a base revision
# against the working tree, on the same machine, data and wasm modules.
# Issue 13's benchmark ("the bounds must cost < 3 %").
#
#   bench/compare.sh                       # base b42c379, 2M events, 5 reps
#   bench/compare.sh --base REV --events N --reps R
#
# For each tree it builds (release, one shared target dir) the `bulkhead`
# CLI and bench/runner, then alternates base / head runs R times:
#   - demo: `bulkhead run examples/demo.toml --quiet` (1M events, three
#     sandboxed strategies, risk, venue, journal), events per CPU second;
#   - native / sandboxed: bench-runner on the same generated CSV, one
#     bench-ema strategy, events per CPU second (its own `cpu_s`).
# Both trees use the working tree's wasm modules (same ABI version), so only
# the host differs. Prints the best and the median of the R reps and the
# head/base ratios. Writes bench/out/compare/results.txt.
set -euo pipefail
BASE=b42c379
EVENTS=2000000
REPS=5
while [ $# -gt 0 ]; do
    case "$1" in
        --base) BASE="$2"; shift 2 ;;
        --events) EVENTS="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench/out/compare"
T="$ROOT/target/bench-compare"
mkdir -p "$OUT" "$T"
step() { printf '\n==> %s\n' "$*" >&2; }

step "wasm modules (working tree)"
"$ROOT/scripts/build-strategies.sh" >/dev/null

SRC_BASE="$T/src-$BASE"
if [ ! -d "$SRC_BASE" ]; then
    step "exporting $BASE to $SRC_BASE"
    mkdir -p "$SRC_BASE"
    git -C "$ROOT" archive "$BASE" | tar -x -C "$SRC_BASE"
fi
rm -rf "$SRC_BASE/strategies/wasm"
cp -r "$ROOT/strategies/wasm" "$SRC_BASE/strategies/wasm"

build() { # src name
    step "building $2 (release)"
    (cd "$1" && CARGO_TARGET_DIR="$T" cargo build --quiet --release -p bulkhead)
    cp "$T/release/bulkhead" "$OUT/bulkhead-$2"
    (cd "$1/bench/runner" && CARGO_TARGET_DIR="$T" cargo build --quiet --release)
    cp "$T/release/bench-runner" "$OUT/runner-$2"
}
build "$SRC_BASE" base
build "$ROOT" head

DATA="$OUT/data.csv"
if [ "$(cat "$DATA.meta" 2>/dev/null)" != "$EVENTS" ]; then
    "$OUT/bulkhead-head" gen-data --events "$EVENTS" --seed 42 --out "$DATA"
    echo "$EVENTS" > "$DATA.meta"
fi
WASM="$ROOT/strategies/wasm/bench_ema.wasm"

RES="$OUT/runs.txt"
: > "$RES"
# CPU seconds (user + system) of each run, from the kernel's accounting of
# the child: robust to other load on the machine, unlike wall time.
python3 - "$OUT" "$ROOT" "$SRC_BASE" "$DATA" "$WASM" "$REPS" "$RES" <<'PY'
import json, resource, subprocess, sys
out, root, src_base, data, wasm, reps, res = sys.argv[1:]
def cpu(cmd):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), p.stdout
with open(res, "a") as f:
    for rep in range(int(reps)):
        for who, src in (("base", src_base), ("head", root)):
            print(f"==> rep {rep + 1}: {who}", file=sys.stderr)
            c, _ = cpu([f"{out}/bulkhead-{who}", "run", f"{src}/examples/demo.toml", "--quiet"])
            f.write(f"{who} demo {1_000_000 / c}\n")
            for mode in ("native", "sandboxed"):
                _, line = cpu([f"{out}/runner-{who}", "--data", data, "--mode", mode, "--wasm", wasm])
                d = json.loads(line.strip().splitlines()[-1])
                f.write(f"{who} {mode} {d['events'] / d['cpu_s']}\n")
            f.flush()
PY

python3 - "$RES" "$BASE" "$EVENTS" "$REPS" <<'PY' | tee "$OUT/results.txt"
import statistics, sys
runs, base, events, reps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
d = {}
for line in open(runs):
    who, what, v = line.split()
    d.setdefault((who, what), []).append(float(v))
print(f"bench/compare.sh --base {base} --events {events} --reps {reps}")
print(f"{'':10} {'base best':>12} {'head best':>12} {'head/base':>10} {'base median':>12} {'head median':>12} {'head/base':>10}")
for what in ("demo", "native", "sandboxed"):
    b, h = d[("base", what)], d[("head", what)]
    print(f"{what:10} {max(b):12,.0f} {max(h):12,.0f} {max(h)/max(b):10.3f} {statistics.median(b):12,.0f} {statistics.median(h):12,.0f} {statistics.median(h)/statistics.median(b):10.3f}")
for who in ("base", "head"):
    n, s = d[(who, "native")], d[(who, "sandboxed")]
    print(f"sandboxed/native slowdown ({who}): best {max(n)/max(s):.3f}x, median {statistics.median(n)/statistics.median(s):.3f}x")
PY
