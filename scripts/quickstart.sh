#!/usr/bin/env bash
# The main job, from a fresh clone: build the host and the hello-sequence
# example, run the orchestration to completion on an embedded SQLite file,
# and print its result.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Rust of rust-toolchain.toml, with its components and the wasm32-wasip2 target.
rustup -q toolchain install
cargo build -p durable-host --bin durable
cargo build --release --target wasm32-wasip2 --target-dir target/wasm -p hello-sequence

db=target/quickstart/durable.db
mkdir -p "$(dirname "$db")"
rm -f "$db" "$db-wal" "$db-shm"
target/debug/durable --db "$db" run \
    --component target/wasm/wasm32-wasip2/release/hello_sequence.wasm
