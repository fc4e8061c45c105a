# Everyday shortcuts. Nothing in `cargo run --release -- serve` or
# `cargo test` needs just.

wasm := "target/wasm32-wasip2/release"

# Build the guest for calplanebot's host and Spin (wasi:keyvalue@0.2.0-draft2).
guest:
    cargo build -p calplanebot-guest --target wasm32-wasip2 --release
    @echo {{wasm}}/calplanebot_guest.wasm

# Build the guest for `wasmtime serve -S keyvalue` (wasi:keyvalue@0.2.0-draft).
guest-wasmtime:
    cargo build -p calplanebot-guest --target wasm32-wasip2 --release --features wasmtime-serve --target-dir target/guest-keyvalue-draft
    @echo target/guest-keyvalue-draft/wasm32-wasip2/release/calplanebot_guest.wasm

# Serve a guest built from this tree and swap it in on every `just guest`.
serve-watched: guest
    cargo run --release -- serve --component {{wasm}}/calplanebot_guest.wasm

# Run the host's throughput benchmark (see docs/benchmarks.md).
bench:
    ./docs/bench/serve.sh

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings
    cargo clippy -p calplanebot-guest -p calplanebot-probe --target wasm32-wasip2 -- -D warnings

test:
    cargo test
