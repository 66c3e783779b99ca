"""What changed between two readings of a stack file: services added, removed, and changed
(with the stack.toml keys that differ), so that `up` after an edit restarts exactly those.
Pure: two StackSpecs in, one StackChanges out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from devstack.config.specs import ServiceSpec, StackSpec

# ServiceSpec's fields as stack.toml names them (the others are spelt alike).
_KEY_OF_FIELD = {"venv_disabled": "venv", "env_files": "env_file"}
STACK_ENV_FILE = "stack.env_file"  # the stack's env file reaches every service


@dataclass(frozen=True)
class StackChanges:
    added: tuple[str, ...]  # in the new file's order
    removed: tuple[str, ...]  # in the old file's order
    changed: Mapping[str, tuple[str, ...]]  # name → the keys that differ, in the reference's order

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def changed_keys(old: ServiceSpec, new: ServiceSpec) -> tuple[str, ...]:
    """The stack.toml keys whose values differ between two definitions of one service."""
    keys: list[str] = []
    for field in fields(ServiceSpec):
        if field.name != "name" and getattr(old, field.name) != getattr(new, field.name):
            key = _KEY_OF_FIELD.get(field.name, field.name)
            if key not in keys:
                keys.append(key)
    return tuple(keys)


def diff_stacks(old: StackSpec, new: StackSpec) -> StackChanges:
    """The services `new` adds, removes and changes compared with `old`."""
    added = tuple(name for name in new.services if name not in old.services)
    removed = tuple(name for name in old.services if name not in new.services)
    everyone = (STACK_ENV_FILE,) if old.env_file != new.env_file else ()
    changed: dict[str, tuple[str, ...]] = {}
    for name, spec in new.services.items():
        if name in old.services:
            keys = changed_keys(old.services[name], spec) + everyone
            if keys:
                changed[name] = keys
    return StackChanges(added, removed, changed)
