#!/usr/bin/env bash
# Every check and test, from a fresh clone: formatting, lints (host and
# guests), the SDK's replay unit tests, the storage suite and the
# end-to-end tests (real components, real SQLite files, real processes).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# Every workspace member but these two (which link the host) is a guest component, here and
# in the end-to-end tests (tests/e2e/support.rs, NOT_GUESTS).
guests=(--workspace --exclude durable-host --exclude embedding)

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --release --target wasm32-wasip2 --target-dir target/wasm "${guests[@]}" -- -D warnings
# The Python and JavaScript bench guests (built and run by scripts/bench.sh): syntax only.
python3 -c 'import sys; [compile(open(p).read(), p, "exec") for p in sys.argv[1:]]' tests/guests/python-bench/app.py
node --check tests/guests/js-bench/app.js
# The Python and JavaScript SDKs: their unit tests, and every conformance scenario run natively
# (no component build).
python3 -m unittest discover -s guest-sdk/python/tests
node --test guest-sdk/js/test/
# The host's unit tests, the storage suite, and the end-to-end tests. These build the Python and
# JavaScript guests with `durable build`, which installs componentize-py and componentize-js
# into ~/.cache/durable/tools the first time and keeps built components there by a hash of
# their sources. The Durable Functions SDK clients (PyPI, npm) that tests/e2e/df_clients.rs
# drives `durable serve` with are installed, pinned, into ~/.cache/durable/tools once.
df_clients=$(scripts/df-clients.sh) # (an assignment, so that a failed install stops here)
eval "$df_clients"
cargo test
# The storage suite against PostgreSQL: the server in DURABLE_TEST_POSTGRES, or the one on
# 127.0.0.1:5432 (user postgres) when it answers. Each test works in a schema of its own and
# drops it. Starting a private server where none is reachable is not done yet: the run says so.
if [[ -z "${DURABLE_TEST_POSTGRES:-}" ]] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    export DURABLE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test
fi
if [[ -n "${DURABLE_TEST_POSTGRES:-}" ]]; then
    cargo test --lib --features durable-host/postgres-tests store::
else
    echo "NOT RUN: the storage suite on PostgreSQL (no server on 127.0.0.1:5432; set DURABLE_TEST_POSTGRES)" >&2
fi
