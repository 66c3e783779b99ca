"""`devstack init` on Spring Boot apps: the build, the wrapper, server.port, the probe, the datasource."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.support.initrepo import FASTAPI_MAIN, detect, make, service, toml_of, under

APP = """\
package demo;

import org.springframework.boot.autoconfigure.SpringBootApplication;

@SpringBootApplication
public class DemoApplication {}
"""


def pom(*artifacts: str, parent: str = "3.2.5", extra: str = "") -> str:
    deps = "".join(f"<dependency><groupId>{a.split(':')[0]}</groupId><artifactId>{a.split(':')[1]}"
                   f"</artifactId></dependency>" for a in artifacts)
    return f"""<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <parent><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-parent</artifactId>
    <version>{parent}</version></parent>
  <artifactId>api</artifactId>{extra}
  <dependencies>{deps}</dependencies>
</project>
"""


WEB = "org.springframework.boot:spring-boot-starter-web"
ACTUATOR = "org.springframework.boot:spring-boot-starter-actuator"
PG = "org.postgresql:postgresql"


def spring(build: str = "", resources: dict[str, str] | None = None, sources: dict[str, str] | None = None,
           build_file: str = "pom.xml") -> dict[str, Any]:
    files: dict[str, Any] = {build_file: build or pom(WEB), "src/main/java/demo/DemoApplication.java": APP}
    files.update({f"src/main/resources/{k}": v for k, v in (resources or {}).items()})
    files.update({f"src/main/java/demo/{k}": v for k, v in (sources or {}).items()})
    return files


def test_a_maven_spring_boot_app_runs_with_mvn_and_a_long_start_period(tmp_path: Path) -> None:
    make(tmp_path, under("apps/core-api", spring()))
    core = service(detect(tmp_path), "core-api")
    assert (core.found.command, core.found.setup) == ("mvn spring-boot:run", "mvn -B -q -DskipTests package")
    assert core.found.headline() == \
        "Spring Boot 3 (apps/core-api/pom.xml), port 8080 from Spring Boot's default"
    assert core.found.probe.kind == "tcp" and core.found.probe.start_period == "180s"
    assert "probe TCP: no actuator and no obvious health endpoint" in core.found.evidence


def test_the_maven_wrapper_is_used_when_it_is_there(tmp_path: Path) -> None:
    make(tmp_path, {**spring(), "mvnw": "#!/bin/sh\n"})
    os.chmod(tmp_path / "mvnw", 0o755)
    found = detect(tmp_path).services[0].found
    assert (found.command, found.setup) == ("./mvnw spring-boot:run", "./mvnw -B -q -DskipTests package")
    assert "Maven: the wrapper mvnw" in found.evidence


def test_a_wrapper_without_its_executable_bit_runs_through_sh_and_one_above_is_found(tmp_path: Path) -> None:
    make(tmp_path, {"mvnw": "#!/bin/sh\n", **under("services/api", spring())})
    os.chmod(tmp_path / "mvnw", 0o644)
    assert detect(tmp_path).services[0].found.command == "sh ../../mvnw spring-boot:run"


def test_gradle_kotlin_dsl_with_the_boot_plugin_and_wrapper(tmp_path: Path) -> None:
    gradle = 'plugins {\n  id("org.springframework.boot") version "3.3.0"\n}\n' \
             'dependencies { implementation("org.springframework.boot:spring-boot-starter-actuator") }\n'
    make(tmp_path, {**under("api", spring(gradle, build_file="build.gradle.kts")),
                    "api/gradlew": "#!/bin/sh\n"})
    os.chmod(tmp_path / "api/gradlew", 0o755)
    found = detect(tmp_path).services[0].found
    assert (found.kind, found.command, found.setup) == \
        ("Spring Boot 3", "./gradlew bootRun", "./gradlew -q assemble")
    assert found.probe.target == "http://localhost:8080/actuator/health"


def test_a_build_naming_spring_boot_without_an_application_class_is_a_library(tmp_path: Path) -> None:
    make(tmp_path, {"lib/pom.xml": pom(WEB)})
    result = detect(tmp_path)
    assert result.services == []
    assert result.notes == ["lib/pom.xml names org.springframework.boot but no @SpringBootApplication "
                            "class is in its src/main: a library, not taken as a service"]


def test_an_aggregator_pom_is_not_an_app_but_its_modules_are(tmp_path: Path) -> None:
    make(tmp_path, {"pom.xml": pom(extra="<packaging>pom</packaging>"), **under("api", spring())})
    assert [s.found.folder for s in detect(tmp_path).services] == ["api"]


def test_the_port_comes_from_application_properties_placeholder_default(tmp_path: Path) -> None:
    make(tmp_path, under("core", spring(resources={"application.properties": "server.port=${PORT:8181}\n"})))
    found = detect(tmp_path).services[0].found
    assert (found.port, found.port_from) == (8181, "application.properties (the default of ${PORT:8181})")


def test_the_port_comes_from_application_yml_and_profiles_count_only_when_active(tmp_path: Path) -> None:
    yml = ("server:\n  port: 9090\n---\n"
           "spring:\n  config:\n    activate:\n      on-profile: prod\nserver:\n  port: 80\n")
    dev = "server.port=9191\n"
    make(tmp_path, spring(resources={"application.yml": yml, "application-dev.properties": dev}))
    assert detect(tmp_path).services[0].found.port == 9090
    active = "spring:\n  profiles:\n    active: dev\n" + yml
    make(tmp_path, spring(resources={"application.yml": active, "application-dev.properties": dev}))
    found = detect(tmp_path).services[0].found
    assert (found.port, found.port_from) == (9191, "application-dev.properties")


def test_two_ports_in_two_files_are_a_question_settled_by_choose(tmp_path: Path) -> None:
    make(tmp_path, under("core", spring(resources={"application.properties": "server.port=8080\n",
                                                   "application.yml": "server:\n  port: 9090\n"})))
    result = detect(tmp_path)
    [question] = result.ambiguities
    assert question.lines()[0] == "core: more than one server.port:"
    assert [c[0] for c in question.choices] == ["9090", "8080"]
    chosen = detect(tmp_path, core="9090")
    core = service(chosen, "core")
    assert (core.found.port, core.found.env) == (9090, (("SERVER_PORT", "9090"),))
    assert toml_of(chosen)["services"]["core"]["env"] == {"SERVER_PORT": "9090"}


def test_a_random_port_is_a_question_a_fixed_port_answers(tmp_path: Path) -> None:
    make(tmp_path, spring(resources={"application.properties": "server.port=0\n"}))
    [question] = detect(tmp_path).ambiguities
    assert question.lines()[-1] == \
        "  pick one: devstack init --choose .=PORT (a fixed port for it) or set a fixed server.port"
    assert detect(tmp_path, **{".": "8085"}).services[0].found.env == (("SERVER_PORT", "8085"),)


def test_the_actuator_is_the_probe_with_its_base_path_context_path_and_port(tmp_path: Path) -> None:
    props = ("server.port=8081\nserver.servlet.context-path=/app\n"
             "management.endpoints.web.base-path=/manage\n")
    make(tmp_path, spring(pom(WEB, ACTUATOR), resources={"application.properties": props}))
    assert detect(tmp_path).services[0].found.probe.target == "http://localhost:8081/app/manage/health"
    props = "management.server.port=9001\n"
    make(tmp_path, spring(pom(WEB, ACTUATOR), resources={"application.properties": props}))
    assert detect(tmp_path).services[0].found.probe.target == "http://localhost:9001/actuator/health"


def test_an_actuator_whose_health_is_not_exposed_is_not_the_probe(tmp_path: Path) -> None:
    props = "management.endpoints.web.exposure.include=info\n"
    make(tmp_path, spring(pom(WEB, ACTUATOR), resources={"application.properties": props}))
    assert detect(tmp_path).services[0].found.probe.kind == "tcp"


def test_without_the_actuator_the_obvious_health_controller_is_the_probe(tmp_path: Path) -> None:
    controller = """\
        @RestController
        @RequestMapping("/api/health")
        public class HealthController {
            @GetMapping
            public Map<String, Object> health() { return Map.of(); }
            @GetMapping("/db")
            public Map<String, Object> db() { return Map.of(); }
            @GetMapping("/{part}")
            public Map<String, Object> part() { return Map.of(); }
        }
        """
    make(tmp_path, spring(sources={"HealthController.java": controller}))
    found = detect(tmp_path).services[0].found
    assert found.probe.target == "http://localhost:8080/api/health"
    assert "probe /api/health: @GetMapping in src/main/java/demo/HealthController.java" in found.evidence


def test_the_datasource_url_is_a_postgres_the_app_depends_on(tmp_path: Path) -> None:
    yml = ("spring:\n  datasource:\n    url: jdbc:postgresql://localhost:5433/shop\n"
           "    username: shop\n    password: ${DB_PASSWORD:s3cret}\n")
    make(tmp_path, under("shop-api", spring(pom(WEB, PG), resources={"application.yml": yml})))
    result = detect(tmp_path)
    api = service(result, "shop-api")
    db = service(result, "postgres")
    assert api.depends_on == ["postgres"]
    assert db.found.port == 5433
    assert "CREATE ROLE \"shop\" LOGIN PASSWORD 's3cret';" in (db.found.setup or "")
    assert api.found.env == ()  # the app's own config names the database: nothing to add


def test_a_driver_without_a_url_gets_the_one_database_the_repository_names(tmp_path: Path) -> None:
    make(tmp_path, {**under("apps/core-api", spring(pom(WEB, PG))),
                    "apps/ai-api/requirements.txt": "fastapi\n", "apps/ai-api/main.py": FASTAPI_MAIN,
                    "apps/ai-api/.env.example": "DATABASE_URL=postgresql://app:pw@127.0.0.1:5432/appdb\n"})
    result = detect(tmp_path)
    core = service(result, "core-api")
    assert core.depends_on == ["postgres"]
    assert dict(core.env) == {"SPRING_DATASOURCE_URL": "jdbc:postgresql://localhost:5432/appdb",
                              "SPRING_DATASOURCE_USERNAME": "app", "SPRING_DATASOURCE_PASSWORD": "pw"}


def test_a_driver_without_a_url_and_no_database_is_a_note(tmp_path: Path) -> None:
    make(tmp_path, under("core", spring(pom(WEB, PG))))
    result = detect(tmp_path)
    assert result.notes == ["core: the PostgreSQL driver is a dependency but no spring.datasource.url is "
                            "set, and no database found here; set spring.datasource.url"]


def test_a_malformed_pom_and_yaml_are_notes_not_crashes(tmp_path: Path) -> None:
    make(tmp_path, {**under("a", spring("<project><parent>")),
                    **under("b", spring(resources={"application.yml": "server:\n  port: [8080\n"}))})
    result = detect(tmp_path)
    assert [s.name for s in result.services] == ["b"]
    assert result.notes[0].startswith("a/pom.xml is not well-formed XML (")
    assert result.notes[1] == "b/src/main/resources/application.yml is not valid YAML (line 3); skipped it"
