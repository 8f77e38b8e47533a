"""The diagnostics a corpus is refused with, shared by reading, scanning, checking and
fetching one: each with its stable id and a hint at what to do."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError, UserError
from rainbow.evaluate.corpus.fields import FORMAT, MANIFEST, NAMING

_HINTS = {
    "RB-E090": f"{MANIFEST} holds format = {FORMAT}, [corpus] (name, version, licence, use, "
    "description), [provenance] (source, made_by, made_at), optional [tolerances] and "
    "[[units]] with their files; `rainbow corpus init DIR --force …` writes it again",
    "RB-E092": "a unit's files are paths from the corpus folder inside its own folder "
    f"(NAME/…), or beside NAME.json; no `..`, no absolute paths; {NAMING}",
}
_METADATA_HINTS = {
    "name": "name a corpus as Rainbow names pipelines: room-scan, kitchens_2026",
    "version": "a corpus version is short: 1, 2.0, 2026-12",
    "licence": "use an SPDX licence identifier or expression: CC-BY-4.0, CC0-1.0, "
    "MIT OR Apache-2.0, LicenseRef-… for your own (https://spdx.org/licenses/)",
    "use": "research (evaluations only) or production (may judge production pipelines)",
}


def path_problem(message: str, where: Location, hint: str = _HINTS["RB-E092"]) -> Diagnostic:
    return Diagnostic("RB-E092", message, where, hint)


def linked_out(path: str, where: Location) -> Diagnostic:
    return path_problem(
        f"{path!r} is a symbolic link out of the corpus folder",
        where,
        "copy the file in instead of linking to it: the corpus holds its own files",
    )


def changed(message: str, where: Location) -> Diagnostic:
    return Diagnostic(
        "RB-E093",
        message,
        where,
        "restore the file; if the change is meant, record it as a new version: rainbow corpus "
        "init DIR --force --version NEW …",
    )


def field_problems(
    error: ValidationError, where: str, within: tuple[str, ...] = ()
) -> list[Diagnostic]:
    problems = []
    for item in error.errors(include_url=False):
        loc = (*within, *item["loc"])
        code, hint = _code_of(loc)
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(
            Diagnostic(code, message, Location(file=where, json_path=_json_path(loc)), hint)
        )
    return problems


def _code_of(loc: tuple[Any, ...]) -> tuple[str, str]:
    if loc[:1] == ("corpus",) and len(loc) == 2 and loc[1] in _METADATA_HINTS:
        return "RB-E091", _METADATA_HINTS[loc[1]]
    if loc[:1] == ("units",) and (loc[2:3] == ("name",) or "[key]" in loc):
        return "RB-E092", _HINTS["RB-E092"]
    return "RB-E090", _HINTS["RB-E090"]


def _json_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
        elif item != "[key]":
            key = str(item)
            shown = key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else json.dumps(key[:80])
            path += f".{shown}" if path else shown
    return path


def manifest_error(problem: str, where: str) -> DiagnosticError:
    return DiagnosticError(
        [
            Diagnostic(
                "RB-E090", f"the manifest is {problem}", Location(file=where), _HINTS["RB-E090"]
            )
        ]
    )


def not_a_corpus(message: str, hint: str) -> UserError:
    return UserError(message, code="RB-E095", hint=hint)
