"""The environment a service's processes get: its layers (layers), venv activation (venv), which
program a command runs (executables), what is secret and masking it (secrets), and the Windows
rules (platform).
"""
