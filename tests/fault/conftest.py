"""The fault suite: adversarial programs against the real devstack CLI, each test printing its
figure as one JSON line. Ground truth never comes from devstack's own status: survivors are
counted by the run's env tag in /proc/*/environ, ports by real binds, starts by each helper's
own start log.

    scripts/test tests/fault                 # short variants (what CI runs)
    scripts/test tests/fault --soak          # the long soak variants too
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

FIGURES: list[dict[str, object]] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    soak = config.getoption("--soak")
    for item in items:
        if "fault" in str(item.fspath):
            item.add_marker(pytest.mark.fault)
            if item.get_closest_marker("soak") and not soak:
                item.add_marker(pytest.mark.skip(reason="soak variant: run with --soak"))
            longer = item.get_closest_marker("soak_timeout")
            if soak and longer is not None:  # first, so that pytest-timeout reads it
                item.add_marker(pytest.mark.timeout(*longer.args), append=False)


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> bool:
    """True when the long variants were asked for (--soak): scale loop counts with it."""
    return bool(request.config.getoption("--soak"))


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[..., None]:
    """figure(name, value, unit, threshold): one JSON line on stdout and in the summary."""

    def report(name: str, value: object, unit: str, threshold: object = None) -> None:
        line = {"test": request.node.name, "figure": name, "value": value, "unit": unit,
                "threshold": threshold}
        FIGURES.append(line)
        print(json.dumps(line))

    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault figures")
        for line in FIGURES:
            terminalreporter.write_line(json.dumps(line))
