# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this
# Shared by build.sh and run.sh (sourced, not executed).
#
# Sets API_DIR (this folder), BUILD_DIR, and provides:
#   java_tool NAME   path of java/javac: $JAVA_HOME/bin/NAME when set, else PATH
#   jdbc_jar         path of the PostgreSQL JDBC jar (Debian's
#                    libpostgresql-jdbc-java), or $POSTGRES_JDBC_JAR

API_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
BUILD_DIR="$API_DIR/build"

say() { printf 'core-api: %s\n' "$*"; }
die() { printf 'core-api: error: %s\n' "$*" >&2; exit 1; }

java_tool() {
    local name="$1"
    if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/$name" ]]; then
        printf '%s\n' "$JAVA_HOME/bin/$name"
    else
        command -v "$name"
    fi
}

jdbc_jar() {
    local j
    if [[ -n "${POSTGRES_JDBC_JAR:-}" ]]; then
        [[ -f "$POSTGRES_JDBC_JAR" ]] || return 1
        printf '%s\n' "$POSTGRES_JDBC_JAR"
        return 0
    fi
    for j in /usr/share/java/postgresql.jar /usr/share/java/postgresql-[0-9]*.jar; do
        if [[ -f "$j" ]]; then
            printf '%s\n' "$j"
            return 0
        fi
    done
    return 1
}
