#!/usr/bin/env bash
# Builds the host (release) and the bench guest, then runs `durable bench`.
# Extra arguments go to `durable bench` (see `durable bench --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
cargo build --release -p durable-host --bin durable
cargo build --release --target wasm32-wasip2 --target-dir target/wasm -p bench-guest
exec target/release/durable bench \
    --component target/wasm/wasm32-wasip2/release/bench_guest.wasm "$@"
