"""`devstack export kubernetes`: Deployments and Services with readiness and startup probes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devstack.export import yamlout
from devstack.export.kubernetes import k8s_name
from tests.support.exporting import export, stack_in


def _manifests(stack_dir: Path, out: Path, toml: str, files: dict[str, str] | None = None
               ) -> tuple[dict[str, dict[str, Any]], list[str], list[str]]:
    written, notes = export("kubernetes", stack_in(stack_dir, toml, files), out)
    docs = [doc for text in written.values() for doc in yamlout.load_all(text)]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}, notes.warnings, notes.steps


def _container(docs: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    return docs[f"Deployment/{name}"]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def test_names_are_dns_labels() -> None:
    assert k8s_name("Core_API.v2") == "core-api-v2"
    assert k8s_name("x" * 70) == "x" * 63


def test_probes_are_readiness_and_startup_probes(tmp_path: Path) -> None:
    docs, warnings, _ = _manifests(tmp_path / "s", tmp_path / "out", """
        [services.web]
        cwd = "web"
        command = "npm run dev"
        port = 5173
        health.http = "http://localhost:5173/app?x=1"
        health.interval = "5s"
        health.retries = 4
        health.start_period = "90s"
        [services.api]
        command = "python app.py"
        port = 8000
        restart_on_unhealthy = true
        health = { http = "http://localhost:8000/health", expect_json = { status = "OK" }, timeout = 1.5 }
        [services.db]
        command = "python db.py"
        port = 5432
        health = { tcp = "127.0.0.1:5432" }
        [services.job]
        command = "python job.py"
        health = { cmd = "test -f /tmp/ready" }
        [services.logs]
        command = "python logs.py"
        health = { log = "ready" }
    """, {"web/package.json": "{}"})
    web = _container(docs, "web")
    assert web["readinessProbe"] == {"httpGet": {"path": "/app?x=1", "port": 5173, "scheme": "HTTP"},
                                     "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 4}
    assert web["startupProbe"]["periodSeconds"] == 1 and web["startupProbe"]["failureThreshold"] == 90
    assert "livenessProbe" not in web
    api = _container(docs, "api")
    assert api["readinessProbe"]["exec"]["command"][:2] == ["python", "-c"]  # the JSON body is checked too
    assert api["readinessProbe"]["timeoutSeconds"] == 2
    assert api["livenessProbe"] == api["readinessProbe"]
    assert "api: probe timeout 1500ms becomes 2s: Kubernetes counts whole seconds" in warnings
    assert _container(docs, "db")["readinessProbe"]["tcpSocket"] == {"port": 5432}
    job = _container(docs, "job")["readinessProbe"]["exec"]
    assert job == {"command": ["/bin/sh", "-c", "test -f /tmp/ready"]}
    assert "readinessProbe" not in _container(docs, "logs")
    assert any(w.startswith("logs: its log probe ('ready') cannot run in Kubernetes") for w in warnings)
    assert "Service/job" not in docs and docs["Service/web"]["spec"]["ports"] == [
        {"port": 5173, "targetPort": 5173, "protocol": "TCP"}]


def test_healthy_dependencies_are_waited_for_through_their_service(tmp_path: Path) -> None:
    docs, warnings, _ = _manifests(tmp_path / "s", tmp_path / "out", """
        [services.db]
        command = "postgres -D data"
        port = 5432
        [services.cache]
        command = "python cache.py"
        port = 6379
        optional = true
        [services.worker]
        command = "python worker.py"
        [services.api]
        command = "python app.py"
        depends_on = { db = "healthy", cache = "healthy", worker = "healthy" }
        env = { DATABASE_URL = "postgresql://app@127.0.0.1:5432/app" }
    """)
    pod = docs["Deployment/api"]["spec"]["template"]["spec"]
    assert pod["initContainers"] == [{"name": "wait-for-db", "image": "busybox:1.36", "command": [
        "sh", "-c", "until nc -z -w 2 db 5432; do echo waiting for db; sleep 1; done"]}]
    assert {"name": "DATABASE_URL", "value": "postgresql://app@db:5432/app"} in pod["containers"][0]["env"]
    assert "api: does not wait for cache: it is optional, and a wait would block on its failure" in warnings
    assert "api: cannot wait for worker to be healthy: it has no port, so no Service to ask" in warnings
    assert pod["enableServiceLinks"] is False and pod["terminationGracePeriodSeconds"] == 10
    db = docs["Deployment/db"]["spec"]["template"]["spec"]
    assert db["volumes"] == [{"name": "data", "emptyDir": {}}]


def test_env_files_and_secrets_become_secrets_made_by_kubectl(tmp_path: Path) -> None:
    docs, warnings, steps = _manifests(tmp_path / "s", tmp_path / "out", """
        [stack]
        name = "Shop"
        env_file = "shared.env"
        [services.api]
        cwd = "api"
        command = "python app.py"
        env = { MODE = "prod", SECRET_KEY = "marker-value", SHELLISH = "$(date)" }
    """, {"shared.env": "A=${B}\n", "api/.env": "TOKEN=marker-file\n"})
    api = _container(docs, "api")
    assert "marker" not in str(docs)
    assert api["env"] == [{"name": "MODE", "value": "prod"}, {"name": "SHELLISH", "value": "$$(date)"},
                          {"name": "PYTHONUNBUFFERED", "value": "1"}]  # $(NAME) would be expanded
    assert api["envFrom"] == [{"secretRef": {"name": "shop-env"}}, {"secretRef": {"name": "api-env"}},
                              {"secretRef": {"name": "api-secrets"}}]
    assert steps == [
        f"kubectl create secret generic shop-env --from-env-file={tmp_path}/s/shared.env",
        f"kubectl create secret generic api-env --from-env-file={tmp_path}/s/api/.env",
        "kubectl create secret generic api-secrets --from-env-file=api.secrets.env",
        "kubectl apply -f .",
    ]
    assert any("uses ${VAR}, which kubectl does not expand" in w for w in warnings)
    assert api["image"] == "shop-api:latest"
    assert any(w.startswith("images are placeholders (shop-api:latest)") for w in warnings)


def test_one_file_for_everything(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", '[services.a]\ncommand = "python a.py"\nport = 1\n'
                                      '[services.b]\ncommand = "python b.py"\n')
    files, _ = export("kubernetes", stack, tmp_path / "all.yaml")
    assert list(files) == ["."]
    kinds = [(d["kind"], d["metadata"]["name"]) for d in yamlout.load_all(files["."])]
    assert kinds == [("Deployment", "a"), ("Service", "a"), ("Deployment", "b")]
