"""The JVM's failures, explained on real processes: the demo's Spring Boot Core API (built once by
Maven for this module), a real `java`, real ports, and devstack's status, doctor and setup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import Stack, q
from tests.support.ports import accepts, free_port
from tests.support.postgres import PASSWORD, make_cluster, remove_cluster, server_command
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
CORE_API = REPO / "demo" / "core-api"
JDK25 = Path("/usr/lib/jvm/temurin-25-jdk-amd64")

pytestmark = [
    pytest.mark.skipif(shutil.which("mvn") is None or shutil.which("java") is None,
                       reason="Maven and Java 17 are needed (scripts/system-deps installs them)"),
    # pytest-timeout: the module builds the demo's Core API with Maven (up to 600 s cold) and each
    # test waits for a cold JVM on two shared cores (up to 180 s).
    pytest.mark.timeout(600),
]


@pytest.fixture(scope="module")
def jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's Core API, built from a copy of its sources: target/core-api.jar (the class-data
    archive step is skipped: it only makes starts faster)."""
    project = tmp_path_factory.mktemp("core-api")
    shutil.copy(CORE_API / "pom.xml", project)
    shutil.copytree(CORE_API / "src", project / "src")
    build = subprocess.run(["mvn", "-B", "-q", "package", "-DskipTests", "-Dmaven.antrun.skip=true"],
                           cwd=project, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return project / "target" / "core-api.jar"


def spring_stack(stack: Stack, jar: Path, *, env: dict[str, str], extra: str = "",
                 port: int | None = None, start_period: str = "120s") -> int:
    """A stack whose core-api runs the real jar; its HTTP port is returned."""
    port = port or free_port()
    env = {"SERVER_PORT": str(port), **env}
    health = (f'health = {{ http = "http://127.0.0.1:{port}/api/health/db", '
              f'expect_json = {{ status = "OK" }}, start_period = "{start_period}" }}')
    stack.toml(f"""
[services.core-api]
command = ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", {q(str(jar))}]
max_restarts = 1
env = {{ {", ".join(f"{k} = {q(v)}" for k, v in env.items())} }}
{health}
{extra}
""")
    return port



def test_a_port_held_by_another_process_is_named_with_its_holder(stack: Stack, jar: Path) -> None:
    """Spring's own words, "Web server failed to start. Port N was already in use.", become the
    holder's pid and command line (no `port` declared, so no pre-flight check got there first)."""
    port = free_port()
    holder = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: accepts(port), 10, "the holder to listen")
        spring_stack(stack, jar, env={"SPRING_DATASOURCE_URL": "jdbc:postgresql://127.0.0.1:1/x"}, port=port)
        r = stack.run("up", "-d", timeout=180)
        assert r.code == 1, r.text
        error = stack.service("core-api")["health"]["error"]
        assert error == (f"port {port} is already in use by pid {holder.pid} "
                         f"({sys.executable} -m http.server {port} --bind 127.0.0.1)"), error
    finally:
        holder.kill()
        holder.wait()


def test_a_database_that_is_down_is_named_with_its_state(stack: Stack, jar: Path) -> None:
    """Hikari's "Connection to 127.0.0.1:N refused" while the stack's postgres is stopped: the
    reason names postgres, its port and its state, and the JVM keeps running."""
    db_port = free_port()
    port = spring_stack(stack, jar, env={
        "SPRING_DATASOURCE_URL": f"jdbc:postgresql://127.0.0.1:{db_port}/lifebit_db",
        "SPRING_DATASOURCE_USERNAME": "lifebit_user", "SPRING_DATASOURCE_PASSWORD": "not-shown-8d1f"},
        extra=f"""
[services.postgres]
command = ["{sys.executable}", "-c", "import time; time.sleep(3600)"]
port = {db_port}
""")
    r = stack.run("up", "-d", "postgres", timeout=60)
    assert r.code == 0, r.text
    assert stack.run("stop", "postgres").code == 0
    r = stack.run("up", "-d", "core-api", "--timeout", "100ms", timeout=60)

    def explained() -> str | None:
        error = stack.service("core-api")["health"]["error"] or ""
        return error if "cannot reach postgres" in error else None

    error = wait_until(explained, 150, "core-api's reason to name postgres", interval=0.5)
    assert error == (f"core-api cannot reach postgres at 127.0.0.1:{db_port} (SPRING_DATASOURCE_URL = "
                     f"jdbc:postgresql://127.0.0.1:{db_port}/lifebit_db in stack.toml): postgres is stopped; "
                     "start it: devstack start postgres; it keeps running meanwhile"), error
    assert "not-shown-8d1f" not in stack.run("status", "--json").out
    assert accepts(port)  # the JVM runs (and answers 503)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Path]:
    data = make_cluster()
    yield data
    remove_cluster(data)


@pytest.mark.parametrize(("password", "database", "expected"), [
    ("wrong-pass-77aa", "postgres",
     'Postgres refused the password of user "postgres" (named by SPRING_DATASOURCE_USERNAME = postgres in '
     "stack.toml): the password the service gives (SPRING_DATASOURCE_PASSWORD) differs from the one the "
     "user was created with"),
    (PASSWORD, "nosuchdb",
     'Postgres has no database "nosuchdb" (named by SPRING_DATASOURCE_URL = jdbc:postgresql://127.0.0.1:'
     "{db_port}/nosuchdb in stack.toml): create it"),
])
def test_a_database_that_refuses_the_login_is_told_which_refusal(
        stack: Stack, jar: Path, cluster: Path, password: str, database: str, expected: str) -> None:
    """A real Postgres that is up: Hikari's "password authentication failed" or "database does not
    exist" becomes the user or database, the variable that names it, never the password."""
    db_port = free_port()
    spring_stack(stack, jar, env={
        "SPRING_DATASOURCE_URL": f"jdbc:postgresql://127.0.0.1:{db_port}/{database}",
        "SPRING_DATASOURCE_USERNAME": "postgres", "SPRING_DATASOURCE_PASSWORD": password},
        start_period="30s", extra=f"""
depends_on = ["postgres"]

[services.postgres]
command = {q(server_command(cluster, db_port))}
health = {{ tcp = "127.0.0.1:{db_port}" }}
""")
    stack.run("up", "-d", timeout=180)

    def explained() -> str | None:
        error = stack.service("core-api")["health"]["error"] or ""
        return error if ": Postgres " in error else None

    error = wait_until(explained, 90, "core-api's reason to name the refusal", interval=0.5)
    said = "health probe did not pass within 30 s: " + expected.format(db_port=db_port)
    assert error.startswith(said), error
    out = stack.run("status", "--json").out
    assert password not in out and PASSWORD not in out


def test_a_jar_that_was_never_built(stack: Stack) -> None:
    """Without its build, `doctor` says so before the start, and a start names `devstack setup`."""
    app = stack.root / "core-api"
    app.mkdir()
    shutil.copy(CORE_API / "pom.xml", app)
    stack.toml("""
[services.core-api]
cwd = "core-api"
setup = "mvn -B -q package -DskipTests"
command = "java -jar target/app/core-api.jar"
max_restarts = 1
""")
    r = stack.run("doctor")
    assert r.code == 1
    assert ("error: core-api/target/app/core-api.jar does not exist: the project has not been built\n"
            "    fix: devstack setup core-api") in r.out, r.out
    (app / "pom.xml").unlink()  # no build file: nothing for doctor to compare; java itself fails
    r = stack.run("up", "-d", "--no-setup", timeout=60)  # (a first `up` would run the setup first)
    assert r.code == 1
    error = stack.service("core-api")["health"]["error"]
    assert error == ("Error: Unable to access jarfile target/app/core-api.jar "
                     "(not built yet, relative to core-api: devstack setup core-api)"), error


@pytest.mark.skipif(not (JDK25 / "bin" / "javac").exists(), reason="a JDK 25 is needed to build for Java 25")
def test_a_jar_built_for_a_newer_java(stack: Stack, tmp_path: Path) -> None:
    """A jar compiled for Java 25 and run by the Java 17 first on PATH: doctor says so before the
    start, and the crash is told in Java versions, with the JDK to use."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "Hello.java").write_text('public class Hello { public static void main(String[] a) { '
                                    'System.out.println("hello"); } }\n')
    subprocess.run([str(JDK25 / "bin" / "javac"), "--release", "25", "-d", str(src), str(src / "Hello.java")],
                   check=True, timeout=120)
    subprocess.run([str(JDK25 / "bin" / "jar"), "--create", "--file", str(stack.root / "hello.jar"),
                    "--main-class", "Hello", "-C", str(src), "Hello.class"], check=True, timeout=120)
    java17 = Path(shutil.which("java") or "java").resolve().parent
    stack.toml(f"""
[services.hello]
command = "java -jar hello.jar"
max_restarts = 1
env = {{ PATH = "{java17}:${{PATH}}" }}
""")
    r = stack.run("doctor")
    assert r.code == 1
    assert f"error: hello.jar needs Java 25, but the java first on the service's PATH ({java17}/java) " \
           "is Java 17" in r.out, r.out
    assert f'PATH = "{JDK25}/bin:${{PATH}}"' in r.out, r.out
    r = stack.run("up", "-d", timeout=60)  # up's pre-flight check keeps it from starting
    error = stack.service("hello")["health"]["error"]
    assert error.startswith("hello.jar needs Java 25"), error
    # Behind a launcher script, where no check can see which java runs: the crash itself is told.
    stack.toml(f"""
[services.hello]
command = ["/bin/sh", "-c", "{java17}/java -jar hello.jar"]
max_restarts = 1
""")
    stack.run("down")
    r = stack.run("up", "-d", timeout=60)
    error = stack.service("hello")["health"]["error"]
    assert error.startswith("Hello was built for Java 25 (class file 69.0), but hello runs Java 17 "), error
    assert error.endswith(f'set env = {{ PATH = "{JDK25}/bin:${{PATH}}" }} for hello in stack.toml'), error


def test_no_datasource_names_the_variable_and_where_to_set_it(stack: Stack, jar: Path) -> None:
    spring_stack(stack, jar, env={})
    r = stack.run("up", "-d", timeout=180)
    assert r.code == 1, r.text
    error = wait_until(lambda: stack.service("core-api")["health"]["error"], 120, "a reason")
    assert error.startswith("Spring Boot has no datasource URL: set SPRING_DATASOURCE_URL "), error
    assert "in [services.core-api.env] of stack.toml or in .env" in error, error


def test_application_failed_to_start_is_told_by_its_description_and_action(stack: Stack, jar: Path) -> None:
    """Spring's own failure report: a port that is not a number. Said from stack.toml, the value is
    shown; read from a .env file, it is not."""
    spring_stack(stack, jar, env={"SERVER_PORT": "eighty"})
    assert stack.run("up", "-d", timeout=180).code == 1
    error = wait_until(lambda: stack.service("core-api")["health"]["error"], 120, "a reason")
    assert error == ("Invalid value 'eighty' for configuration property 'server.port' (originating from "
                     "'System Environment Property \"SERVER_PORT\"'). Validation failed for the following "
                     "reason: Failed to convert to type java.lang.Integer Action: Review the value of the "
                     "property with the provided reason."), error
    stack.run("down")

    stack.write(".env", "SERVER_PORT=port-8d1f\n")
    stack.toml(f"""
[services.core-api]
command = ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", {q(str(jar))}]
env_file = ".env"
max_restarts = 1
health = {{ tcp = "127.0.0.1:{free_port()}", start_period = "120s" }}
""")
    assert stack.run("up", "-d", timeout=180).code == 1
    error = wait_until(lambda: stack.service("core-api")["health"]["error"], 120, "a reason")
    assert error.startswith("Invalid value "), error
    assert "8d1f" not in error and "8d1f" not in stack.run("status", "--json").out


def test_a_maven_build_that_fails_in_setup_is_told_by_its_first_error(stack: Stack) -> None:
    app = stack.root / "core-api"
    app.mkdir()
    shutil.copy(CORE_API / "pom.xml", app)
    shutil.copytree(CORE_API / "src", app / "src")
    controller = app / "src/main/java/dev/lifebit/coreapi/HealthController.java"
    controller.write_text(controller.read_text().replace('body.put("service", "LifeBit Core-API");',
                                                         'body.put("service", "LifeBit Core-API")', 1))
    line = controller.read_text().splitlines().index('        body.put("service", "LifeBit Core-API")') + 1
    stack.toml("""
[services.core-api]
cwd = "core-api"
setup = "mvn -B -q package -DskipTests -Dmaven.antrun.skip=true"
command = "java -jar target/core-api.jar"
""")
    r = stack.run("setup", timeout=600)
    assert r.code == 1
    assert r.err.strip().splitlines()[-1] == (
        "devstack | setup of core-api failed with exit code 1: Maven could not compile "
        f"core-api/src/main/java/dev/lifebit/coreapi/HealthController.java:{line}: ';' expected"), r.err


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="a network namespace without network needs root (unshare -n)")
def test_a_maven_build_without_network_says_so(stack: Stack, tmp_path: Path) -> None:
    app = stack.root / "core-api"
    app.mkdir()
    shutil.copy(CORE_API / "pom.xml", app)
    stack.toml(f"""
[services.core-api]
cwd = "core-api"
setup = "unshare -n mvn -B -q package -DskipTests -Dmaven.repo.local={tmp_path / 'empty-m2'}"
command = "java -jar target/app/core-api.jar"
""")
    r = stack.run("setup", timeout=600)
    assert r.code == 1
    last = r.err.strip().splitlines()[-1]
    assert last.startswith("devstack | setup of core-api failed with exit code 1: Maven could not download "
                           "org.springframework.boot:spring-boot-starter-parent:pom:3.5.7 from "
                           "https://repo.maven.apache.org/maven2 ("), last
    assert last.endswith("): offline? Run it once with the network to fill ~/.m2; "
                         "after that it builds offline")
