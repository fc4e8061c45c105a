#!/usr/bin/env bash
# Alternating A/B of GET /health: this host, then `wasmtime serve`, on the same
# guest builds that docs/bench/serve.sh made (run it first). Prints req/s of
# each and their ratio per round. Usage: docs/bench/ab.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
seconds=${2:-10}
guest=target/bench-guest/wasm32-wasip2/release/calplanebot_guest.wasm
draft=target/bench-guest-draft/wasm32-wasip2/release/calplanebot_guest.wasm
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rate() { wrk -t2 -c50 -d"${seconds}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
for _ in $(seq 1 "$rounds"); do
  (cd "$work" && ENABLE_SYNC=false LOG_LEVEL=WARNING exec "$OLDPWD/target/release/calplanebot" serve \
     --listen 127.0.0.1:8881 --component "$OLDPWD/$guest" --max-instances 128 2>/dev/null) &
  host=$!; sleep 2; a=$(rate http://127.0.0.1:8881/health); kill "$host"; wait "$host" 2>/dev/null || true
  wasmtime serve -Scli -Skeyvalue --addr 127.0.0.1:8882 "$draft" 2>/dev/null &
  ws=$!; sleep 2; b=$(rate http://127.0.0.1:8882/health); kill "$ws"; wait "$ws" 2>/dev/null || true
  echo "calplanebot $a req/s   wasmtime-serve $b req/s   ratio $(python3 -c "print(round($a/$b, 2))")"
done
