#!/usr/bin/env bash
# Throughput of GET /health: this host, a plain hyper hello-world, and
# `wasmtime serve` on the same guest build when `wasmtime` is installed.
# Then hot-swap timing. Usage: docs/bench/serve.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
connections=${2:-50}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }

cargo build --release -p calplanebot --bin calplanebot --example hello_hyper
cargo build --release -p calplanebot-guest --target wasm32-wasip2 --target-dir target/bench-guest
guest=target/bench-guest/wasm32-wasip2/release/calplanebot_guest.wasm
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

wait_for() { for _ in $(seq 1 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1"; exit 1; }
measure() { # name url
  wrk -t2 -c"$connections" -d"${duration}s" --latency "$2" > "$work/$1.txt"
  printf '%-16s %10s req/s   p50 %8s   p99 %8s\n' "$1" \
    "$(awk '/Requests\/sec/ {print $2}' "$work/$1.txt")" \
    "$(awk '$1=="50%" {print $2}' "$work/$1.txt")" \
    "$(awk '$1=="99%" {print $2}' "$work/$1.txt")"
}

(cd "$work" && ENABLE_SYNC=false LOG_LEVEL=WARNING exec "$OLDPWD/target/release/calplanebot" serve \
   --listen 127.0.0.1:8871 --component "$OLDPWD/$guest" --max-instances 128 2>"$work/host.log") &
target/release/examples/hello_hyper 127.0.0.1:8872 &
wait_for http://127.0.0.1:8871/health
wait_for http://127.0.0.1:8872/
measure calplanebot http://127.0.0.1:8871/health
measure hyper-native http://127.0.0.1:8872/
if command -v wasmtime >/dev/null; then
  cargo build --release -p calplanebot-guest --target wasm32-wasip2 --features wasmtime-serve --target-dir target/bench-guest-wasmtime-serve
  wasmtime serve -Scli -Skeyvalue --addr 127.0.0.1:8873 \
    target/bench-guest-wasmtime-serve/wasm32-wasip2/release/calplanebot_guest.wasm 2>/dev/null &
  wait_for http://127.0.0.1:8873/health
  measure wasmtime-serve http://127.0.0.1:8873/health
else
  echo "wasmtime-serve    (not installed: cargo install wasmtime-cli --version 48.0.8 --locked)"
fi

# Hot swap: two builds that differ in their label, swapped 10 times.
live="$work/live.wasm"
cp "$guest" "$live"
CALPLANEBOT_BUILD_LABEL=bench-b cargo build --release -p calplanebot-guest --target wasm32-wasip2 --target-dir target/bench-guest-b
cp target/bench-guest-b/wasm32-wasip2/release/calplanebot_guest.wasm "$work/b.wasm"
cp "$guest" "$work/a.wasm"
(cd "$work" && ENABLE_SYNC=false LOG_LEVEL=INFO exec "$OLDPWD/target/release/calplanebot" serve \
   --listen 127.0.0.1:8874 --component "$live" --store "$work/swap/store.redb" 2>"$work/swap.log") &
wait_for http://127.0.0.1:8874/health
for i in $(seq 1 10); do
  if (( i % 2 )); then src=b; want=bench-b; else src=a; want=0.1.0\"; fi
  cp "$work/$src.wasm" "$live.tmp" && mv "$live.tmp" "$live"
  for _ in $(seq 1 100); do curl -s http://127.0.0.1:8874/ | grep -q "$want" && break; sleep 0.05; done
done
echo "cold compiles (ms):  $(grep 'component compiled' "$work/swap.log" | sed 's/.*millis=//' | tr '\n' ' ')"
echo "swaps (ms):          $(grep 'component swapped' "$work/swap.log" | sed 's/.*millis=//' | tr '\n' ' ')"
