#!/usr/bin/env bash
# `setup` of the demo's core-api service: compile src/*.java into build/.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

JAVAC="$(java_tool javac)" ||
    die "javac not found (a JDK 17+ is needed); install one, e.g.: sudo apt-get install -y openjdk-17-jdk-headless"
version="$("$JAVAC" -version 2>&1 | awk '{print $2}')"
major="${version%%.*}"
if ! [[ "$major" =~ ^[0-9]+$ ]] || ((major < 17)); then
    die "$JAVAC is version '$version'; Java 17 or newer is needed (set JAVA_HOME to a JDK 17+)"
fi
JAR="$(jdbc_jar)" ||
    die "the PostgreSQL JDBC jar was not found (/usr/share/java/postgresql.jar);" \
        "install it: sudo apt-get install -y libpostgresql-jdbc-java (or set POSTGRES_JDBC_JAR)"

rm -rf "$BUILD_DIR"
mkdir -p "$BUILD_DIR"
say "javac $version, JDBC driver $JAR"
"$JAVAC" --release 17 -encoding UTF-8 -Xlint:all -d "$BUILD_DIR" -cp "$JAR" "$API_DIR"/src/*.java
say "built $BUILD_DIR"
