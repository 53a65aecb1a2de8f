#!/usr/bin/env bash
# A private PostgreSQL server for the tests, for machines where none is reachable: a cluster in
# target/pg (made once by initdb; trust auth, user `postgres`), listening on 127.0.0.1 only,
# on a free port, with a database `test`.
#
#   eval "$(scripts/private-postgres.sh start)"   # prints `export DURABLE_TEST_POSTGRES=...`
#   scripts/private-postgres.sh status            # exit 0 when it runs
#   scripts/private-postgres.sh stop
#   scripts/private-postgres.sh restart           # pg_ctl restart -m fast (for fault tests)
#
# DURABLE_PRIVATE_POSTGRES_DIR puts the cluster elsewhere than target/pg (a test's own server).
# `start` reuses the server when it runs already. It installs Debian's `postgresql` package
# when no PostgreSQL is in /usr/lib/postgresql (apt-get, with sudo unless root). PostgreSQL
# does not run as root: as root, the cluster belongs to the `postgres` user, who runs it.
# The server is for tests: it does not fsync.
set -euo pipefail
cd "$(dirname "$0")/.."

pg=${DURABLE_PRIVATE_POSTGRES_DIR:-$PWD/target/pg}
data="$pg/data"

# The newest installed PostgreSQL's programs.
bin_dir() {
    local initdb
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [[ -n "$initdb" ]] && dirname "$initdb"
}

# Runs a command as the owner of the cluster: `postgres` when we are root, else ourselves.
as_owner() {
    if [[ $(id -u) == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    [[ -e "$data/postmaster.pid" ]] && as_owner "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1
}

# The port of the running server: line 4 of postmaster.pid.
port_of_running() {
    sed -n 4p "$data/postmaster.pid"
}

install_postgres() {
    echo "installing PostgreSQL (Debian package postgresql)" >&2
    local sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get install -y postgresql >&2 ||
        { "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y postgresql >&2; }
}

bin=$(bin_dir || true)
command=${1:-start}
case "$command" in
start) ;;
status)
    [[ -n "$bin" ]] && running
    exit
    ;;
stop)
    if [[ -n "$bin" ]] && running; then
        as_owner "$bin/pg_ctl" stop -D "$data" -m fast >&2
    fi
    exit 0
    ;;
restart)
    if [[ -z "$bin" ]] || ! running; then
        echo "no private PostgreSQL server runs in $data" >&2
        exit 1
    fi
    # (-l: the server must not hold our stdout, or a caller reading it never sees its end.)
    as_owner "$bin/pg_ctl" restart -D "$data" -l "$data/server.log" -m fast -w -t 60 >&2
    exit
    ;;
*)
    echo "usage: $0 [start|stop|status|restart]" >&2
    exit 2
    ;;
esac

if [[ -z "$bin" ]]; then
    install_postgres
    bin=$(bin_dir) || { echo "no initdb in /usr/lib/postgresql/*/bin after installing" >&2; exit 1; }
fi

if ! running; then
    if [[ ! -e "$data/PG_VERSION" ]]; then
        echo "creating a PostgreSQL cluster in $data" >&2
        rm -rf "$data"
        mkdir -p "$data"
        [[ $(id -u) == 0 ]] && chown postgres: "$data"
        as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 >/dev/null
        # TCP on the loopback only (no Unix socket: the system server's directory may not be
        # ours, and a path under target/ may be too long for one); no durability, it is for tests.
        as_owner tee -a "$data/postgresql.conf" >/dev/null <<'EOF'
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/pg_ctl" start -D "$data" -l "$data/server.log" -o "-p $port" -w -t 60 >&2 ||
        { tail -n 20 "$data/server.log" >&2; exit 1; }
fi
port=$(port_of_running)

if ! "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
    "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'CREATE DATABASE test' >&2
fi
echo "export DURABLE_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port/test"
