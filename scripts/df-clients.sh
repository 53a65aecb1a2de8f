#!/usr/bin/env bash
# Installs the official Durable Functions SDK clients the end-to-end tests drive `durable serve`
# with (tests/e2e/df_clients.rs), pinned, into the tools directory, once; prints the two
# variables the tests read, as `export` lines:
#
#   eval "$(scripts/df-clients.sh)" && cargo test --test e2e df_clients
#
# Python: a venv with azure-functions-durable (PyPI; needs python3 with venv and pip).
# JavaScript: an npm prefix with durable-functions (npm; needs node >= 18 and npm).
# A directory is complete once its `.installed` marker exists; an interrupted install is redone.
set -euo pipefail

python_client=azure-functions-durable==1.7.0
js_client=durable-functions@3.5.0

tools="${DURABLE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/durable/tools}/df-clients"
venv="$tools/python-${python_client/==/-}"
npm_dir="$tools/js-${js_client/@/-}"

if [[ ! -e "$venv/.installed" ]]; then
    echo "installing $python_client into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$python_client" >&2
    touch "$venv/.installed"
fi

if [[ ! -e "$npm_dir/.installed" ]]; then
    echo "installing $js_client into $npm_dir" >&2
    rm -rf "$npm_dir"
    mkdir -p "$npm_dir"
    npm install --prefix "$npm_dir" --no-audit --no-fund --silent "$js_client" >&2
    touch "$npm_dir/.installed"
fi

echo "export DURABLE_DF_PYTHON=$venv/bin/python"
echo "export DURABLE_DF_NODE_PATH=$npm_dir/node_modules"
