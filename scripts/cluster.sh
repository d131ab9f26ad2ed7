#!/usr/bin/env bash
# A 3-server NATS JetStream cluster on loopback for operators and demos (the
# tests start their own with bulkhead-cluster's `localcluster` feature).
#
#   scripts/cluster.sh start DIR    # servers bh0..bh2, stores and logs under DIR
#   scripts/cluster.sh status DIR
#   scripts/cluster.sh stop DIR
#
# Client ports BULKHEAD_NATS_PORT, +1, +2 (default 4222..4224); cluster-route
# ports 2000 above them. `start` writes DIR/cluster.toml (a `[cluster]` config
# naming the three servers, node "n1", replicas 3) for `bulkhead journal push`.
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop|status DIR" >&2; exit 2
fi
base="${BULKHEAD_NATS_PORT:-4222}"
pidof_server() { [[ -f "$dir/s$1/pid" ]] && cat "$dir/s$1/pid"; }
alive() { local p; p="$(pidof_server "$1")" && [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; }

start() {
  command -v nats-server >/dev/null || { echo "nats-server missing: run scripts/nats-setup.sh" >&2; exit 1; }
  mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
  local i j routes
  for i in 0 1 2; do
    if alive "$i"; then echo "bh$i already running (pid $(pidof_server "$i"))"; continue; fi
    mkdir -p "$dir/s$i/store"
    routes=""
    for j in 0 1 2; do [[ $j != "$i" ]] && routes+="\"nats-route://127.0.0.1:$((base + 2000 + j))\", "; done
    cat > "$dir/s$i/nats.conf" <<CONF
server_name: bh$i
listen: "127.0.0.1:$((base + i))"
log_file: "$dir/s$i/server.log"
jetstream { store_dir: "$dir/s$i/store", max_memory_store: 64MB, max_file_store: 1GB }
cluster { name: bulkhead, listen: "127.0.0.1:$((base + 2000 + i))", routes: [$routes] }
CONF
    nohup nats-server -c "$dir/s$i/nats.conf" >/dev/null 2>&1 &
    echo $! > "$dir/s$i/pid"
  done
  printf '[cluster]\nservers = ["nats://127.0.0.1:%d", "nats://127.0.0.1:%d", "nats://127.0.0.1:%d"]\nnode = "n1"\nreplicas = 3\n' \
    "$base" "$((base + 1))" "$((base + 2))" > "$dir/cluster.toml"
  # Ready when a server logged a JetStream metadata leader (30 s at most).
  for _ in $(seq 1 150); do
    if grep -qs "metadata leader" "$dir"/s*/server.log; then
      echo "cluster up: nats://127.0.0.1:$base..$((base + 2)), config $dir/cluster.toml"; return 0
    fi
    sleep 0.2
  done
  echo "no JetStream metadata leader after 30 s; see $dir/s*/server.log" >&2; exit 1
}

status() {
  local i rc=0
  for i in 0 1 2; do
    if alive "$i"; then echo "bh$i up (pid $(pidof_server "$i"), nats://127.0.0.1:$((base + i)))"
    else echo "bh$i down"; rc=3; fi
  done
  return $rc
}

stop() {
  local i p
  for i in 0 1 2; do
    if alive "$i"; then
      p="$(pidof_server "$i")"; kill "$p"
      for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$p" 2>/dev/null && kill -9 "$p"
      echo "bh$i stopped"
    fi
    rm -f "$dir/s$i/pid"
  done
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status DIR" >&2; exit 2 ;;
esac
