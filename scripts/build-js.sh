#!/usr/bin/env bash
# Builds a durable JavaScript app into a WebAssembly component:
#
#   scripts/build-js.sh APP_DIR OUT.wasm
#
# APP_DIR holds `app.js` (an ES module registering its orchestrators and activities on `df.app`,
# `import * as df from 'durable'`). The first run installs componentize-js (and rolldown, which
# bundles the app with the SDK) into target/js/node_modules (needs npm and the npm registry);
# later runs are offline.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 APP_DIR OUT.wasm" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
app_dir=$(cd "$1" && pwd)
mkdir -p "$(dirname "$2")"
out=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
if [ ! -f "$app_dir/app.js" ]; then
    echo "error: $app_dir has no app.js" >&2
    exit 1
fi

componentize_version=0.23.0
rolldown_version=1.3.2
tools=$root/target/js
componentize=$tools/node_modules/.bin/componentize-js
installed() {
    grep -q "\"version\": \"$2\"" "$tools/node_modules/$1/package.json" 2>/dev/null
}
if ! installed @bytecodealliance/componentize-js "$componentize_version" || ! installed rolldown "$rolldown_version"; then
    echo "installing componentize-js $componentize_version and rolldown $rolldown_version into $tools/node_modules" >&2
    mkdir -p "$tools"
    [ -f "$tools/package.json" ] || echo '{"private": true}' >"$tools/package.json"
    if ! (cd "$tools" && npm install --silent --no-audit --no-fund --save-exact \
            "@bytecodealliance/componentize-js@$componentize_version" "rolldown@$rolldown_version"); then
        echo "error: could not install componentize-js $componentize_version with npm (is node >= 20 installed and the npm registry reachable?)" >&2
        exit 1
    fi
fi

# componentize-js reads the WIT and the bundle through WASI tools that only see the working
# directory: build in a fresh directory holding both.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/wit" "$work/wit"
node "$root/guest-sdk/js/build/bundle.mjs" "$tools" "$app_dir/app.js" "$work/app.bundle.js"
cd "$work"
# Orchestrators must not reach the network, and the host does not link wasi:http: leave out
# componentize-js' HTTP and fetch-event support.
"$componentize" app.bundle.js --wit wit --world-name durable-component -d http fetch-event -o "$out" >/dev/null
