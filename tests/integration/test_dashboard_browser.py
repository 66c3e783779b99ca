"""The dashboard in a real browser (headless Chromium through Playwright) on a stack of small
Python services on free ports: every row's data-state; a killed service leaves `healthy` with its
reason within 1 s and comes back; Restart gives a new pid (in the row and in `devstack status`);
Stop gives `stopped`; a printed line reaches the log pane within 1 s; the timeline is drawn; the
page works in a narrow window.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.dashboard import Dashboard
from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port
from tests.support.programs import HTTP_SERVER
from tests.support.waiting import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run"]

try:
    import playwright.sync_api  # noqa: F401
    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (scripts/system-deps has it)"),
    pytest.mark.skipif(not HAVE_PLAYWRIGHT, reason="playwright is not installed (the e2e extra)"),
]

# Prints each line written to trigger.txt (then removes it): a line on demand, timed by the test.
ECHOER = r'''
import os, sys, time
print("echoer ready", flush=True)
while True:
    if os.path.exists("trigger.txt"):
        text = open("trigger.txt").read().strip()
        os.remove("trigger.txt")
        print(text, flush=True)
    time.sleep(0.01)
'''


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live(stack: Stack, browser: Any) -> Iterator[tuple[Stack, Dashboard, Any]]:
    web, api = free_port(), free_port()
    stack.write("server.py", HTTP_SERVER)
    stack.write("echoer.py", ECHOER)
    stack.toml(f"""
        [services.web]
        command = {q([PY, "server.py", str(web)])}
        port = {web}
        health = {{ http = "http://127.0.0.1:{web}/", interval = "200ms" }}

        [services.api]
        command = {q([PY, "server.py", str(api)])}
        depends_on = ["web"]
        port = {api}
        health = {{ http = "http://127.0.0.1:{api}/" }}

        [services.echoer]
        command = {q([PY, "echoer.py"])}
        """)
    assert stack.run("up", "-d").code == 0
    ui = Dashboard.for_stack(stack, "--port", "0")
    page = browser.new_page()
    try:
        page.goto(ui.url)
        page.wait_for_selector('tr[data-service="echoer"][data-state="running"]', timeout=10_000)
        yield stack, ui, page
    finally:
        page.close()
        ui.stop()


def row_state(page: Any, name: str) -> str:
    return str(page.get_attribute(f'tr[data-service="{name}"]', "data-state"))


def test_every_row_shows_its_state(live: tuple[Stack, Dashboard, Any]) -> None:
    stack, ui, page = live
    assert page.url == f"http://127.0.0.1:{ui.port}/"  # the token left the address bar
    for svc in stack.status()["services"]:
        assert row_state(page, svc["name"]) == svc["state"]
        text = page.inner_text(f'tr[data-service="{svc["name"]}"] .state')
        assert svc["state"] in text  # a word, not only a colour
    assert page.inner_text("#stack-state").strip().endswith("up")
    page.wait_for_selector('#timeline .tl-track[data-service="api"] .seg')  # the timeline is drawn
    chain = ui.request("GET", "/api/v1/timeline").json()["critical_chain"]
    assert chain and all(f"★ {name}" in page.inner_text("#timeline") for name in chain)


def test_a_killed_service_shows_why_within_1s_then_heals(live: tuple[Stack, Dashboard, Any]) -> None:
    stack, _, page = live
    pid = stack.service("web")["pid"]
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    page.wait_for_selector('tr[data-service="web"]:not([data-state="healthy"])', timeout=1000)
    left = time.monotonic() - killed
    page.wait_for_selector('tr[data-service="web"] .reason', timeout=1000)
    reason = page.inner_text('tr[data-service="web"] .reason')
    print(f"row left healthy {left * 1000:.0f} ms after the kill; reason: {reason}")
    assert reason.startswith("killed by signal 9 (SIGKILL)")
    page.wait_for_selector('tr[data-service="web"][data-state="healthy"]', timeout=15_000)


def test_restart_gives_a_new_pid_in_the_row_and_in_status(live: tuple[Stack, Dashboard, Any]) -> None:
    stack, _, page = live
    old = stack.service("api")["pid"]
    page.click('tr[data-service="api"] button[data-action="restart"]')
    page.wait_for_function(
        "old => { const r = document.querySelector('tr[data-service=\"api\"]');"
        " return r.dataset.state === 'healthy' && r.querySelector('.pid').textContent !== String(old); }",
        arg=old, timeout=15_000)
    shown = int(page.inner_text('tr[data-service="api"] .pid'))
    assert shown != old and stack.service("api")["pid"] == shown


def test_stop_gives_stopped(live: tuple[Stack, Dashboard, Any]) -> None:
    stack, _, page = live
    page.click('tr[data-service="echoer"] button[data-action="stop"]')
    page.wait_for_selector('tr[data-service="echoer"][data-state="stopped"]', timeout=10_000)
    assert stack.service("echoer")["state"] == "stopped"
    page.click('tr[data-service="echoer"] button[data-action="start"]')
    page.wait_for_selector('tr[data-service="echoer"][data-state="running"]', timeout=10_000)


def test_a_printed_line_reaches_the_pane_within_1s(live: tuple[Stack, Dashboard, Any]) -> None:
    stack, _, page = live
    marker = f"hello from the test {time.time_ns()}"
    (stack.root / "trigger.txt").write_text(marker)
    wait_until(lambda: marker in stack.log_text("echoer"), 5, "the echoer to print")
    printed = time.monotonic()
    page.wait_for_function("m => document.querySelector('#log').textContent.includes(m)", arg=marker,
                           timeout=1000)
    print(f"in the pane {1000 * (time.monotonic() - printed):.0f} ms after it was in the file")
    page.fill("#log-filter", marker)
    visible = page.locator("#log .line:not([hidden])")
    assert visible.count() == 1 and marker in visible.inner_text()
    page.select_option("#log-service", "web")
    assert page.locator("#log .line:not([hidden])").count() == 0


def test_a_narrow_window_still_shows_state_and_buttons(live: tuple[Stack, Dashboard, Any]) -> None:
    _, _, page = live
    page.set_viewport_size({"width": 380, "height": 800})
    row = page.locator('tr[data-service="api"]')
    assert row.bounding_box()["width"] <= 380
    assert page.locator('tr[data-service="api"] button[data-action="restart"]').is_visible()
    assert page.locator('tr[data-service="api"] .state').is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 380 + 1
