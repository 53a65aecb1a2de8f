#!/usr/bin/env bash
# The chaos test (tests/e2e/chaos.rs) with more cycles: a mixed Rust and Python workload on a
# real `durable serve`, killed with SIGKILL at random moments and restarted CYCLES times, then
# checked (instances lost, recorded steps executed again, entity totals) and summarised.
#
#     scripts/chaos.sh [CYCLES] [SEED]     # default: 20 cycles (what CI runs), a random seed
#
# The seed is printed first; give it again to replay the same kill times and workload. The
# variants: one host at a time (CHAOS_TEST=a_host), three hosts of which one is killed or
# stopped per cycle (CHAOS_TEST=three_hosts), and a host on a PostgreSQL server of the test's
# own restarted every cycle (CHAOS_TEST=postgres; runs when DURABLE_TEST_POSTGRES is set). With
# DURABLE_E2E_BACKEND=postgres and DURABLE_TEST_POSTGRES=postgres://... the first two run on
# PostgreSQL (a database of their own).
set -euo pipefail
cd "$(dirname "$0")/.."

# The Rust of rust-toolchain.toml, with its components and the wasm32-wasip2 target.
rustup -q toolchain install
export CHAOS_CYCLES=${1:-20}
if [[ $# -ge 2 ]]; then
    export CHAOS_SEED=$2
fi
exec cargo test --test e2e "chaos::${CHAOS_TEST:-}" -- --nocapture
