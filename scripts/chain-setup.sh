#!/usr/bin/env bash
# Installs the pinned chain tools (anvil, solc-js) from tools/chain's
# lockfile into tools/chain/node_modules. Idempotent: does nothing when the
# installed tree already matches the lockfile. Prints nothing on success.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tools/chain"
anvil="$dir/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
stamp="$dir/node_modules/.bulkhead-lock"
if [[ -x "$anvil" && -f "$stamp" ]] && cmp -s "$stamp" "$dir/package-lock.json"; then
  exit 0
fi
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
chmod +x "$anvil"
cp "$dir/package-lock.json" "$stamp"
