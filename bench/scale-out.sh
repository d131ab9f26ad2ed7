#!/usr/bin/env bash
# Scale-out on NATS, side by side in one invocation (issue 18): one process
# vs a gateway with 1, 2 and 4 nodes (strategy-events/s), the node ->
# gateway -> venue -> node round trip, NATS's request-reply floor on the
# same cluster, then failover time (kill -9 -> the standby's first new
# order). Each part starts its own 3-server loopback cluster.
#   bench/scale-out.sh [EVENTS] [TRIALS]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-20000}"; trials="${2:-3}"
cargo build --release -q -p bulkhead
cargo run --release -q -p bulkhead-cluster --features localcluster --example split_bench -- --events "$events"
cargo run --release -q -p bulkhead-cluster --features localcluster --example failover_bench -- --trials "$trials" --ttl-ms 1500
