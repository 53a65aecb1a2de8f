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
# PostgreSQL: the server in DURABLE_TEST_POSTGRES, else the one on 127.0.0.1:5432 (user postgres)
# when it answers, else a private one in target/pg (scripts/private-postgres.sh; installed if
# missing), stopped when this script ends unless it ran before. DURABLE_TEST_PRIVATE_POSTGRES=1
# uses the private one even when another answers.
if [[ -z "${DURABLE_TEST_POSTGRES:-}" ]]; then
    if [[ -z "${DURABLE_TEST_PRIVATE_POSTGRES:-}" ]] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        export DURABLE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test
    else
        scripts/private-postgres.sh status || trap 'scripts/private-postgres.sh stop' EXIT
        private_postgres=$(scripts/private-postgres.sh start)
        eval "$private_postgres"
    fi
fi
# The storage suite against PostgreSQL: each test works in a schema of its own and drops it.
cargo test --lib --features durable-host/postgres-tests store::
# The end-to-end tests about storage again, on PostgreSQL: each test gets a database of its own
# (tests/e2e/backend.rs), and three hosts share one in the chaos test. The e2e binary is built
# already. Only the Rust variants: the Python and JavaScript ones reach the store the same way.
# (`http::` would match `durable_http::` too, which is not about storage.)
DURABLE_E2E_BACKEND=postgres cargo test --test e2e -- \
    examples:: entities:: crash:: management:: http:: chaos::three_hosts \
    --skip durable_http:: --skip ::python --skip ::js
