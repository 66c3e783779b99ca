#!/usr/bin/env bash
# `command` of the demo's postgres service: the server in the foreground.
#
# exec, and setpriv (as root) execs too, so the process devstack started IS
# the postmaster: SIGINT to its process group is Postgres' fast shutdown.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT_ARG="${DB_PORT:-5432}"
LISTEN="${PG_LISTEN_ADDRESSES:-127.0.0.1}"

if [[ -d "$PGDATA" && ! -r "$PGDATA" ]]; then
    die "$PGDATA belongs to $(stat -c %U "$PGDATA" 2>/dev/null || echo 'another user'), not to you;" \
        "it was initialised as root: run devstack as root, or delete it and run: devstack setup postgres"
fi
if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
    echo "postgres: no database yet at $PGDATA; run \`devstack setup postgres\` first (demo/db/init.sh)" >&2
    exit 1
fi
BIN="$(pg_bindir)" ||
    die "PostgreSQL server binaries not found; run \`devstack setup postgres\` (installs them), or: sudo apt-get install -y postgresql"

if [[ "$(id -u)" -eq 0 && "$DATA_HOME" == "$STATE_DIR" ]]; then
    chmod go+x "$STATE_DIR" # the postgres user must be able to walk into .devstack
fi

cd / # the postgres user may not be able to enter our cwd; paths are absolute

exec ${AS_PG[@]+"${AS_PG[@]}"} "$BIN/postgres" -D "$PGDATA" -p "$PORT_ARG" \
    -c listen_addresses="$LISTEN" -k "$(pg_socket_dir "$PORT_ARG")"
