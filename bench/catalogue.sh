#!/usr/bin/env bash
# Parquet catalogue vs CSV (issue 15 item 3): reader ns/event and whole-run
# events/s on the demo's market (1M generator events, written with gen-data,
# then imported). Release build. Usage: bash bench/catalogue.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-examples/out/catalogue-bench}
mkdir -p "$out"
cargo build --release -p bulkhead -p bulkhead-data --example read_speed >/dev/null
bh=./target/release/bulkhead
$bh gen-data --out "$out/demo.csv" --events 1000000
$bh data import --config examples/demo.toml --file "$out/demo.csv" --out "$out/demo.parquet"
ls -l "$out/demo.csv" "$out/demo.parquet"
./target/release/examples/read_speed "$out/demo.csv" "$out/demo.parquet"
# the demo config with its data section pointed at each file
abs=$(cd "$out" && pwd)
for fmt in bulkhead parquet; do
  f=$([ $fmt = bulkhead ] && echo demo.csv || echo demo.parquet)
  python3 - "$abs/$f" $fmt "$abs/demo-$fmt.toml" <<'PY'
import sys, re
s = open("examples/demo.toml").read()
start = s.index("[data.generator]"); end = s.index("\n\n", start)
s = s[:start] + f'[data]\nfile = "{sys.argv[1]}"\nformat = "{sys.argv[2]}"' + s[end:]
ex = __import__("os").path.abspath("examples")
s = s.replace('"../strategies/', f'"{ex}/../strategies/').replace('"policies/', f'"{ex}/policies/')
s = s.replace('journal = "out/demo.journal"', f'journal = "{sys.argv[3]}.journal"').replace('"out/module-cache"', f'"{ex}/out/module-cache"')
open(sys.argv[3], "w").write(s)
PY
  for i in 1 2 3; do
    echo -n "run $fmt: "; $bh run "$abs/demo-$fmt.toml" --quiet | grep "wall time"
  done
done
