"""Files a module needs and files it leaves, declared in configuration, not in code.

A Python module's folder may hold a ``rainbow.toml`` (a command module uses its
``rainbow-module.toml``)::

    [[files]]                    # synced in before the worker takes tasks
    name = "weights"             # the module reads it at ctx.file("weights")
    url = "s3://models/edges/weights-v3.bin"   # any fsspec URL, or a path beside this file
    sha256 = "9f86d081884c7d65…"  # checked; a file whose hash matches is never fetched again

    [sync]
    out = ["debug/*.png"]        # files the module leaves in ctx.workdir, published after it

Synced files are cached by hash under ``<RAINBOW_HOME>/files/<sha256>``: fetched once per
machine, written under a temporary name and renamed only once their hash is right, so a killed
fetch or a changed source never leaves a wrong file under a good name. A command module finds
them in ``RAINBOW_FILES``, a JSON object of names to paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import fsspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError, RainbowError
from rainbow.private import private_folder
from rainbow.sdk.command import CommandModule
from rainbow.sdk.module import PythonModule

AnyModule = PythonModule | CommandModule
CONFIG = "rainbow.toml"
CHUNK = 1024 * 1024
MAX_FILES = 100
MAX_PATTERNS = 100


class FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100)]
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class SyncSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("out")
    @classmethod
    def _inside_the_workdir(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if pattern.startswith(("/", "~")) or ".." in Path(pattern).parts:
                raise ValueError(f"{pattern!r} must be a pattern inside ctx.workdir")
        return patterns

    out: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=500)]], Field(max_length=MAX_PATTERNS)
    ] = []


class FilesConfig(BaseModel):
    """What ``rainbow.toml`` (or a command module's config) declares about files."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    files: Annotated[list[FileSpec], Field(max_length=MAX_FILES)] = []
    sync: SyncSpec = SyncSpec()


@dataclass(frozen=True)
class ModuleFiles:
    """A module's declared files, with the folder relative URLs resolve against."""

    config: FilesConfig = field(default_factory=FilesConfig)
    folder: Path | None = None

    @property
    def sync_out(self) -> tuple[str, ...]:
        return tuple(self.config.sync.out)


class FileSyncError(RainbowError):
    """A declared file cannot be fetched, or is not the file its hash names; ``retryable``
    when the source may answer later (unreachable), not when its bytes are wrong."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def read_config(path: Path) -> ModuleFiles:
    """The files a config declares; an empty declaration when there is no such file."""
    if not path.is_file():
        return ModuleFiles()
    where = Location(file=str(path))
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DiagnosticError(
            [Diagnostic("RB-E084", f"not valid TOML: {exc}", where, _HINT)]
        ) from None
    try:
        config = FilesConfig.model_validate(raw)
    except ValidationError as exc:
        raise DiagnosticError(
            [
                Diagnostic(
                    "RB-E084", f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}", where, _HINT
                )
                for e in exc.errors()
            ]
        ) from None
    names = [f.name for f in config.files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DiagnosticError(
            [Diagnostic("RB-E084", f"files named twice: {', '.join(twice)}", where, _HINT)]
        )
    return ModuleFiles(config, path.parent)


def sync_in(files: ModuleFiles, root: Path) -> dict[str, Path]:
    """Each declared file, local and checked, by name."""
    return {spec.name: _cached(spec, files.folder, root) for spec in files.config.files}


def _cached(spec: FileSpec, folder: Path | None, root: Path) -> Path:
    target = root / spec.sha256
    if target.is_file():
        return target
    private_folder(root)
    url = spec.url
    if "://" not in url and folder is not None and not Path(url).is_absolute():
        url = str(folder / url)
    partial = root / f".{spec.sha256[:16]}.{uuid.uuid4().hex[:8]}.partial"
    digest = hashlib.sha256()
    try:
        with fsspec.open(url, "rb") as reader, open(partial, "wb") as writer:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                writer.write(chunk)
    except (OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise FileSyncError(
            f"file {spec.name!r}: cannot fetch {url}: {exc} (RB-E084)", retryable=True
        ) from None
    if digest.hexdigest() != spec.sha256:
        partial.unlink()
        raise FileSyncError(
            f"file {spec.name!r} from {url} has sha256 {digest.hexdigest()}, not {spec.sha256} "
            "as declared (RB-E084): the source changed, or the declaration is wrong; put the "
            "right hash in the module's config",
            retryable=False,
        )
    os.replace(partial, target)
    return target


def declared_files(module: AnyModule) -> ModuleFiles:
    """A command module's declarations live in its config; a Python module's in the
    ``rainbow.toml`` beside the file that defines it (shipped in its package)."""
    if isinstance(module, CommandModule):
        return read_config(module.config_path)
    return read_config(Path(module.fn.__code__.co_filename).parent / CONFIG)


_SYNCED: dict[tuple[str, str, Path], tuple[ModuleFiles, Mapping[str, Path]]] = {}


def _prepared(module: AnyModule, root: Path) -> tuple[ModuleFiles, Mapping[str, Path]]:
    """The module's declarations, read once per process, and its files, fetched once per
    process (and once per machine, by hash)."""
    key = (module.name, str(module.ref.file or module.ref.import_path), root)
    if key not in _SYNCED:
        try:
            files = declared_files(module)
        except DiagnosticError as exc:  # its config, not this attempt, is wrong: no retry
            raise FileSyncError(str(exc), retryable=False) from None
        _SYNCED[key] = (files, sync_in(files, root))
    return _SYNCED[key]


def synced(module: AnyModule, root: Path) -> Mapping[str, Path]:
    return _prepared(module, root)[1]


def sync_out_patterns(module: AnyModule, root: Path) -> tuple[str, ...]:
    return _prepared(module, root)[0].sync_out


def as_environment(paths: Mapping[str, Path]) -> dict[str, str]:
    """How a command module finds its files."""
    import json

    return {"RAINBOW_FILES": json.dumps({k: str(v) for k, v in paths.items()})} if paths else {}


def unknown_file(name: str, known: Mapping[str, Any]) -> KeyError:
    listed = ", ".join(sorted(known)) or "none"
    return KeyError(
        f"no file {name!r} is declared for this module (declared: {listed}); declare it under "
        f"[[files]] in the module's {CONFIG}"
    )


_HINT = "see rainbow.sdk.files: [[files]] with name, url and sha256; [sync] with out"
