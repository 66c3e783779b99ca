"""devstack.requirements: pip requirements files read as pip reads them, compared with a
real venv's installed metadata.

Every venv here is real (`python -m venv --without-pip`); an "installed package" is the
`<name>-<version>.dist-info/` folder with METADATA, RECORD and INSTALLER that pip leaves
behind, written into the venv's real site-packages.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devstack.doctor.reqfile import Issue, Line, Verdict, read_requirements
from devstack.doctor.requirements import check_requirements, site_packages, venv_python_version
from tests.support.files import write
from tests.support.venvs import install, make_venv, site_dir


def set_version(venv: Path, key: str, value: str) -> None:
    """Rewrite pyvenv.cfg's version line, as another Python (or uv, or virtualenv) writes it."""
    cfg = venv / "pyvenv.cfg"
    kept = [line for line in cfg.read_text().splitlines() if not line.startswith(("version", "version_info"))]
    cfg.write_text("\n".join([*kept, f"{key} = {value}"]) + "\n")


def messages(issues: tuple[Issue, ...], root: Path) -> list[str]:
    return [issue.message(lambda p: str(p.relative_to(root))) for issue in issues]


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    return make_venv(tmp_path / "venv")


# --- reading a requirements file ------------------------------------------------------


def test_comments_blank_lines_options_and_hashes_are_read_like_pip(tmp_path: Path) -> None:
    path = write(tmp_path / "requirements.txt", """
        # the API
        --index-url https://pypi.org/simple
        --extra-index-url https://user:pw@mirror.example/simple

        fastapi==0.110.0   # pinned for pydantic 1
        -c constraints.txt
        --pre
        uvicorn[standard]>=0.27 \\
            --hash=sha256:0123456789abcdef
        pyjwt==2.8.0 ; python_version >= "3.8"
        """)
    parsed = read_requirements(path)
    assert [(line.number, line.text, str(req)) for line, req in parsed.requirements] == [
        (5, "fastapi==0.110.0", "fastapi==0.110.0"),
        (8, "uvicorn[standard]>=0.27     --hash=sha256:0123456789abcdef", "uvicorn[standard]>=0.27"),
        (10, 'pyjwt==2.8.0 ; python_version >= "3.8"', 'pyjwt==2.8.0; python_version >= "3.8"'),
    ]
    assert parsed.issues == ()  # -c and options lines are not findings


def test_a_continuation_joins_lines_and_keeps_the_first_line_number(tmp_path: Path) -> None:
    path = write(tmp_path / "requirements.txt", """
        first==1.0
        second\\
        >=2.0,\\
        <3
        # a comment ending in a backslash does not continue \\
        third
        """)
    parsed = read_requirements(path)
    assert [(line.number, str(req)) for line, req in parsed.requirements] == [
        (1, "first==1.0"), (2, "second<3,>=2.0"), (6, "third")]


def test_a_hash_inside_a_url_is_not_a_comment(tmp_path: Path) -> None:
    path = write(tmp_path / "requirements.txt", "pkg @ https://example.com/pkg-1.0.whl#sha256=abc\n")
    ((_line, req),) = read_requirements(path).requirements
    assert req.url == "https://example.com/pkg-1.0.whl#sha256=abc"


def test_includes_are_relative_to_the_including_file_and_read_once(tmp_path: Path) -> None:
    write(tmp_path / "requirements" / "base.txt", "-r common.txt\nbase-pkg\n")
    write(tmp_path / "requirements" / "common.txt", "common-pkg\n")
    write(tmp_path / "requirements" / "dev.txt", "--requirement=common.txt\ndev-pkg\n")
    path = write(tmp_path / "requirements.txt", """
        -r requirements/base.txt
        -rrequirements/dev.txt
        top-pkg
        """)
    parsed = read_requirements(path)
    # common.txt is included twice (a diamond): its requirements are read once.
    assert [(line.file.relative_to(tmp_path).as_posix(), line.number, req.name)
            for line, req in parsed.requirements] == [
        ("requirements/common.txt", 1, "common-pkg"),
        ("requirements/base.txt", 2, "base-pkg"),
        ("requirements/dev.txt", 2, "dev-pkg"),
        ("requirements.txt", 3, "top-pkg"),
    ]
    assert parsed.issues == ()


def test_an_include_loop_and_a_missing_include_are_reported_not_followed(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "-r requirements.txt\na-pkg\n")
    path = write(tmp_path / "requirements.txt", "-r a.txt\n-r missing.txt\ntop-pkg\n")
    parsed = read_requirements(path)
    assert [req.name for _, req in parsed.requirements] == ["a-pkg", "top-pkg"]
    assert messages(parsed.issues, tmp_path) == [
        "a.txt line 1: -r requirements.txt: an include loop (that file is already being read)",
        "requirements.txt line 2: -r missing.txt: cannot read that file (No such file or directory)",
    ]
    assert {issue.verdict for issue in parsed.issues} == {Verdict.UNREADABLE}


def test_urls_paths_editables_and_garbage_are_skipped_with_the_reason(tmp_path: Path) -> None:
    path = write(tmp_path / "requirements.txt", """
        -e .
        --editable git+https://github.com/acme/lib.git#egg=lib
        git+https://deploy:ghp_t0ken@github.com/acme/private.git@main
        https://example.com/pkg-1.0.tar.gz
        ./libs/local-pkg
        dist/thing-1.0-py3-none-any.whl
        -r https://example.com/requirements.txt
        this is == not a requirement
        ok-pkg
        """)
    parsed = read_requirements(path)
    assert [req.name for _, req in parsed.requirements] == ["ok-pkg"]
    assert {issue.verdict for issue in parsed.issues} == {Verdict.SKIPPED}
    # A token in a URL is not shown.
    assert messages(parsed.issues, tmp_path) == [
        "requirements.txt line 1 not checked: -e . (an editable install)",
        "requirements.txt line 2 not checked: --editable git+https://github.com/acme/lib.git#egg=lib "
        "(an editable install)",
        "requirements.txt line 3 not checked: git+https://****@github.com/acme/private.git@main (a URL)",
        "requirements.txt line 4 not checked: https://example.com/pkg-1.0.tar.gz (a URL)",
        "requirements.txt line 5 not checked: ./libs/local-pkg (a local path)",
        "requirements.txt line 6 not checked: dist/thing-1.0-py3-none-any.whl (a local path)",
        "requirements.txt line 7 not checked: -r https://example.com/requirements.txt "
        "(an include from a URL)",
        "requirements.txt line 8 not checked: this is == not a requirement "
        "(not a requirement devstack can read)",
    ]


def test_bytes_that_are_not_utf8_and_a_bom_do_not_stop_the_reading(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"\xef\xbb\xbffirst==1.0\n# caf\xe9\nsecond\n")
    assert [req.name for _, req in read_requirements(path).requirements] == ["first", "second"]


def test_an_unreadable_top_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_requirements(tmp_path / "requirements.txt")


def test_find_matches_any_spelling_of_the_name(tmp_path: Path) -> None:
    path = write(tmp_path / "requirements.txt", "PyJWT==2.8.0\nZope.Interface\n")
    parsed = read_requirements(path)
    found = parsed.find("pyjwt")
    assert found is not None and str(found[1]) == "PyJWT==2.8.0"
    found = parsed.find("zope_interface")
    assert found is not None and found[1].name == "Zope.Interface"
    assert parsed.find("uvicorn") is None


# --- the venv -------------------------------------------------------------------------


def test_the_venv_python_version_comes_from_pyvenv_cfg(venv: Path) -> None:
    assert venv_python_version(venv) == tuple(sys.version_info[:3])
    set_version(venv, "version_info", "3.12.1.final.0")  # virtualenv's and uv's key
    assert venv_python_version(venv) == (3, 12, 1)
    set_version(venv, "version", "3.9")
    assert venv_python_version(venv) == (3, 9, 0)


def test_without_a_version_line_the_lib_folder_names_the_version(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "lib" / "python3.10" / "site-packages").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert venv_python_version(venv) == (3, 10, 0)


def test_site_packages_of_a_windows_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "Lib" / "site-packages").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("version = 3.12.2\n")
    assert site_packages(venv) == [venv / "Lib" / "site-packages"]


def test_system_site_packages_count_when_the_venv_includes_them(tmp_path: Path) -> None:
    base = tmp_path / "base"  # a base interpreter's prefix: bin/ and lib/python3.11/site-packages
    (base / "bin").mkdir(parents=True)
    system_site = base / "lib" / "python3.11" / "site-packages"
    system_site.mkdir(parents=True)
    venv = tmp_path / "venv"
    (venv / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    cfg = f"home = {base / 'bin'}\ninclude-system-site-packages = true\nversion = 3.11.4\n"
    (venv / "pyvenv.cfg").write_text(cfg)
    install(venv, "numpy", "1.26.4", site=system_site)
    path = write(tmp_path / "requirements.txt", "numpy>=1.26\n")
    assert site_packages(venv) == [venv / "lib" / "python3.11" / "site-packages", system_site]
    assert check_requirements(path, venv).issues == ()
    (venv / "pyvenv.cfg").write_text(cfg.replace("true", "false"))
    assert [i.verdict for i in check_requirements(path, venv).issues] == [Verdict.MISSING]


# --- comparing ------------------------------------------------------------------------


def test_a_satisfied_file_has_no_issues(tmp_path: Path, venv: Path) -> None:
    install(venv, "fastapi", "0.110.0")
    install(venv, "PyJWT", "2.8.0")
    install(venv, "zope.interface", "6.2")
    path = write(tmp_path / "requirements.txt", """
        fastapi==0.110.0
        pyjwt>=2,<3
        Zope_Interface
        """)
    report = check_requirements(path, venv)
    assert report.issues == ()
    assert report.checked == 3
    assert report.python_version == ".".join(map(str, sys.version_info[:3]))


def test_missing_and_mismatched_packages_are_named_with_their_line(tmp_path: Path, venv: Path) -> None:
    install(venv, "fastapi", "0.99.0")
    install(venv, "uvicorn", "0.27.1")
    path = write(tmp_path / "requirements.txt", """
        fastapi==0.110.0
        uvicorn>=0.20,<1
        pyjwt==2.8.0
        """)
    report = check_requirements(path, venv)
    assert [(i.verdict, i.package, i.installed, i.wanted) for i in report.issues] == [
        (Verdict.MISMATCH, "fastapi", "0.99.0", "==0.110.0"),
        (Verdict.MISSING, "pyjwt", None, None),
    ]
    assert messages(report.issues, tmp_path) == [
        "package 'fastapi' 0.99.0 is installed in venv, requirements.txt line 1 wants ==0.110.0",
        "package 'pyjwt' is not installed in venv (requirements.txt line 3: pyjwt==2.8.0)",
    ]


def test_requirements_from_includes_name_the_included_file(tmp_path: Path, venv: Path) -> None:
    write(tmp_path / "requirements" / "base.txt", "# base\nsqlalchemy>=2\n")
    path = write(tmp_path / "requirements.txt", "-r requirements/base.txt\n")
    report = check_requirements(path, venv)
    assert messages(report.issues, tmp_path) == [
        "package 'sqlalchemy' is not installed in venv (requirements/base.txt line 2: sqlalchemy>=2)"]


def test_markers_are_evaluated_for_the_venvs_python_not_devstacks(tmp_path: Path, venv: Path) -> None:
    set_version(venv, "version", "3.8.18")
    path = write(tmp_path / "requirements.txt", """
        backports.zoneinfo ; python_version < "3.9"
        tomli ; python_full_version < "3.8.10"
        exceptiongroup ; python_version >= "3.11"
        pywin32 ; sys_platform == "win32"
        """)
    report = check_requirements(path, venv)
    assert [i.package for i in report.issues] == ["backports.zoneinfo"]
    assert report.checked == 1
    assert report.python_version == "3.8.18"


def test_an_installed_prerelease_satisfies_a_lower_bound(tmp_path: Path, venv: Path) -> None:
    install(venv, "pydantic", "2.7.0b1")
    path = write(tmp_path / "requirements.txt", "pydantic>=2.0\n")
    assert check_requirements(path, venv).issues == ()


def test_a_direct_url_requirement_is_checked_for_presence_only(tmp_path: Path, venv: Path) -> None:
    install(venv, "mylib", "0.0.1")
    path = write(tmp_path / "requirements.txt", "mylib @ git+https://github.com/acme/mylib.git@v2\n"
                                                "otherlib @ https://example.com/otherlib-1.0.whl\n")
    assert messages(check_requirements(path, venv).issues, tmp_path) == [
        "package 'otherlib' is not installed in venv "
        "(requirements.txt line 2: otherlib @ https://example.com/otherlib-1.0.whl)"]


def test_an_extras_requirements_are_checked_not_the_base_dependencies(tmp_path: Path, venv: Path) -> None:
    install(venv, "fastapi", "0.110.0", extras=("email", "all"), requires=(
        "starlette<0.37,>=0.36.3",  # a base dependency: the package's own business
        'email-validator>=2.0.0; extra == "email"',
        'httpx>=0.23.0; extra == "all"',
        'ujson>=4; extra == "all" and python_version < "3.0"',  # the extra, but not for this python
    ))
    install(venv, "email_validator", "1.3.1")
    path = write(tmp_path / "requirements.txt", "fastapi[email,all]==0.110.0\n")
    report = check_requirements(path, venv)
    assert [(i.verdict, i.package, i.via) for i in report.issues] == [
        (Verdict.MISSING, "httpx", "fastapi[all]"),
        (Verdict.MISMATCH, "email-validator", "fastapi[email]"),
    ]
    assert messages(report.issues, tmp_path) == [
        "package 'httpx' is not installed in venv (needed by fastapi[all], requirements.txt line 1: "
        "fastapi[email,all]==0.110.0)",
        "package 'email-validator' 1.3.1 is installed in venv, fastapi[email] (requirements.txt line 1) "
        "wants >=2.0.0",
    ]


def test_an_extra_of_an_extra_is_followed_once(tmp_path: Path, venv: Path) -> None:
    # a[x] needs b[y]; b[y] needs c and, through a loop in the metadata, a[x] again.
    install(venv, "a", "1.0", extras=("x",), requires=('b[y]; extra == "x"',))
    install(venv, "b", "1.0", extras=("y",), requires=('c>=2; extra == "y"', 'a[x]; extra == "y"'))
    path = write(tmp_path / "requirements.txt", "a[x]\n")
    report = check_requirements(path, venv)
    assert [(i.package, i.via) for i in report.issues] == [("c", "b[y]")]


def test_an_unknown_extra_or_broken_metadata_do_not_crash(tmp_path: Path, venv: Path) -> None:
    install(venv, "fastapi", "0.110.0", requires=("this is not a requirement",))
    nameless = site_dir(venv) / "nameless-1.0.dist-info"
    nameless.mkdir()
    (nameless / "METADATA").write_text("Metadata-Version: 2.1\nVersion: 1.0\n")
    install(venv, "oddversion", "not.a.version")
    path = write(tmp_path / "requirements.txt", "fastapi[nosuchextra]\noddversion>=1\n")
    report = check_requirements(path, venv)
    assert messages(report.issues, tmp_path) == [
        "requirements.txt line 2 not checked: oddversion>=1 "
        "(installed version 'not.a.version' is not a valid version)"]


def test_an_issue_message_for_each_verdict() -> None:
    line = Line(Path("/s/apps/api/requirements.txt"), 4, "pyjwt==2.8.0")

    def show(path: Path) -> str:
        return "requirements.txt"

    assert Issue(Verdict.MISSING, line, package="pyjwt").message(show) == (
        "package 'pyjwt' is not installed in venv (requirements.txt line 4: pyjwt==2.8.0)")
    mismatch = Issue(Verdict.MISMATCH, line, package="pyjwt", installed="1.7.1", wanted="==2.8.0")
    assert mismatch.message(show) == (
        "package 'pyjwt' 1.7.1 is installed in venv, requirements.txt line 4 wants ==2.8.0")
    assert Issue(Verdict.SKIPPED, line, reason="a URL").message(show) == (
        "requirements.txt line 4 not checked: pyjwt==2.8.0 (a URL)")
    assert Issue(Verdict.UNREADABLE, line, reason="cannot read that file").message(show) == (
        "requirements.txt line 4: pyjwt==2.8.0: cannot read that file")
