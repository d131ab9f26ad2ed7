#!/usr/bin/env bash
# Run every config of the surveillance evaluation set and measure the
# journals (issue 16, item 6). Needs the modules built
# (scripts/build-strategies.sh) and a release `bulkhead` (or BULKHEAD=path).
# Writes out/<case>.journal and prints the tables README.md shows.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BULKHEAD="${BULKHEAD:-$ROOT/target/release/bulkhead}"
[ -x "$BULKHEAD" ] || cargo build --release -p bulkhead
CASES="benign spoofer layerer quote_stuffer wash momentum_igniter runaway runaway_oneway"
journals=()
for c in $CASES; do
    "$BULKHEAD" run "examples/surveillance/$c.toml" > "examples/surveillance/out/$c.report.txt"
    "$BULKHEAD" journal verify "examples/surveillance/out/$c.journal" > /dev/null
    journals+=("examples/surveillance/out/$c.journal")
done
python3 examples/surveillance/measure.py --bulkhead "$BULKHEAD" "${journals[@]}"
