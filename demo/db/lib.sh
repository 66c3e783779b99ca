# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this
# Shared by init.sh and run.sh (sourced, not executed).
#
# Sets:
#   DB_DIR      this folder (demo/db)
#   REPO_ROOT   two levels up from demo/db
#   STATE_DIR   <repo>/.devstack
#   PGDATA      the cluster: <repo>/.devstack/pgdata, or where that symlink points (below)
#   DATA_HOME   the folder holding PGDATA (and pgdata.init while setup builds it)
#   DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD (env overrides the defaults)
#   AS_PG       command prefix that runs a server-side command as the
#               `postgres` system user when we are root (Postgres refuses to
#               run as root); empty otherwise. setpriv execs, so no extra
#               parent process stays between devstack and the server.

DB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$DB_DIR/../.." && pwd -P)"
STATE_DIR="$REPO_ROOT/.devstack"
PGDATA="$STATE_DIR/pgdata"
# As root the server runs as the postgres user, who cannot enter a checkout in a 0700 folder
# (root's home, a mktemp -d folder). setup then builds the cluster under EXTERNAL_HOME, owned by
# that user, and leaves .devstack/pgdata as a symlink to it: nothing but the user removes it.
EXTERNAL_ROOT=/var/lib/devstack
if [[ -L "$PGDATA" ]]; then
    PGDATA="$(readlink "$PGDATA")"
fi
DATA_HOME="$(dirname "$PGDATA")"

DB_HOST="${DB_HOST:-127.0.0.1}"
DB_PORT="${DB_PORT:-5432}"
DB_NAME="${DB_NAME:-lifebit_db}"
DB_USER="${DB_USER:-lifebit_user}"
DB_PASSWORD="${DB_PASSWORD:-lifebit_pass}"

PG_OS_USER=postgres
AS_PG=()
if [[ "$(id -u)" -eq 0 ]]; then
    AS_PG=(setpriv "--reuid=$PG_OS_USER" "--regid=$PG_OS_USER" --init-groups --)
fi

# The folder, outside the checkout, for this checkout's cluster when the postgres user cannot
# reach the checkout: one per checkout path, named so that `ls /var/lib/devstack` tells which.
external_home() {
    local id
    id="$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-10)"
    printf '%s/%s-%s\n' "$EXTERNAL_ROOT" "$(basename "$REPO_ROOT")" "$id"
}

# True when the postgres user (as root: the one the server runs as) can walk down to DIR.
pg_can_enter() {
    ((${#AS_PG[@]} == 0)) || "${AS_PG[@]}" test -x "$1"
}

say() { printf 'postgres: %s\n' "$*"; }
die() { printf 'postgres: error: %s\n' "$*" >&2; exit 1; }

# The folder holding the server binaries (postgres, initdb, pg_ctl, psql):
# pg_config's bindir when it has the server, else the newest Debian-style
# /usr/lib/postgresql/<major>/bin, else whatever `postgres` is on PATH.
# Prints nothing and returns 1 when there is none.
pg_bindir() {
    local d c v best="" best_v=-1
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        if [[ -n "$d" && -x "$d/postgres" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    fi
    for c in /usr/lib/postgresql/*/bin; do
        [[ -x "$c/postgres" && -x "$c/initdb" && -x "$c/pg_ctl" ]] || continue
        v="${c#/usr/lib/postgresql/}"
        v="${v%/bin}"
        v="${v%%.*}"
        [[ "$v" =~ ^[0-9]+$ ]] || continue
        if ((v > best_v)); then
            best_v=$v
            best=$c
        fi
    done
    if [[ -n "$best" ]]; then
        printf '%s\n' "$best"
        return 0
    fi
    if c="$(command -v postgres 2>/dev/null)"; then
        c="$(readlink -f "$c" 2>/dev/null || printf '%s' "$c")"
        d="$(dirname "$c")"
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    fi
    return 1
}

# Unix-socket folder for the long-running server: the data dir itself when the
# socket path fits the ~107-byte sun_path limit, else /tmp.
pg_socket_dir() {
    local port="$1"
    if ((${#PGDATA} + ${#port} + 12 < 100)); then
        printf '%s\n' "$PGDATA"
    else
        printf '%s\n' /tmp
    fi
}
