"""What the test suites share, each defined once, imported as `tests.support.<module>`:

- files: `write` (dedented text, folders made, a mode) and `make_executable` (a sh script)
- venvs: `make_venv` (a real venv, made in-process), `fake_venv`, `install` (pip's metadata)
- specs: `make_service` and `make_stack`, specs built without a stack.toml
- ports: `free_port`, `port_is_free`, `accepts`, `closed_port`, `can_bind_ipv6` and `needs_ipv6`
- waiting: `wait_until`, `watch_for` (proving an absence) and `wait_for` (in a coroutine)
- fakes: the unit tests' fake clock and fake spawner
- harness: `Stack`, a stack folder driven through the real CLI; `open_stack`, `PY`, `q`, `TEST_TAG`
- pty_harness: devstack on a real pseudo-terminal
- programs: the servers and services the tests run (plain source), and their stack.toml entries
- ground_truth: what the fault tests judge by: /proc, side logs, tagged processes, the status poller
- figures: the fault tests' `Figure`, percentiles and `KnownBug`
- doctor, probing: what the unit and integration halves of the pre-flight and probe tests share
  (their fixtures are registered by tests/conftest.py)
- exporting: a stack written into a folder and exported from it
- captures: `load`, the real tools' output the failure-signature tests read
- initrepo: small repositories for the `devstack init` tests
- module_map: the docs' module table, generated from the modules' docstrings
- docgen: the docs' parts written from the code
- postgres: a real Postgres cluster for the integration tests
- repo: the repository's folder and the files git lists
"""
