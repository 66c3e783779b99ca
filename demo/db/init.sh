#!/usr/bin/env bash
# `setup` of the demo's postgres service (idempotent).
#
# Creates the cluster in <repo>/.devstack/pgdata (initdb), then, on a
# temporary server reachable only through a private unix socket, creates the
# role $DB_USER (password $DB_PASSWORD) and the database $DB_NAME owned by it,
# and runs the NNN_*.sql files of this folder as $DB_USER. The cluster is
# built in pgdata.init and renamed to pgdata only when all of that succeeded,
# so an interrupted run leaves nothing half-done behind: just run it again.
#
# As root, every server-side command runs as the `postgres` system user.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INIT_PORT=5432 # port number of the private socket only; no TCP listener

cd / # every path below is absolute; the postgres user may not enter our cwd

is_root() { [[ "$(id -u)" -eq 0 ]]; }

install_postgres() {
    export DEBIAN_FRONTEND=noninteractive
    local opts=(-y -q -o Dpkg::Options::=--force-confold)
    say "PostgreSQL server binaries not found; installing Debian's postgresql package"
    # This demo runs its own server on 5432: keep the package from creating (and starting) its own
    # "main" cluster there.
    mkdir -p /etc/postgresql-common
    grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
        echo "create_main_cluster = false" >>/etc/postgresql-common/createcluster.conf
    if ! apt-get install "${opts[@]}" postgresql >/dev/null 2>&1; then
        apt-get update -q >/dev/null 2>&1 || true
        apt-get install "${opts[@]}" postgresql >/dev/null ||
            die "apt-get install -y postgresql failed; install PostgreSQL, then rerun: devstack setup postgres"
    fi
}

if ! BIN="$(pg_bindir)"; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
        install_postgres
        BIN="$(pg_bindir)" || die "postgresql was installed but its server binaries were not found"
        # Debian's package creates (and may start) its own "main" cluster.
        if pg_isready -q -h 127.0.0.1 -p "$DB_PORT" >/dev/null 2>&1; then
            say "warning: something (probably Debian's own 'main' cluster) already listens on 127.0.0.1:$DB_PORT;" \
                "stop it (pg_ctlcluster <version> main stop) before: devstack up"
        fi
    else
        die "PostgreSQL server binaries not found (looked at \`pg_config --bindir\`, /usr/lib/postgresql/*/bin and PATH);" \
            "install them, e.g.: sudo apt-get install -y postgresql"
    fi
fi

if is_root; then
    id "$PG_OS_USER" >/dev/null 2>&1 ||
        die "running as root, but there is no '$PG_OS_USER' system user to run the server as (Postgres refuses to run as root)"
    command -v setpriv >/dev/null 2>&1 || die "running as root needs setpriv (util-linux) to drop to the '$PG_OS_USER' user"
fi

# The postgres user must be able to walk down to the data dir: into .devstack (at least 0711;
# .devstack/run, devstack's own, stays 0700), or, when it cannot even reach the checkout, into a
# folder of its own outside it (lib.sh).
ensure_data_home() {
    mkdir -p "$STATE_DIR"
    if ! is_root || [[ "$DATA_HOME" != "$STATE_DIR" ]]; then
        return 0
    fi
    chmod go+x "$STATE_DIR"
    if ! pg_can_enter "$STATE_DIR"; then
        DATA_HOME="$(external_home)"
        PGDATA="$DATA_HOME/pgdata"
        say "the '$PG_OS_USER' user cannot enter $REPO_ROOT; the cluster goes to $DATA_HOME" \
            "(.devstack/pgdata links to it; remove both when you delete this checkout)"
    fi
    mkdir -p -m 755 "$DATA_HOME"
}

if [[ -d "$PGDATA" && ! -r "$PGDATA" ]]; then
    die "$PGDATA belongs to $(stat -c %U "$PGDATA" 2>/dev/null || echo 'another user'), not to you;" \
        "it was initialised as root: use devstack as root, or delete it and rerun: devstack setup postgres"
fi

if [[ -f "$PGDATA/PG_VERSION" ]]; then
    ensure_data_home
    say "data dir $PGDATA already initialised (PostgreSQL $(cat "$PGDATA/PG_VERSION")); nothing to do"
    exit 0
fi

if [[ -e "$PGDATA" ]]; then
    if [[ -d "$PGDATA" ]] && [[ -z "$(ls -A "$PGDATA")" ]]; then
        rmdir "$PGDATA"
    else
        die "$PGDATA exists but is not a Postgres data dir (no PG_VERSION); move it away or delete it, then rerun"
    fi
fi

say "using $("$BIN/postgres" --version) from $BIN"
ensure_data_home
TMPDATA="$DATA_HOME/pgdata.init"
if [[ -f "$TMPDATA/postmaster.pid" ]]; then # a temporary server left by a killed run
    ${AS_PG[@]+"${AS_PG[@]}"} "$BIN/pg_ctl" -D "$TMPDATA" -m immediate -w stop >/dev/null 2>&1 || true
fi
rm -rf "$TMPDATA" # leftover of an interrupted run
mkdir -m 700 "$TMPDATA"
SOCK="$(mktemp -d /tmp/devstack-pginit.XXXXXX)"
if is_root; then
    chown "$PG_OS_USER:" "$TMPDATA" "$SOCK"
    if ! "${AS_PG[@]}" test -w "$TMPDATA"; then
        rm -rf "$TMPDATA" "$SOCK"
        die "the '$PG_OS_USER' user (which the server runs as, since you are root) cannot write $TMPDATA"
    fi
fi

SERVER_STARTED=0
DONE=0
SHOW_LOG="" # the log worth showing if we fail now
cleanup() {
    if ((SERVER_STARTED)); then
        ${AS_PG[@]+"${AS_PG[@]}"} "$BIN/pg_ctl" -D "$TMPDATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if ((!DONE)); then
        if [[ -n "$SHOW_LOG" && -s "$SHOW_LOG" ]]; then
            printf -- '--- %s (last lines) ---\n' "$(basename "$SHOW_LOG")" >&2
            tail -n 20 "$SHOW_LOG" >&2
        fi
        rm -rf "$TMPDATA"
    fi
    rm -rf "$SOCK"
}
trap cleanup EXIT
trap 'SHOW_LOG=""; say interrupted; exit 130' INT
trap 'SHOW_LOG=""; say interrupted; exit 143' TERM

say "initdb $PGDATA"
SHOW_LOG="$SOCK/initdb.log"
${AS_PG[@]+"${AS_PG[@]}"} "$BIN/initdb" -D "$TMPDATA" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 >"$SOCK/initdb.log" 2>&1 ||
    die "initdb failed (output below)"

say "starting a temporary server (unix socket only)"
SHOW_LOG="$SOCK/server.log"
SERVER_STARTED=1 # set first: a signal during pg_ctl start is handled once it returns
${AS_PG[@]+"${AS_PG[@]}"} "$BIN/pg_ctl" -D "$TMPDATA" -l "$SOCK/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k $SOCK -p $INIT_PORT" start >/dev/null ||
    die "the temporary server did not start (log below)"

psql_as() { # psql_as ROLE DB ARGS...
    local role="$1" db="$2"
    shift 2
    "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$INIT_PORT" -U "$role" -d "$db" "$@"
}

say "creating role $DB_USER and database $DB_NAME"
if ! psql_as postgres postgres -v db_user="$DB_USER" -v db_pass="$DB_PASSWORD" -v db_name="$DB_NAME" -f - <<'SQL'; then
CREATE ROLE :"db_user" LOGIN PASSWORD :'db_pass';
CREATE DATABASE :"db_name" OWNER :"db_user" ENCODING 'UTF8' TEMPLATE template0;
SQL
    die "creating role $DB_USER and database $DB_NAME failed"
fi

shopt -s nullglob
for sql in "$DB_DIR"/[0-9][0-9][0-9]_*.sql; do
    say "running $(basename "$sql") as $DB_USER"
    psql_as "$DB_USER" "$DB_NAME" -1 -f - <"$sql" || die "$(basename "$sql") failed"
done
count="$(psql_as "$DB_USER" "$DB_NAME" -tA -c 'SELECT count(*) FROM users')" ||
    die "counting the rows of the users table failed"
say "users table has $count rows"

say "stopping the temporary server"
${AS_PG[@]+"${AS_PG[@]}"} "$BIN/pg_ctl" -D "$TMPDATA" -m fast -w stop >/dev/null ||
    die "the temporary server did not stop"
SERVER_STARTED=0

mv "$TMPDATA" "$PGDATA"
if [[ "$DATA_HOME" != "$STATE_DIR" ]]; then
    ln -sfn "$PGDATA" "$STATE_DIR/pgdata"
fi
DONE=1
say "ready: $PGDATA (postgresql://$DB_USER@$DB_HOST:$DB_PORT/$DB_NAME once running)"
