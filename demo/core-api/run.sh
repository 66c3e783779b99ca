#!/usr/bin/env bash
# `command` of the demo's core-api service. exec: the JVM is the process
# devstack started. JAVA_OPTS (words) is passed to the JVM.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ! -f "$BUILD_DIR/CoreApi.class" ]]; then
    echo "core-api: not built yet; run \`devstack setup core-api\` first (demo/core-api/build.sh)" >&2
    exit 1
fi
JAVA="$(java_tool java)" || die "java not found (Java 17+ is needed)"
JAR="$(jdbc_jar)" ||
    die "the PostgreSQL JDBC jar was not found; install it: sudo apt-get install -y libpostgresql-jdbc-java"

read -r -a opts <<<"${JAVA_OPTS:-}"
exec "$JAVA" ${opts[@]+"${opts[@]}"} -cp "$BUILD_DIR:$JAR" CoreApi "$@"
