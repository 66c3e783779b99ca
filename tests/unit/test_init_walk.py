"""`devstack init`'s walk and names: what it skips (and says), unreadable files, service names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack.init import wiring
from tests.support.initrepo import FASTAPI_MAIN, detect, make, service, under, vite_app


def test_dependency_build_and_virtualenv_folders_are_skipped_and_said_once(tmp_path: Path) -> None:
    make(tmp_path, {
        **under("web", vite_app()),
        **under("web/node_modules/some-lib", vite_app()),  # a package with vite and a dev script
        **under("web/node_modules/other/node_modules/deep", vite_app()),
        "api/requirements.txt": "fastapi\n", "api/main.py": FASTAPI_MAIN,
        "api/env/pyvenv.cfg": "home = /usr\n", "api/env/lib/site.py": FASTAPI_MAIN,
        "core/target/classes/application.properties": "server.port=1\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        **under("legacy/build", vite_app()),  # a real app in a folder named like build output
    })
    result = detect(tmp_path)
    assert sorted(s.name for s in result.services) == ["api", "web"]
    assert result.skipped == [
        "skipped legacy/build/ (build output), though it holds package.json: nothing in it was looked at",
        "skipped 4 dependency, build, cache or virtualenv folders: "
        ".git, api/env, core/target, web/node_modules",
    ]


def test_a_folder_symlink_is_not_followed(tmp_path: Path) -> None:
    make(tmp_path, under("real/web", vite_app()))
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert [s.found.folder for s in detect(tmp_path).services] == ["real/web"]


def test_an_unreadable_file_is_a_note_and_no_evidence(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    make(tmp_path, {**under("web", vite_app()), **under("admin", vite_app(port_line="port: 3001"))})
    real = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path.name == "package.json" and path.parent.name == "admin":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = detect(tmp_path)
    assert [s.name for s in result.services] == ["web"]
    assert result.notes == ["cannot read admin/package.json (Permission denied); skipped it"]


def test_a_binary_file_where_text_is_expected_is_a_note(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_bytes(b"\xff\xfe\x00garbage")
    assert detect(tmp_path).notes == ["package.json is not UTF-8 text; skipped it"]


def test_names_come_from_folders_made_valid() -> None:
    assert wiring.name_of("apps/My App.v2", "repo") == "my-app-v2"
    assert wiring.name_of(".", "Shop_Site") == "shop_site"
    assert wiring.name_of("apps/__", "repo") == "app"


def test_names_are_unique_by_role_then_parent_then_number(tmp_path: Path) -> None:
    api = {"requirements.txt": "fastapi\n", "main.py": FASTAPI_MAIN}
    make(tmp_path, {
        **vite_app(), **api,  # two services in the root folder
        **under("a/api", {**api, "README.md": "uvicorn main:app --port 8001\n"}),
        **under("b/api", {**api, "README.md": "uvicorn main:app --port 8002\n"}),
    })
    names = {s.found.folder + " " + s.found.kind: s.name for s in detect(tmp_path).services}
    root = tmp_path.name.lower()
    assert names == {". Vite 5": f"{root}-web", ". FastAPI": f"{root}-api", "a/api FastAPI": "a-api",
                     "b/api FastAPI": "b-api"}


def test_two_services_on_one_port_are_a_question(tmp_path: Path) -> None:
    api = {"requirements.txt": "fastapi\n", "main.py": FASTAPI_MAIN}
    make(tmp_path, {**under("one", api), **under("two", api)})
    result = detect(tmp_path)
    [question] = result.ambiguities
    assert question.lines() == [
        "two: port 8000 is also one's:",
        "  one  (port 8000 from uvicorn's default)",
        "  two  (port 8000 from uvicorn's default)",
        "  pick one: devstack init --choose two=PORT (another port for this one) or change the port in one "
        "app's config",
    ]
    assert service(detect(tmp_path, two="8001"), "two").found.command == "uvicorn main:app --port 8001"
