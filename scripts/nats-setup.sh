#!/usr/bin/env bash
# Installs NATS (Debian's `nats-server` package, 2.9.x on bookworm) when
# `nats-server` is not on PATH: the real server the cluster tests start as a
# 3-server JetStream cluster. Idempotent: does nothing when it is there.
# Prints nothing on success.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
# Quiet on success; on failure print what apt said.
if ! log=$($SUDO apt-get update -qq 2>&1 && $SUDO apt-get install -y -qq --no-install-recommends nats-server 2>&1); then
  echo "$log" >&2
  echo "nats-setup: could not install nats-server with apt-get" >&2
  exit 1
fi
