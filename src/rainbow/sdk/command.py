"""Command modules: any executable reading inputs as JSON on stdin, writing outputs on stdout.

This is how modules written in C++, Rust, shell or anything else plug in. The interface lives in a
small TOML file beside the executable::

    [module]
    name = "edge_density"
    command = ["./edge_density"]   # relative paths resolve against this file's folder
    retries = 1
    timeout = 30
    build = ["cc", "-O2", "-o", "edge_density", "edge_density.c"]  # optional, run in this folder
    [inputs]
    edges = "asset"
    [outputs]
    density = "number"

The program runs in the attempt's workdir with ``RAINBOW_RUN_ID``, ``RAINBOW_STEP``,
``RAINBOW_ATTEMPT`` and ``RAINBOW_WORKDIR`` set. Asset inputs arrive as local paths; a string
output declared ``asset`` is a path (relative to the workdir) of a file the program wrote. An
optional ``"$metrics"`` key maps metric names to ``{"value": x, "better": "high"|"low"}``. A
non-zero exit fails the attempt with the end of stderr as the message; exit code 3 means
"permanent: do not retry".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError
from rainbow.sdk.module import ModuleRef
from rainbow.spec.models import ModuleInterface, Name, PortName, PortSpec, Retries, Timeout
from rainbow.spec.types import PortType


class _ModuleSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    command: list[str] = Field(min_length=1)
    build: list[str] = []
    retries: Retries = 3
    timeout: Timeout = 600.0
    cache: bool = True


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    module: _ModuleSection
    inputs: dict[PortName, PortType] = {}
    outputs: dict[PortName, PortType] = {}
    files: list[dict[str, Any]] = []
    sync: dict[str, Any] = {}
    """``files`` and ``sync`` are checked by ``rainbow.sdk.files``, which owns their format."""


@dataclass(frozen=True)
class CommandModule:
    """A module served by running an executable once per attempt."""

    config_path: Path
    command: tuple[str, ...]
    rainbow_interface: ModuleInterface
    build_command: tuple[str, ...] = ()
    """Builds the program in the config's folder: run by `rainbow release` before the artifact
    is made, so a released version carries its built files."""

    @property
    def name(self) -> str:
        return self.rainbow_interface.name

    @property
    def ref(self) -> ModuleRef:
        return ModuleRef(import_path="", attribute="", file=str(self.config_path))

    def argv(self) -> list[str]:
        folder = self.config_path.parent
        head = self.command[0]
        if head.startswith("./") or head.startswith("../"):
            head = str((folder / head).resolve())
        return [head, *self.command[1:]]


def command_module(config: str | Path) -> CommandModule:
    """Load a command module from its TOML config file."""
    path = Path(config).absolute()
    where = Location(file=str(path))
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise DiagnosticError(
            [Diagnostic("RB-E033", "command module config not found", where, _HINT)]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise DiagnosticError(
            [Diagnostic("RB-E033", f"not valid TOML: {exc}", where, _HINT)]
        ) from None
    try:
        parsed = _ConfigFile.model_validate(raw)
    except ValidationError as exc:
        problems = [
            Diagnostic(
                "RB-E033",
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}",
                where,
                _HINT,
            )
            for err in exc.errors()
        ]
        raise DiagnosticError(problems) from None
    interface = ModuleInterface(
        name=parsed.module.name,
        kind="command",
        inputs={k: PortSpec(type=v) for k, v in parsed.inputs.items()},
        outputs={k: PortSpec(type=v) for k, v in parsed.outputs.items()},
        retries=parsed.module.retries,
        timeout=parsed.module.timeout,
        cache=parsed.module.cache,
    )
    return CommandModule(path, tuple(parsed.module.command), interface, tuple(parsed.module.build))


_HINT = "see the command module format in the rainbow.sdk.command docstring or README"
