"""The PostgreSQL a repository's URLs name, as stack services: one per port on this machine, with
the roles and databases those URLs use, created by a setup script and run from
.devstack/pgdata.

The scripts are written into stack.toml itself (no file beside it to lose), in POSIX sh. They
find the server binaries (pg_config's folder, else the newest /usr/lib/postgresql/*/bin, else
PATH). Postgres refuses to run as root: as root, every server-side step runs as the `postgres`
system user (setpriv), and when that user cannot enter the checkout (a 0700 home) the cluster
lives in /var/lib/devstack/<folder>-<checksum of its path>/ with .devstack/pgdata a link to it.
The server listens on localhost and on no Unix socket (its path could exceed the socket limit).
Host connections need the password the URLs give (scram-sha-256); when some URL gives none,
connections from this machine are trusted instead, and the comment says so.
"""

from __future__ import annotations

from collections import defaultdict

from devstack.init.model import Ambiguity, DbUrl, Found, Probe

# Before anything else in both scripts: who runs the server, and where its binaries are.
_PRELUDE = r"""set -eu
AS=""
if [ "$(id -u)" = 0 ]; then AS="setpriv --reuid=postgres --regid=postgres --init-groups --"; fi
BIN=$(pg_config --bindir 2>/dev/null || true)
[ -x "$BIN/initdb" ] || BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$BIN/initdb" ] || BIN=$(dirname "$(command -v initdb || echo /none/initdb)")
[ -x "$BIN/initdb" ] || { echo "no PostgreSQL server (initdb) found: install PostgreSQL" >&2; exit 1; }
"""

_SETUP = _PRELUDE + r"""if [ -f @DATA@/PG_VERSION ]; then
  echo "@DATA@ is set up already (delete it to start again)"
  exit 0
fi
mkdir -p .devstack
R=$PWD
HOLD=$R/.devstack
if [ -n "$AS" ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "as root, the server runs as the postgres user, and there is none" >&2
    exit 1
  fi
  chmod go+x .devstack
  if ! $AS test -x "$HOLD"; then
    HOLD=/var/lib/devstack/$(basename "$R")-$(printf %s "$R" | cksum | cut -d " " -f 1)
    mkdir -p "$HOLD"
    chown postgres: "$HOLD"
    echo "the postgres user cannot enter $R: the cluster goes to $HOLD"
  fi
fi
cd /
T=$HOLD/@NAME@.init
S=$(mktemp -d)
trap '$AS "$BIN/pg_ctl" -D "$T" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$S"' EXIT
rm -rf "$T"
mkdir -m 700 "$T"
if [ -n "$AS" ]; then chown postgres: "$T" "$S"; fi
$AS "$BIN/initdb" -D "$T" -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=@AUTH@ \
  >"$S/initdb.log" 2>&1 || { cat "$S/initdb.log" >&2; exit 1; }
$AS "$BIN/pg_ctl" -D "$T" -l "$S/server.log" -w -o "-c listen_addresses='' -k $S" start \
  >/dev/null || { cat "$S/server.log" >&2; exit 1; }
"$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$S" -U postgres -d postgres <<'SQL'
@SQL@
SQL
$AS "$BIN/pg_ctl" -D "$T" -m fast -w stop >/dev/null
mv "$T" "$HOLD/@NAME@"
if [ "$HOLD" != "$R/.devstack" ]; then ln -sfn "$HOLD/@NAME@" "$R/@DATA@"; fi
echo "@DATA@ is ready: @WHAT@"
"""

_COMMAND = _PRELUDE + r"""if ! D=$(cd @DATA@ 2>/dev/null && pwd -P); then
  echo "no cluster in @DATA@ yet: run devstack setup @SERVICE@" >&2
  exit 1
fi
if [ -n "$AS" ] && [ ! -L @DATA@ ]; then chmod go+x .devstack; fi
cd /
exec $AS "$BIN/postgres" -D "$D" -p @PORT@ -c listen_addresses=localhost -c unix_socket_directories=
"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql(roles: dict[str, str | None], databases: dict[str, str]) -> str:
    lines = []
    for user, password in sorted(roles.items()):
        verb = "ALTER ROLE" if user == "postgres" else "CREATE ROLE"
        secret = f" PASSWORD {_literal(password)}" if password else ""
        lines.append(f"{verb} {_ident(user)} LOGIN{secret};")
    for database, owner in sorted(databases.items()):
        if database != "postgres":
            lines.append(f"CREATE DATABASE {_ident(database)} OWNER {_ident(owner)};")
    return "\n".join(lines)


def _fill(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    return template.rstrip("\n")


def services(urls: list[DbUrl], notes: list[str]) -> tuple[list[Found], list[Ambiguity]]:
    """One postgres service per port the local URLs name; an Ambiguity for a user two URLs give
    different passwords."""
    by_port: dict[int, list[DbUrl]] = defaultdict(list)
    for url in urls:
        if url.local:
            by_port[url.port].append(url)
        else:
            notes.append(f"{url.source} names a database on {url.host}, not on this machine: "
                         "not run by the stack")
    found: list[Found] = []
    questions: list[Ambiguity] = []
    for port in sorted(by_port):
        name = "postgres" if len(by_port) == 1 else f"postgres-{port}"
        result = _service(name, port, by_port[port])
        if isinstance(result, Ambiguity):
            questions.append(result)
        else:
            found.append(result)
    return found, questions


def _service(name: str, port: int, urls: list[DbUrl]) -> Found | Ambiguity:
    roles: dict[str, str | None] = {}
    databases: dict[str, str] = {}
    for url in urls:
        user = url.user or "postgres"
        if roles.get(user) and url.password and roles[user] != url.password:
            clash = [u for u in urls if (u.user or "postgres") == user and u.password]
            return Ambiguity(".", f"user {user} has different passwords on port {port}",
                             tuple((u.shown(), u.source) for u in clash),
                             edit=f"make the password of {user} the same in those files", flag=None)
        if url.password or user not in roles:
            roles[user] = url.password or roles.get(user)
        database = url.database or user  # libpq connects to the user's namesake when none is named
        databases.setdefault(database, user)
    trusted = [user for user, password in roles.items() if not password]
    data = ".devstack/pgdata" if name == "postgres" else f".devstack/pgdata-{port}"
    what = ", ".join(f"database {db} (owner {owner})" for db, owner in sorted(databases.items()))
    auth = "trust" if trusted else "scram-sha-256"
    setup = _fill(_SETUP, DATA=data, NAME=data.rsplit("/", 1)[-1], AUTH=auth,
                  SQL=_sql(roles, databases), WHAT=what)
    command = _fill(_COMMAND, DATA=data, PORT=str(port), SERVICE=name)
    evidence = [f"named by {url.shown()} ({url.source})" for url in urls]
    evidence.append(f"setup creates {data} with {what}")
    if trusted:
        evidence.append(f"no password for {', '.join(sorted(trusted))}: "
                        "connections from this machine are trusted")
    evidence.append("as root, the server runs as the postgres system user (Postgres refuses root)")
    first = urls[0]
    return Found(
        folder=".",
        kind="PostgreSQL",
        manifest=first.source,
        command=command,
        port=port,
        port_from="its published port" if first.source.startswith("service ") else "that URL",
        probe=Probe("cmd", f"pg_isready -q -h localhost -p {port}", "30s"),
        setup=setup,
        stop_signal="SIGINT",  # Postgres' fast shutdown
        evidence=tuple(evidence),
        name=name,
    )
