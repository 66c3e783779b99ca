"""`devstack init` on Vite apps: package.json, lockfile, vite.config.*, proxy → depends_on."""

from __future__ import annotations

from pathlib import Path

from devstack.init import jsscan
from tests.support.initrepo import FASTAPI_MAIN, detect, make, service, toml_of, under, vite_app


def test_a_vite_app_with_a_dev_script_is_a_service_with_npm_and_the_default_port(tmp_path: Path) -> None:
    make(tmp_path, under("apps/web", vite_app()))
    web = service(detect(tmp_path), "web")
    assert (web.found.command, web.found.setup, web.found.port) == ("npm run dev", "npm ci", 5173)
    assert web.found.port_from == "Vite's default"
    assert web.found.headline() == "Vite 5 (apps/web/package.json), port 5173 from Vite's default"
    assert toml_of(detect(tmp_path))["services"]["web"]["health"] == {"http": "http://localhost:5173/"}


def test_vite_without_a_dev_script_is_not_a_service_and_says_so(tmp_path: Path) -> None:
    make(tmp_path, {"package.json": {"devDependencies": {"vite": "5"}, "scripts": {"build": "vite build"}}})
    result = detect(tmp_path)
    assert result.services == []
    assert result.notes == ["package.json has vite but no dev script; not taken as a service"]


def test_a_package_json_without_vite_is_no_service(tmp_path: Path) -> None:
    make(tmp_path, {"package.json": {"scripts": {"dev": "next dev"}, "dependencies": {"next": "14"}}})
    assert detect(tmp_path).services == []


def test_the_lockfile_names_the_package_manager_and_its_install(tmp_path: Path) -> None:
    make(tmp_path, {**under("a", vite_app(lock="pnpm-lock.yaml")), **under("b", vite_app(lock="yarn.lock")),
                    **under("c", vite_app(lock="bun.lockb")), **under("d", vite_app(lock=None)),
                    "e/yarn.lock": "__metadata:\n  version: 6\n",
                    **under("e", {k: v for k, v in vite_app(lock=None).items()})})
    result = detect(tmp_path)
    got = {s.name: (s.found.command, s.found.setup) for s in result.services}
    assert got["a"] == ("pnpm run dev", "pnpm install --frozen-lockfile")
    assert got["b"] == ("yarn run dev", "yarn install --frozen-lockfile")
    assert got["c"] == ("bun run dev", "bun install --frozen-lockfile")
    assert got["d"] == ("npm run dev", "npm install")
    assert got["e"] == ("yarn run dev", "yarn install --immutable")  # a Yarn 2+ lockfile


def test_a_workspace_lockfile_in_a_parent_folder_counts(tmp_path: Path) -> None:
    make(tmp_path, {"pnpm-lock.yaml": "lockfileVersion: 9\n", **under("packages/web", vite_app(lock=None))})
    web = service(detect(tmp_path), "web")
    assert web.found.setup == "pnpm install --frozen-lockfile"
    assert "pnpm (pnpm-lock.yaml), so setup is pnpm install --frozen-lockfile" in web.found.evidence


def test_two_lockfiles_are_a_question_and_choose_answers_it(tmp_path: Path) -> None:
    make(tmp_path, {**under("web", vite_app()), "web/yarn.lock": "# yarn\n"})
    result = detect(tmp_path)
    assert result.services == []
    [question] = result.ambiguities
    assert question.lines() == [
        "web: lockfiles of more than one package manager:",
        "  npm  (web/package-lock.json)",
        "  yarn  (web/yarn.lock)",
        "  pick one: devstack init --choose web=VALUE (one of the above) or delete the lockfile you do not "
        "use, or set packageManager in package.json",
    ]
    assert service(detect(tmp_path, web="yarn"), "web").found.command == "yarn run dev"


def test_package_manager_field_wins_over_lockfiles(tmp_path: Path) -> None:
    files = vite_app()
    files["package.json"]["packageManager"] = "pnpm@9.1.0"
    make(tmp_path, {**files, "yarn.lock": "# yarn\n"})
    found = detect(tmp_path).services[0].found
    assert found.command == "pnpm run dev"


def test_the_port_comes_from_server_port_in_vite_config(tmp_path: Path) -> None:
    make(tmp_path, under("web", vite_app(port_line="port: 3000, strictPort: true")))
    web = service(detect(tmp_path), "web")
    assert (web.found.port, web.found.port_from) == (3000, "vite.config.js")


def test_preview_port_and_commented_port_are_not_the_dev_port(tmp_path: Path) -> None:
    make(tmp_path, {"package.json": vite_app()["package.json"], "vite.config.ts": """\
        import { defineConfig } from "vite";
        // server: { port: 1111 },
        export default defineConfig(({ mode }) => ({
          preview: { port: 4173 },
          server: {
            /* port: 2222, */
            host: "0.0.0.0",
            port: 4000,
            hmr: { port: 24678 },
          },
        }));
        """})
    found = detect(tmp_path).services[0].found
    assert (found.port, found.port_from) == (4000, "vite.config.ts")


def test_the_dev_scripts_port_flag_wins(tmp_path: Path) -> None:
    make(tmp_path, vite_app(port_line="port: 3000", dev="vite --port 3100 --host"))
    found = detect(tmp_path).services[0].found
    assert (found.port, found.port_from) == (3100, "the dev script (--port)")
    assert "the dev script's --port wins over vite.config.js server.port (3000)" in found.evidence


def test_a_port_from_an_expression_with_one_number(tmp_path: Path) -> None:
    make(tmp_path, vite_app(port_line="port: parseInt(process.env.WEB_PORT ?? '3300', 10)"))
    assert detect(tmp_path).services[0].found.port == 3300


def test_two_server_ports_are_a_question(tmp_path: Path) -> None:
    make(tmp_path, vite_app(port_line="port: process.env.CI ? 4000 : 5000"))
    result = detect(tmp_path)
    assert result.services == []
    [question] = result.ambiguities
    assert question.question == "more than one server.port"
    assert [c[0] for c in question.choices] == ["4000", "5000"]
    chosen = detect(tmp_path, **{".": "5000"}).services[0].found
    assert (chosen.port, chosen.command) == (5000, "npm run dev -- --port 5000 --strictPort")


def test_a_proxy_target_on_another_services_port_is_a_dependency(tmp_path: Path) -> None:
    make(tmp_path, {
        **under("apps/web", vite_app(port_line="""port: 5173,
            proxy: {
              '/api': 'http://localhost:8000',
              "/ws": { target: "ws://127.0.0.1:8000", ws: true },
              '/ext': 'https://example.com:443',
            }""")),
        "apps/api/requirements.txt": "fastapi\nuvicorn\n",
        "apps/api/main.py": FASTAPI_MAIN,
    })
    result = detect(tmp_path)
    web = service(result, "web")
    assert web.depends_on == ["api"]
    assert "depends on api: server.proxy '/api' in vite.config.js targets http://localhost:8000" \
        in web.evidence
    assert [s.name for s in result.services] == ["api", "web"]
    assert toml_of(result)["services"]["web"]["depends_on"] == ["api"]


def test_a_proxy_target_nobody_serves_is_a_note(tmp_path: Path) -> None:
    make(tmp_path, under("web", vite_app(port_line="proxy: { '/api': 'http://localhost:9999' }")))
    result = detect(tmp_path)
    assert service(result, "web").depends_on == []
    assert result.notes == ["web: server.proxy '/api' in vite.config.js targets http://localhost:9999, "
                            "but no service found here uses port 9999"]


def test_a_malformed_package_json_is_skipped_with_one_note(tmp_path: Path) -> None:
    make(tmp_path, {"web/package.json": '{"scripts": {"dev": "vite"},\n "devDependencies": {"vite": }}'})
    result = detect(tmp_path)
    assert result.services == []
    assert result.notes == ["web/package.json is not valid JSON (line 2: Expecting value); skipped it"]


def test_masking_keeps_braces_in_strings_and_comments_out_of_the_structure() -> None:
    src = jsscan.scan("const a = { server: { port: 1, note: '}{', url: `x${1}` /* } */ }, other: 2 }")
    [span] = jsscan.objects(src, "server")
    assert jsscan.entries(src, span) == {"port": "1", "note": "'}{'", "url": "`x${1}`"}
    quoted = jsscan.scan('{ "server": { "port": 7 } }')
    assert jsscan.entries(quoted, jsscan.objects(quoted, "server")[0]) == {"port": "7"}
