#!/usr/bin/env bash
# Every check and test, from a fresh clone: formatting, lints (host and
# guests), the SDK's replay unit tests, the storage suite and the
# end-to-end tests (real components, real SQLite files, real processes).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
rustup component add rustfmt clippy >/dev/null 2>&1 || true

guests=(-p hello-sequence -p fan-out-fan-in -p human-interaction -p sub-orchestration -p retry -p monitor -p counter -p bank-transfer
        -p probe -p bench-guest -p conformance-guest)

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --release --target wasm32-wasip2 --target-dir target/wasm "${guests[@]}" -- -D warnings
# The Python and JavaScript bench guests (built and run by scripts/bench.sh): syntax only.
python3 -c 'import sys; [compile(open(p).read(), p, "exec") for p in sys.argv[1:]]' tests/guests/python-bench/app.py
node --check tests/guests/js-bench/app.js
# The Python SDK: its replay unit tests (plain Python), then one `durable build`, which installs
# componentize-py into ~/.cache/durable/tools if missing (the e2e tests build the Python guests).
python3 -m unittest discover -s guest-sdk/python/tests
scripts/build-python.sh examples/python/hello_sequence target/python/hello_sequence_py.wasm
# The JavaScript SDK: its replay unit tests (node --test), then one `durable build`, which
# installs componentize-js into ~/.cache/durable/tools if missing (the e2e tests build the JS
# guests).
node --test guest-sdk/js/test/
scripts/build-js.sh examples/js/hello_sequence target/js/hello_sequence_js.wasm
cargo test
