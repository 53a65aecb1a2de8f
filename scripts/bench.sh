#!/usr/bin/env bash
# Builds the host (release) and the bench guest in Rust, Python and JavaScript
# (tests/guests/bench, python-bench, js-bench), then runs `durable bench` with
# all three. Extra arguments go to `durable bench` (see `durable bench --help`).
# BENCH_GUESTS="rust" (or "rust python", ...) leaves the other languages out.
set -euo pipefail
cd "$(dirname "$0")/.."

guests=${BENCH_GUESTS:-rust python js}
# The Rust of rust-toolchain.toml, with its components and the wasm32-wasip2 target.
rustup -q toolchain install
cargo build --release -p durable-host --bin durable
cargo build --release --target wasm32-wasip2 --target-dir target/wasm -p bench-guest
args=(--component target/wasm/wasm32-wasip2/release/bench_guest.wasm)
mkdir -p target/bench
if [[ " $guests " == *" python "* ]]; then
    scripts/build-python.sh tests/guests/python-bench target/bench/bench_py.wasm
    args+=(--python-component target/bench/bench_py.wasm)
fi
if [[ " $guests " == *" js "* ]]; then
    scripts/build-js.sh tests/guests/js-bench target/bench/bench_js.wasm
    args+=(--js-component target/bench/bench_js.wasm)
fi
exec target/release/durable bench "${args[@]}" "$@"
