"""A folder's units, as runners find them: each unit's files (its own, those its inputs name,
and a folder unit's every file), what keeps them out of a manifest, and their hashes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError
from rainbow.evaluate.corpus.fields import (
    MAX_FILES_PER_UNIT,
    MAX_UNITS,
    NAMING,
    PATH_PART,
    UNIT_FILE,
    checked_file_path,
)
from rainbow.evaluate.corpus.hashes import file_hash
from rainbow.evaluate.corpus.problems import changed, linked_out, path_problem

MAX_UNIT_JSON_BYTES = 16 * 1024 * 1024
"""A work unit is a few input values: its data belongs in files beside it."""

_RENAME_HINT = f"rename it, then run rainbow corpus init again: {NAMING}"
_COPY_IN_HINT = (
    "copy the file into the unit's folder and name it relative to that folder, so the corpus "
    "holds it wherever it goes"
)


@dataclass(frozen=True)
class _Found:
    units: dict[str, dict[str, Path]]
    """Unit name → path from the corpus folder → the file."""
    problems: list[Diagnostic]
    """What keeps these units out of a manifest; runners may still run them."""


def scan(root: Path) -> _Found:
    """The units of ``root`` as ``engine.workunits.load_corpus`` finds them: each unit's own
    file and the files it names, and a folder unit's every file (hidden ones left out)."""
    # Absolute, so that a unit naming its file by an absolute path is told apart.
    root = root.absolute()
    real_root = root.resolve()
    entries = [(path.stem, path, root) for path in sorted(root.glob("*.json"))]
    entries += [
        (path.parent.name, path, path.parent) for path in sorted(root.glob(f"*/{UNIT_FILE}"))
    ]
    problems: list[Diagnostic] = []
    if len(entries) > MAX_UNITS:
        problems.append(
            Diagnostic(
                "RB-E090",
                f"{root} holds {len(entries)} units, more than the {MAX_UNITS:,} a manifest holds",
                Location(file=str(root)),
                "split it into several corpora",
            )
        )
        entries = entries[:MAX_UNITS]
    units: dict[str, dict[str, Path]] = {}
    for name, entry, home in entries:
        where = Location(file=str(entry))
        if name in units:
            problems.append(
                path_problem(
                    f"two units are named {name!r} ({name}.json and {name}/)", where, _RENAME_HINT
                )
            )
            continue
        named_well = PATH_PART.fullmatch(name) is not None
        if not named_well:
            problems.append(path_problem(f"unit name {name!r} is not allowed", where, _RENAME_HINT))
        files = {entry.relative_to(root).as_posix(): entry}
        if home != root:
            files |= _folder_files(home, root)
        files |= _named_files(entry, home, root, real_root, problems)
        if len(files) > MAX_FILES_PER_UNIT:
            problems.append(
                Diagnostic(
                    "RB-E090",
                    f"unit {name!r} holds {len(files)} files, more than {MAX_FILES_PER_UNIT}",
                    where,
                    "pack many small files into one (an archive, an array) the module reads",
                )
            )
        for path, file in files.items():
            if named_well or file != entry:  # a badly named unit is reported once, by its name
                problems.extend(_file_name_problems(path, file, real_root))
        units[name] = files
    return _Found(units, problems)


def _folder_files(home: Path, root: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for base, folders, names in os.walk(home):
        folders[:] = sorted(folder for folder in folders if not folder.startswith("."))
        for name in sorted(names):
            file = Path(base) / name
            # Only what a module could read: no dangling link, socket or pipe.
            if not name.startswith(".") and file.is_file():
                files[file.relative_to(root).as_posix()] = file
        if len(files) > MAX_FILES_PER_UNIT:
            break
    return files


def _named_files(
    entry: Path, home: Path, root: Path, real_root: Path, problems: list[Diagnostic]
) -> dict[str, Path]:
    """The files a unit's inputs name, resolved as the runner resolves them (against the unit's
    folder). A file outside that folder, or named by an absolute path, is a problem: the corpus
    would not hold it, or would not once moved (a URL's corpus runs from a cache)."""
    where = Location(file=str(entry))
    try:
        if entry.stat().st_size > MAX_UNIT_JSON_BYTES:
            raise ValueError(f"larger than {MAX_UNIT_JSON_BYTES // 2**20} MiB")
        data = json.loads(entry.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        problems.append(
            Diagnostic("RB-E040", f"cannot read the work unit: {exc}", where, _UNIT_HINT)
        )
        return {}
    if not isinstance(data, dict):
        problems.append(
            Diagnostic("RB-E040", "a work unit must be a JSON object", where, _UNIT_HINT)
        )
        return {}
    named: dict[str, Path] = {}
    for key, value in data.items():
        path = _local_path(value)
        if path is None:
            continue
        file = Path(os.path.normpath(path if path.is_absolute() else home / path))
        if not _is_file(file):
            continue  # a plain value, or a missing asset the runner reports
        if path.is_absolute():
            problems.append(
                path_problem(
                    f"input {key!r} names {value!r} by an absolute path",
                    where,
                    _COPY_IN_HINT,
                )
            )
        elif not (file.is_relative_to(home) and resolves_inside(file, real_root)):
            problems.append(
                path_problem(
                    f"input {key!r} names {value!r}, outside the unit's folder",
                    where,
                    _COPY_IN_HINT,
                )
            )
        else:
            named[file.relative_to(root).as_posix()] = file
    return named


def _local_path(value: object) -> Path | None:
    """The local path an input value may be (a remote asset is no file of the corpus)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        scheme = urlparse(value).scheme
    except ValueError:
        return None
    if scheme and scheme != "file" and len(scheme) > 1:
        return None
    return Path(value.removeprefix("file://"))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # not a path at all (a NUL, a name too long): a plain value
        return False


def resolves_inside(file: Path, real_root: Path) -> bool:
    """Whether ``file``, its symbolic links followed, lies in ``real_root`` (itself resolved)."""
    return file.resolve().is_relative_to(real_root)


def _file_name_problems(path: str, file: Path, real_root: Path) -> list[Diagnostic]:
    where = Location(file=str(file))
    try:
        checked_file_path(path)
    except ValueError as exc:
        return [path_problem(str(exc), where, _RENAME_HINT)]
    if not resolves_inside(file, real_root):
        return [linked_out(path, where)]
    return []


_UNIT_HINT = 'a work unit is a JSON object of pipeline inputs, e.g. {"photo": "photo.jpg"}'


def hashed(units: dict[str, dict[str, Path]]) -> dict[str, dict[str, str]]:
    """Each unit's files by their hashes, or a DiagnosticError naming every file that cannot
    be read."""
    hashes: dict[str, dict[str, str]] = {unit: {} for unit in units}
    problems: list[Diagnostic] = []
    for unit, files in units.items():
        for path, file in files.items():
            try:
                hashes[unit][path] = file_hash(file)
            except OSError as exc:
                where = Location(file=str(file))
                problems.append(changed(f"{path!r} cannot be read: {exc.strerror}", where))
    if problems:
        raise DiagnosticError(problems)
    return hashes
