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
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends nats-server >/dev/null
