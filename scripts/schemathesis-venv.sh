#!/usr/bin/env bash
# Create target/schemathesis-venv with the pinned OpenAPI fuzzer that
# crates/bulkhead-server/tests/openapi_fuzz.rs runs against a live server.
# Idempotent: does nothing if the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.32.5
VENV=target/schemathesis-venv
if [ -x "$VENV/bin/schemathesis" ] && "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $VERSION"; then
    exit 0
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
"$VENV/bin/schemathesis" --version
