"""Daemonizing, named (doctor/daemons.py) and the containment check: the one-line reasons, the
foreground fix per known daemonizer, and which commands the engine must not call up while they
run. Pure text, no processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config.specs import ServiceSpec, StackSpec
from devstack.doctor.containment import check_containment
from devstack.doctor.daemons import (
    GENERAL_FIX,
    check_daemonizer,
    foreground_fix,
    left_behind_reason,
    waits_for_its_server,
)
from devstack.doctor.findings import Context, Severity
from devstack.env.layers import build_env
from devstack.process.tree import Leftover

SERVER = Leftover(4242, "python3 -m http.server 18555", (18555,))
WORKER = Leftover(4243, "python3 -m http.server 18555", ())


def test_the_reason_names_the_leftover_its_port_and_the_fix() -> None:
    reason = left_behind_reason("web", 0, [SERVER], 18555, "sh -c 'python3 -m http.server 18555 & exit 0'")
    assert reason == ("web's process exited 0 but left pid 4242 (`python3 -m http.server 18555`) listening "
                      "on 18555: it daemonized; run it in the foreground: `python3 -m http.server 18555` "
                      "as the command itself, without `&`")


def test_an_unknown_daemonizer_gets_the_general_fix_with_examples() -> None:
    reason = left_behind_reason("web", 0, [SERVER, WORKER], 18555, ["./start-server"])
    assert reason == ("web's process exited 0 but left pid 4242 (`python3 -m http.server 18555`) listening "
                      "on 18555 and 1 more process: it daemonized; " + GENERAL_FIX)
    assert "`postgres -D …` instead of `pg_ctl start`" in GENERAL_FIX
    assert "`redis-server --daemonize no`" in GENERAL_FIX


def test_a_leftover_without_the_port_is_running_and_another_port_is_named() -> None:
    assert " left pid 1 (`sleep 100`) running: it daemonized" in \
        left_behind_reason("job", 0, [Leftover(1, "sleep 100", ())], 8080, "x")
    assert "listening on 9000: it daemonized" in \
        left_behind_reason("job", 0, [Leftover(1, "srv", (9000,))], 8080, "x")


def test_a_crash_that_left_a_server_says_it_was_stopped() -> None:
    reason = left_behind_reason("web", 1, [SERVER], 18555, "./run")
    assert reason.startswith("web's process exited 1 but left pid 4242 (`python3 -m http.server 18555`) "
                             "listening on 18555; devstack stopped it: run it in the foreground")
    assert "was killed by signal 9 but left" in left_behind_reason("web", -9, [SERVER], None, "./run")


@pytest.mark.parametrize(("command", "fix"), [
    ("pg_ctl start -D .devstack/pgdata -o '-p 5433'",
     "`postgres -D .devstack/pgdata -p 5433` instead of `pg_ctl start`"),
    (["setpriv", "--reuid=postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", "/srv/pg", "start"],
     "`postgres -D /srv/pg` instead of `pg_ctl start`"),
    ("pg_ctl --pgdata=data -l pg.log start", "`postgres -D data` instead of `pg_ctl start`"),
    ("redis-server --port 6380 --daemonize yes",
     "`redis-server --port 6380 --daemonize no` instead of `redis-server --daemonize yes`"),
    ("nginx -c nginx.conf", "`nginx -c nginx.conf -g 'daemon off;'` instead of `nginx`"),
    ("memcached -d -p 11212", "`memcached -p 11212` instead of `memcached -d`"),
    ("mongod --fork --logpath m.log", "`mongod --logpath m.log` instead of `mongod --fork`"),
    ("apachectl start", "`apachectl -D FOREGROUND` instead of `apachectl start`"),
    ("php-fpm8.2 -y fpm.conf", "`php-fpm8.2 -y fpm.conf -F` instead of `php-fpm`"),
    ("sh -c 'env -i setsid -f ./server --port 9 >/dev/null'",
     "`./server --port 9` as the command itself, without `setsid -f`"),
])
def test_the_fix_runs_the_program_in_the_foreground(command: str | list[str], fix: str) -> None:
    server = Leftover(1, "./server --port 9", (9,))
    assert foreground_fix(command, server) == f"run it in the foreground: {fix}"


@pytest.mark.parametrize("command", [
    "nginx -g 'daemon off;'", "redis-server --daemonize no", "memcached -p 11211", "php-fpm -F",
    "postgres -D data", "uvicorn main:app", "npm run dev && echo done",
])
def test_foreground_commands_are_not_daemonizers(command: str) -> None:
    assert foreground_fix(command, None) == GENERAL_FIX


@pytest.mark.parametrize(("command", "waits"), [
    ("pg_ctl start -D data", True),
    (["setpriv", "--reuid=postgres", "--", "pg_ctl", "-D", "d", "start"], True),
    ("pg_ctl start -W -D data", False),  # --no-wait: it exits at once, before its server answers
    ("sh -c 'pg_ctl start -D data && exec sleep infinity'", False),  # a script that stays
    ("redis-server --daemonize yes", False),  # exits at once
    ("postgres -D data", False),
])
def test_only_a_launcher_that_waits_for_its_server_holds_back_up(command: str | list[str],
                                                                  waits: bool) -> None:
    assert (waits_for_its_server(command) is not None) is waits


def test_doctor_warns_of_a_known_daemonizer_before_it_starts(tmp_path: Path) -> None:
    service = ServiceSpec(name="db", command="pg_ctl start -D .devstack/pgdata", cwd=tmp_path)
    stack = StackSpec(name="s", root=tmp_path, source=tmp_path / "stack.toml", services={"db": service})
    ctx = Context(stack, service, build_env(stack, service, {}))
    [finding] = check_daemonizer(ctx)
    assert finding.severity is Severity.WARNING and finding.check == "daemon"
    assert finding.message == ("`pg_ctl start` puts its program in the background and exits: devstack would "
                               "report db as daemonized, not up")
    assert finding.fix == "run it in the foreground: `postgres -D .devstack/pgdata`"
    plain = ServiceSpec(name="db", command="postgres -D data", cwd=tmp_path)
    assert check_daemonizer(Context(stack, plain, build_env(stack, plain, {}))) == []


def test_doctor_says_when_the_machine_has_no_subreaper() -> None:
    assert check_containment(lambda: None) == []
    [finding] = check_containment(lambda: "darwin has no child subreaper (a Linux feature)")
    assert finding.service is None and finding.severity is Severity.WARNING
    assert finding.message.startswith("no child subreaper here (darwin has no child subreaper")
    assert "`env -i`" in finding.message and "`devstack down`" in finding.message
