#!/usr/bin/env bash
# Every check and test, from a fresh clone: formatting, lints (host and
# guests), the SDKs' unit tests, the storage suite on SQLite and PostgreSQL and
# the end-to-end tests (real components, real SQLite files and PostgreSQL
# databases, real processes).
set -euo pipefail
cd "$(dirname "$0")/.."

# The Rust of rust-toolchain.toml, with its components and the wasm32-wasip2 target.
rustup -q toolchain install

# The host is built and tested once, with the PostgreSQL part of the storage suite.
features=(--features durable-host/postgres-tests)
# Clippy lints the workspace's crates as they are built for the tests, not in a `cargo clippy`
# pass of its own, which would check every dependency (wasmtime, cranelift) a second time:
# minutes on a 2-core machine. `cargo clippy` is cargo with clippy-driver (rustc with the lint
# passes) as the workspace members' compiler and its arguments in CLIPPY_ARGS; so is this. The
# guest components the e2e tests build for wasm32-wasip2 (tests/e2e/support.rs) inherit it,
# so the guests are linted as they are built too. A lint fails the build it is found in.
export RUSTC_WORKSPACE_WRAPPER=clippy-driver
export CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

cargo fmt --all -- --check
# The Python and JavaScript bench guests (built and run by scripts/bench.sh): syntax only.
python3 -c 'import sys; [compile(open(p).read(), p, "exec") for p in sys.argv[1:]]' tests/guests/python-bench/app.py
node --check tests/guests/js-bench/app.js
# The Python and JavaScript SDKs: their unit tests, and every conformance scenario run natively
# (no component build).
python3 -m unittest discover -s guest-sdk/python/tests
node --test guest-sdk/js/test/
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
# The dashboard's browser test (tests/e2e/dashboard.rs) drives Debian's Chromium through
# chromedriver: installed once if missing.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# The Durable Functions SDK clients (PyPI, npm) that tests/e2e/df_clients.rs drives
# `durable serve` with, installed, pinned, into ~/.cache/durable/tools once.
df_clients=$(scripts/df-clients.sh) # (an assignment, so that a failed install stops here)
eval "$df_clients"
# The host's unit tests, the storage suite on SQLite (memory, file) and on PostgreSQL (each test
# in a schema of its own, dropped after), and the end-to-end tests on SQLite: one build, whose
# feature `postgres-tests` adds the PostgreSQL part of the suite. The end-to-end tests build the
# Python and JavaScript guests with `durable build`, which installs componentize-py and
# componentize-js into ~/.cache/durable/tools the first time and keeps built components there
# by a hash of their sources.
cargo test "${features[@]}"
# The end-to-end tests about storage again, on PostgreSQL: each test gets a database of its own
# (tests/e2e/backend.rs), and three hosts share one in the chaos test. The e2e binary is built
# already. Only the Rust variants: the Python and JavaScript ones reach the store the same way.
# (`http::` would match `durable_http::` too, which is not about storage.)
DURABLE_E2E_BACKEND=postgres cargo test "${features[@]}" --test e2e -- \
    examples:: entities:: crash:: management:: http:: chaos::three_hosts bench:: versions:: \
    --skip durable_http:: --skip ::python --skip ::js
