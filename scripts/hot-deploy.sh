#!/usr/bin/env bash
# Hot deploy across hosts: two `durable serve` hosts share a database, a third process deploys
# each component given, and this prints how long after the deploy each host had it loaded
# (compiled: the hosts run with --no-compile-cache, as hosts on other machines would, so each
# compiles for itself; CACHE=1 lets them share this machine's compile cache, which the deploying
# process fills). Usage, after `cargo build --release`:
#
#   scripts/hot-deploy.sh postgres://postgres@127.0.0.1:5432/hotdeploy A.wasm [B.wasm ...]
#
# The database must be empty or new (a SQLite file path works too).
set -euo pipefail
cd "$(dirname "$0")/.."
db=$1
shift
bin=${DURABLE:-target/release/durable}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
now() { date +%s%3N; }
for host in 1 2; do
    cache=(--no-compile-cache)
    [[ -n "${CACHE:-}" ]] && cache=()
    RUST_LOG=info "$bin" --db "$db" serve --no-http "${cache[@]}" \
        >/dev/null 2>"$dir/host$host.log" &
done
for host in 1 2; do
    until grep -q "serving" "$dir/host$host.log"; do sleep 0.05; done
done
for component in "$@"; do
    before=$(now)
    digest=$("$bin" --db "$db" deploy --component "$component")
    deployed=$(now)
    line="$(basename "$component") ($(du -h "$component" | cut -f1)): deploy took $((deployed - before)) ms"
    for host in 1 2; do
        until grep -q "loaded a new deployment.*$digest\|$digest.*loaded a new deployment" \
            "$dir/host$host.log"; do
            sleep 0.01
        done
        line+=", host $host had it loaded $(($(now) - deployed)) ms after"
    done
    echo "$line"
done
