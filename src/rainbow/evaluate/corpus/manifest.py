"""Reading and writing ``corpus.toml``: parsed with every problem listed, written as the same
text for the same manifest, and replaced whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
import tomllib
from datetime import UTC
from pathlib import Path

from pydantic import ValidationError

from rainbow.errors import DiagnosticError, UserError
from rainbow.evaluate.corpus.fields import MANIFEST, MAX_MANIFEST_BYTES
from rainbow.evaluate.corpus.models import Manifest, unit_problems
from rainbow.evaluate.corpus.problems import field_problems, manifest_error, not_a_corpus


def parse(raw: bytes, where: str) -> Manifest:
    """The manifest in ``raw`` (read from ``where``), or a DiagnosticError with every problem."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise manifest_error(f"larger than {MAX_MANIFEST_BYTES // 2**20} MiB", where)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise manifest_error(f"not UTF-8 text (byte {exc.start})", where) from None
    except tomllib.TOMLDecodeError as exc:
        raise manifest_error(f"not valid TOML: {exc}", where) from None
    except RecursionError:
        raise manifest_error("nested too deeply", where) from None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise DiagnosticError(field_problems(exc, where)) from None
    problems = unit_problems(manifest.units, where)
    if problems:
        raise DiagnosticError(problems)
    return manifest


def read(folder: Path) -> Manifest:
    path = folder / MANIFEST
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise not_a_corpus(f"{folder} has no {MANIFEST}", _INIT_HINT) from None
    except OSError as exc:
        raise manifest_error(f"cannot be read: {exc.strerror}", str(path)) from None
    return parse(raw, str(path))


_INIT_HINT = (
    "record the units in a manifest: rainbow corpus init DIR --name NAME --version V "
    "--licence SPDX --use research|production --source WHERE"
)


def dumps(manifest: Manifest) -> str:
    """The manifest as TOML, the same text for the same manifest."""
    info, made = manifest.corpus, manifest.provenance
    lines = [
        "# A Rainbow corpus: `rainbow corpus validate` checks every file against its hash.",
        f"format = {manifest.format}",
        "",
        "[corpus]",
        f"name = {_toml_string(info.name)}",
        f"version = {_toml_string(info.version)}",
        f"licence = {_toml_string(info.licence)}",
        f"use = {_toml_string(info.use)}",
    ]
    if info.description:
        lines.append(f"description = {_toml_string(info.description)}")
    lines += [
        "",
        "[provenance]",
        f"source = {_toml_string(made.source)}",
        f"made_by = {_toml_string(made.made_by)}",
        f"made_at = {made.made_at.astimezone(UTC).isoformat().replace('+00:00', 'Z')}",
    ]
    if manifest.tolerances:
        lines += ["", "[tolerances]"]
        for key, bound in manifest.tolerances.items():
            both = f"absolute = {bound.absolute!r}, relative = {bound.relative!r}"
            lines.append(f"{_toml_string(key)} = {{ {both} }}")
    for unit in manifest.units:
        lines += ["", "[[units]]", f"name = {_toml_string(unit.name)}", "[units.files]"]
        lines += [f"{_toml_string(path)} = {_toml_string(d)}" for path, d in unit.files.items()]
    return "\n".join(lines) + "\n"


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
_TOML_ESCAPES["\r"] = "\\r"


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = (
        _TOML_ESCAPES.get(char) or (f"\\u{ord(char):04X}" if _is_control(char) else char)
        for char in text
    )
    return '"' + "".join(escaped) + '"'


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or ord(char) == 0x7F


def write(manifest: Manifest, folder: Path) -> Path:
    """Write ``folder/corpus.toml`` whole or not at all: a reader never sees half of one."""
    target = folder / MANIFEST
    # A name of its own, created exclusively, so two writers never share one; it follows the
    # umask like the units beside it.
    partial = folder / f".{MANIFEST}.{secrets.token_hex(6)}"
    try:
        with partial.open("x", encoding="utf-8") as file:
            file.write(dumps(manifest))
        os.replace(partial, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise UserError(
            f"cannot write {target}: {exc.strerror}", hint="check the folder is writable"
        ) from None
    return target
