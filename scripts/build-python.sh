#!/usr/bin/env bash
# Builds a durable Python app into a WebAssembly component:
#
#   scripts/build-python.sh APP_DIR OUT.wasm
#
# A contributor's shortcut for `durable build APP_DIR -o OUT.wasm` with the durable of this
# checkout (built first if needed). APP_DIR holds `app.py` (one `durable.App` with its
# orchestrators and activities); the first build installs componentize-py into the tools
# directory (`~/.cache/durable/tools`, see the README), later builds are offline.
set -euo pipefail

if [ $# -ne 2 ] || [ ! -f "$1/app.py" ]; then
    echo "usage: $0 APP_DIR OUT.wasm   (APP_DIR holds app.py)" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
exec cargo run -q --manifest-path "$root/Cargo.toml" -p durable-host --bin durable -- build "$1" -o "$2"
