"""What the test suites share, each defined once: the integration harness (a stack folder driven
through the real CLI, `write`, `free_port`, `wait_until`), the fakes of the unit tests (clock,
spawner), the fault suite's ground truth (/proc, the env tag) and its pty harness."""
