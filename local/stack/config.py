"""The dev server's settings: its ports, and each function's environment and limits from the template."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from local.functions.runtime import Limits
from local.stack.template import FunctionSpec, Resolver, function_property


@dataclass(frozen=True)
class Ports:
    api: int = 3000
    lambda_api: int = 3001
    moto: int = 5000

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Ports:
        """PORT, LAMBDA_PORT and MOTO_PORT, each 1-65535 and distinct; raises ValueError otherwise."""
        defaults = cls()
        ports = cls(
            api=_port(environ, "PORT", defaults.api),
            lambda_api=_port(environ, "LAMBDA_PORT", defaults.lambda_api),
            moto=_port(environ, "MOTO_PORT", defaults.moto),
        )
        if len(set(ports)) != 3:
            raise ValueError(f"PORT, LAMBDA_PORT and MOTO_PORT must differ, got {tuple(ports)}")
        return ports

    def __iter__(self) -> Iterator[int]:
        return iter((self.api, self.lambda_api, self.moto))


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{name} must be a port number (1-65535), got {raw!r}")
    return int(raw)


def with_shell_overrides(
    specs: Mapping[str, FunctionSpec], resource_names: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[dict[str, FunctionSpec], dict[str, str]]:
    """Let the shell override a function variable (`POWERTOOLS_LOG_LEVEL=DEBUG make dev`).

    A variable whose value names a resource of the stack (TABLE_NAME …) always comes from the
    template, so a stray shell variable cannot point the functions at something else.
    Returns the specs with their effective environment, and the overrides that applied.
    """
    resources = set(resource_names.values())
    overrides: dict[str, str] = {}
    effective: dict[str, FunctionSpec] = {}
    for name, spec in specs.items():
        environment = dict(spec.environment)
        for key, value in spec.environment.items():
            if key in environ and value not in resources and environ[key] != value:
                environment[key] = overrides[key] = environ[key]
        effective[name] = dataclasses.replace(spec, environment=environment)
    return effective, overrides


def function_limits(
    template: dict[str, Any], specs: Mapping[str, FunctionSpec], resolver: Resolver
) -> dict[str, Limits]:
    """Timeout and MemorySize of each function, as deployed (Globals applied, Lambda's defaults otherwise)."""
    limits = {}
    for name in specs:
        timeout = resolver.resolve(function_property(template, name, "Timeout"))
        memory = resolver.resolve(function_property(template, name, "MemorySize"))
        limits[name] = Limits(
            timeout_seconds=int(timeout) if timeout is not None else Limits.timeout_seconds,
            memory_mb=int(memory) if memory is not None else Limits.memory_mb,
        )
    return limits
