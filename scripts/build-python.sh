#!/usr/bin/env bash
# Builds a durable Python app into a WebAssembly component:
#
#   scripts/build-python.sh APP_DIR OUT.wasm
#
# APP_DIR holds `app.py` (one `durable.App` with its orchestrators and activities). The first
# run installs componentize-py into target/python/venv (needs PyPI); later runs are offline.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 APP_DIR OUT.wasm" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
app_dir=$(cd "$1" && pwd)
out=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
if [ ! -f "$app_dir/app.py" ]; then
    echo "error: $app_dir has no app.py" >&2
    exit 1
fi

version=0.25.1
venv=$root/target/python/venv
componentize=$venv/bin/componentize-py
if ! "$componentize" --version 2>/dev/null | grep -q "$version"; then
    echo "installing componentize-py $version into $venv" >&2
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "componentize-py==$version"; }; then
        echo "error: could not install componentize-py $version with pip (is PyPI reachable?)" >&2
        exit 1
    fi
fi

# componentize-py imports the app at build time (and snapshots it): run it from an empty
# directory so nothing but the paths given below lands in the component.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$componentize" -q -d "$root/wit" -w durable-component componentize durable_main \
    -p "$root/guest-sdk/python/componentize" -p "$root/guest-sdk/python" -p "$app_dir" \
    -o "$out"
