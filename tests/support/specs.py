"""Stack and service specs built directly (no stack.toml), for the tests of what reads them."""

from __future__ import annotations

from pathlib import Path

from devstack.config.specs import ServiceSpec, StackSpec


def make_service(root: Path, name: str = "api", cwd: str = ".",
                 command: str | tuple[str, ...] = "uvicorn main:app", create: bool = True,
                 **kwargs: object) -> ServiceSpec:
    """Service `name` running in `root / cwd` (made unless `create` is false)."""
    path = root / cwd
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return ServiceSpec(name=name, command=command, cwd=path, **kwargs)  # type: ignore[arg-type]


def make_stack(root: Path, *services: ServiceSpec, env_file: Path | None = None) -> StackSpec:
    """Stack `shop` at `root` with `services`, as if read from root/stack.toml."""
    return StackSpec(name="shop", root=root, source=root / "stack.toml",
                     services={s.name: s for s in services}, env_file=env_file)
