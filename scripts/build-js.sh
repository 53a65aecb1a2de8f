#!/usr/bin/env bash
# Builds a durable JavaScript app into a WebAssembly component:
#
#   scripts/build-js.sh APP_DIR OUT.wasm
#
# A contributor's shortcut for `durable build APP_DIR -o OUT.wasm` with the durable of this
# checkout (built first if needed). APP_DIR holds `app.js` (an ES module registering its
# orchestrators and activities on `df.app`, `import * as df from 'durable'`); the first build
# installs componentize-js and rolldown into the tools directory (`~/.cache/durable/tools`,
# see the README), later builds are offline.
set -euo pipefail

if [ $# -ne 2 ] || [ ! -f "$1/app.js" ]; then
    echo "usage: $0 APP_DIR OUT.wasm   (APP_DIR holds app.js)" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
exec cargo run -q --manifest-path "$root/Cargo.toml" -p durable-host --bin durable -- build "$1" -o "$2"
