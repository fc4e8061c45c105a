# Everyday shortcuts. Nothing in `cargo run --release -- serve` or
# `cargo test` needs just.

components := "target/components"
# The profile the host's build script builds guests with (host/build/component_build.rs):
# the same settings share its cache.
guest_profile := "CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_STRIP=true"

# Build both guest variants; their names say which host each is for.
guests: guest guest-wasmtime-serve

# (Copied then renamed: a host serving the file never reads half of one.)

# The default guest: calplanebot's own host and Spin 3
# (wasi:keyvalue@0.2.0-draft2, wasi:config@0.2.0-draft-2024-09-27).
guest:
    {{guest_profile}} cargo build -p calplanebot-guest --target wasm32-wasip2 --release --target-dir target/guest
    mkdir -p {{components}}
    cp target/guest/wasm32-wasip2/release/calplanebot_guest.wasm {{components}}/.calplanebot-spin.wasm
    mv {{components}}/.calplanebot-spin.wasm {{components}}/calplanebot-spin.wasm
    @echo {{components}}/calplanebot-spin.wasm

# The guest for `wasmtime serve` and wasmCloud
# (wasi:keyvalue@0.2.0-draft, wasi:config@0.2.0-rc.1). Its own target
# directory, shared with the host's build script, keeps the two builds'
# caches apart.
guest-wasmtime-serve:
    {{guest_profile}} cargo build -p calplanebot-guest --target wasm32-wasip2 --release --features wasmtime-serve --target-dir target/guest-wasmtime-serve
    mkdir -p {{components}}
    cp target/guest-wasmtime-serve/wasm32-wasip2/release/calplanebot_guest.wasm {{components}}/.calplanebot-wasmtime-serve.wasm
    mv {{components}}/.calplanebot-wasmtime-serve.wasm {{components}}/calplanebot-wasmtime-serve.wasm
    @echo {{components}}/calplanebot-wasmtime-serve.wasm

# Serve a guest built from this tree and swap it in on every `just guest`.
serve-watched: guest
    cargo run --release -- serve --component {{components}}/calplanebot-spin.wasm

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
