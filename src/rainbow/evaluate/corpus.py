"""Corpora: named, versioned sets of canned work units with their licence, allowed use and
provenance, and every file's content hash, in a manifest (``corpus.toml``) beside the units.

A corpus folder holds its units the way runners read them (``engine.workunits``): ``NAME.json``
files, or ``NAME/`` folders each holding a ``unit.json`` with its files beside it. The manifest
lists each unit's files by their path from the corpus folder, each with its sha256. The corpus's
content hash covers only the (unit, path, file hash) triples: its name, version and licence
describe the content without being part of it. A folder without a manifest still runs, as an
unversioned corpus hashed as found. A corpus at a URL needs a manifest: its files are checked
against it while they are copied into a local cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO, Annotated, Any, Literal
from urllib.parse import urlparse

import fsspec
from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError, UserError
from rainbow.evaluate.figures import CorpusRef, Tolerance
from rainbow.private import private_folder
from rainbow.spec.models import NAME_MAX_LENGTH, NAME_PATTERN, VERSION_MAX_LENGTH
from rainbow.storable import json_size, text_problem

MANIFEST = "corpus.toml"
FORMAT = 1
UNVERSIONED = "unversioned"
"""The version of a folder without a manifest; no manifest may claim it."""
UNIT_FILE = "unit.json"
MAX_UNITS = 100_000
MAX_FILES_PER_UNIT = 1_000
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
"""Room for the most units with a few files each; tomllib reads that much in seconds."""
MAX_UNIT_JSON_BYTES = 16 * 1024 * 1024
"""A work unit is a few input values: its data belongs in files beside it."""
MAX_RECORDED_UNITS_BYTES = 4 * 1024 * 1024
"""The most units a registration carries to the control plane (compact JSON), well within its
request body limit: a larger corpus registers its content hash and unit count alone."""
MAX_PATH_CHARS = 1_000
MAX_PATH_DEPTH = 16
MAX_TEXT_CHARS = 2_000
MAX_MAKER_CHARS = 300
MAX_LICENCE_CHARS = 200
MAX_TOLERANCES = 1_000
MAX_METRIC_KEY_CHARS = 2 * NAME_MAX_LENGTH + 1
"""``STEP.METRIC``: a step id and a metric name, each as long as a name column holds."""
PATH_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,199}")
CORPUS_VERSION = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._+-]{{0,{VERSION_MAX_LENGTH - 1}}}")
FILE_HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"
NAMING = "unit and file names are letters, digits and . _ + - (not starting with . + -)"
Use = Literal["research", "production"]

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


def _name(name: str) -> str:
    if len(name) > NAME_MAX_LENGTH or not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(
            f"{name[:80]!r} is not a corpus name: lower-case letters, digits, _ and -, starting "
            f"with a letter or digit, at most {NAME_MAX_LENGTH} characters"
        )
    return name


def _version(version: str) -> str:
    if not CORPUS_VERSION.fullmatch(version):
        raise ValueError(
            f"{version[:80]!r} is not a corpus version: letters, digits and . _ + -, starting "
            f"with a letter or digit, at most {VERSION_MAX_LENGTH} characters"
        )
    if version == UNVERSIONED:
        raise ValueError(f"{UNVERSIONED!r} is what a folder without a manifest is called")
    return version


def _licence(expression: str) -> str:
    try:
        return canonicalize_license_expression(expression)
    except InvalidLicenseExpression as exc:
        raise ValueError(f"{expression[:80]!r} is not an SPDX licence expression: {exc}") from None


def _storable(text: str) -> str:
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(f"the text {problem}, which the control plane cannot store")
    return text


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of the range of dates Rainbow stores") from None


def _unit_name(name: str) -> str:
    if not PATH_PART.fullmatch(name):
        raise ValueError(f"unit name {name[:80]!r} is not allowed: {NAMING}")
    return name


def _file_path(path: str) -> str:
    """A path from the corpus folder that names a file inside it, and nothing else."""
    if len(path) > MAX_PATH_CHARS:
        raise ValueError(f"{path[:80]!r}… is longer than {MAX_PATH_CHARS} characters")
    if path.startswith("/"):
        raise ValueError(f"{path[:80]!r} is absolute: paths are relative to the corpus folder")
    parts = path.split("/")
    if ".." in parts:
        raise ValueError(f"{path[:80]!r} leaves the corpus folder (`..`)")
    if len(parts) > MAX_PATH_DEPTH:
        raise ValueError(f"{path[:80]!r} is deeper than {MAX_PATH_DEPTH} folders")
    if path == MANIFEST:
        raise ValueError(f"the manifest does not list itself ({MANIFEST})")
    for part in parts:
        if not PATH_PART.fullmatch(part):
            raise ValueError(f"{path[:80]!r}: {part[:80]!r} is not allowed: {NAMING}")
    return path


CorpusName = Annotated[str, AfterValidator(_name)]
CorpusVersion = Annotated[str, AfterValidator(_version)]
Licence = Annotated[str, Field(max_length=MAX_LICENCE_CHARS), AfterValidator(_licence)]
FreeText = Annotated[str, Field(max_length=MAX_TEXT_CHARS), AfterValidator(_storable)]
UnitName = Annotated[str, AfterValidator(_unit_name)]
FilePath = Annotated[str, AfterValidator(_file_path)]
FileHash = Annotated[str, Field(pattern=FILE_HASH_PATTERN)]
ContentHash = Annotated[str, Field(pattern=FILE_HASH_PATTERN)]


def _known_format(value: int) -> int:
    if value > FORMAT:
        raise ValueError(
            f"format {value} was written by a newer Rainbow; this one reads format {FORMAT}"
        )
    if value < 1:
        raise ValueError(f"format {value} does not exist; this Rainbow reads format {FORMAT}")
    return value


ManifestFormat = Annotated[int, Field(strict=True), AfterValidator(_known_format)]
MetricKey = Annotated[
    str, Field(min_length=1, max_length=MAX_METRIC_KEY_CHARS), AfterValidator(_storable)
]


class CorpusInfo(BaseModel):
    """``[corpus]``: what the corpus is called, and on what terms it may be used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: CorpusName
    version: CorpusVersion
    licence: Licence
    """An SPDX expression, kept canonical (``cc-by-4.0`` is recorded as ``CC-BY-4.0``)."""
    use: Use
    """What the release gates allow: only ``production`` corpora judge production pipelines."""
    description: FreeText = ""


class Provenance(BaseModel):
    """``[provenance]``: where the units came from, who made the corpus, and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Annotated[
        str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_storable)
    ]
    made_by: Annotated[
        str, Field(min_length=1, max_length=MAX_MAKER_CHARS), AfterValidator(_storable)
    ]
    made_at: Annotated[AwareDatetime, AfterValidator(_in_utc)]


class Unit(BaseModel):
    """One work unit: its files by path from the corpus folder, each with its sha256."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: UnitName
    files: Annotated[dict[FilePath, FileHash], Field(min_length=1, max_length=MAX_FILES_PER_UNIT)]

    @field_validator("files")
    @classmethod
    def _sorted(cls, files: dict[str, str]) -> dict[str, str]:
        return dict(sorted(files.items()))


class Manifest(BaseModel):
    """``corpus.toml``; its units sorted by name and their files by path, whatever the file's
    order, so one corpus has one manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: ManifestFormat = FORMAT
    corpus: CorpusInfo
    provenance: Provenance
    units: Annotated[list[Unit], Field(min_length=1, max_length=MAX_UNITS)]
    tolerances: Annotated[
        dict[MetricKey, Tolerance], Field(default_factory=dict, max_length=MAX_TOLERANCES)
    ]
    """``[tolerances]``: how much worse than the baseline a metric may get on this corpus, by
    ``STEP.METRIC`` or by metric name (``evaluate.compare``). Judgement, not content: neither
    in the content hash nor rewritten by ``init``."""

    @field_validator("units")
    @classmethod
    def _by_name(cls, units: list[Unit]) -> list[Unit]:
        return sorted(units, key=lambda unit: unit.name)

    @field_validator("tolerances")
    @classmethod
    def _by_key(cls, tolerances: dict[str, Tolerance]) -> dict[str, Tolerance]:
        return dict(sorted(tolerances.items()))


class Registration(BaseModel):
    """What the control plane records of a corpus version (``POST /api/corpora``): its metadata,
    content hash and unit count, and its units when they fit (:data:`MAX_RECORDED_UNITS_BYTES`),
    which the control plane then checks against the hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: ManifestFormat = FORMAT
    corpus: CorpusInfo
    provenance: Provenance
    content_hash: ContentHash
    unit_count: Annotated[int, Field(ge=1, le=MAX_UNITS)]
    units: Annotated[list[Unit], Field(max_length=MAX_UNITS)] | None = None

    @classmethod
    def of(cls, manifest: Manifest) -> Registration:
        units = [unit.model_dump() for unit in manifest.units]
        fits = json_size(units, compact=True) <= MAX_RECORDED_UNITS_BYTES
        return cls(
            format=manifest.format,
            corpus=manifest.corpus,
            provenance=manifest.provenance,
            content_hash=content_hash(manifest.units),
            unit_count=len(manifest.units),
            units=manifest.units if fits else None,
        )

    def problems(self) -> list[Diagnostic]:
        """What makes the units it carries disagree with themselves, its count or its hash."""
        if self.units is None:
            return []
        problems = unit_problems(self.units, None)
        where = Location(json_path="units")
        if len(self.units) != self.unit_count:
            problems.append(
                Diagnostic(
                    "RB-E090",
                    f"unit_count is {self.unit_count}, but {len(self.units)} units came",
                    where,
                    "send the manifest's units whole, or none of them",
                )
            )
        found = content_hash(self.units)
        if found != self.content_hash:
            problems.append(
                Diagnostic(
                    "RB-E093",
                    f"the units hash to {found}, not to content_hash {self.content_hash}",
                    where,
                    "send the content hash of the units sent (rainbow corpus register does)",
                )
            )
        return problems


def ref_of(manifest: Manifest) -> CorpusRef:
    return CorpusRef(
        name=manifest.corpus.name,
        version=manifest.corpus.version,
        content_hash=content_hash(manifest.units),
    )


def content_hash(units: Iterable[Unit]) -> str:
    """``sha256:`` over the JSON lines ``["unit","path","sha256:…"]``, by unit then path: what
    the corpus holds, never what it is called."""
    return _triples_hash(
        (unit.name, path, digest) for unit in units for path, digest in unit.files.items()
    )


def _triples_hash(triples: Iterable[tuple[str, str, str]]) -> str:
    digest = hashlib.sha256()
    for triple in sorted(triples):
        # ASCII JSON: names read from a file system may carry undecodable bytes (surrogates).
        digest.update(json.dumps(list(triple), separators=(",", ":")).encode() + b"\n")
    return "sha256:" + digest.hexdigest()


def unit_problems(units: Sequence[Unit], where: str | None) -> list[Diagnostic]:
    """The rules between a manifest's units: one name each, one entry file (``NAME/unit.json``
    or ``NAME.json``), and a folder unit's files inside its folder."""
    problems: list[Diagnostic] = []
    seen: set[str] = set()
    for unit in units:
        at = Location(file=where, json_path=f"units[name={unit.name!r}]")
        if unit.name in seen:
            problems.append(_path_problem(f"two units are named {unit.name!r}", at))
        seen.add(unit.name)
        in_folder = f"{unit.name}/{UNIT_FILE}" in unit.files
        beside = f"{unit.name}.json" in unit.files
        if in_folder == beside:
            listed = "both" if in_folder else "neither"
            problems.append(
                _path_problem(
                    f"unit {unit.name!r} lists {listed} {unit.name}/{UNIT_FILE} "
                    f"{'and' if in_folder else 'nor'} {unit.name}.json: a unit has one",
                    at,
                )
            )
        elif in_folder:
            problems.extend(
                _path_problem(f"{path!r} is outside the folder of unit {unit.name!r}", at)
                for path in unit.files
                if not path.startswith(f"{unit.name}/")
            )
    return problems


def _path_problem(message: str, where: Location, hint: str = _HINTS["RB-E092"]) -> Diagnostic:
    return Diagnostic("RB-E092", message, where, hint)


_RENAME_HINT = f"rename it, then run rainbow corpus init again: {NAMING}"
_COPY_IN_HINT = (
    "copy the file into the unit's folder and name it relative to that folder, so the corpus "
    "holds it wherever it goes"
)


# Reading and writing the manifest ------------------------------------------------------------


def parse(raw: bytes, where: str) -> Manifest:
    """The manifest in ``raw`` (read from ``where``), or a DiagnosticError with every problem."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _manifest_error(f"larger than {MAX_MANIFEST_BYTES // 2**20} MiB", where)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _manifest_error(f"not UTF-8 text (byte {exc.start})", where) from None
    except tomllib.TOMLDecodeError as exc:
        raise _manifest_error(f"not valid TOML: {exc}", where) from None
    except RecursionError:
        raise _manifest_error("nested too deeply", where) from None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise DiagnosticError(_field_problems(exc, where)) from None
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
        raise _not_a_corpus(f"{folder} has no {MANIFEST}", _INIT_HINT) from None
    except OSError as exc:
        raise _manifest_error(f"cannot be read: {exc.strerror}", str(path)) from None
    return parse(raw, str(path))


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


def _field_problems(
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


def _manifest_error(problem: str, where: str) -> DiagnosticError:
    return DiagnosticError(
        [
            Diagnostic(
                "RB-E090", f"the manifest is {problem}", Location(file=where), _HINTS["RB-E090"]
            )
        ]
    )


def _not_a_corpus(message: str, hint: str) -> UserError:
    return UserError(message, code="RB-E095", hint=hint)


_INIT_HINT = (
    "record the units in a manifest: rainbow corpus init DIR --name NAME --version V "
    "--licence SPDX --use research|production --source WHERE"
)


# A folder's units, as runners find them ------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    units: dict[str, dict[str, Path]]
    """Unit name → path from the corpus folder → the file."""
    problems: list[Diagnostic]
    """What keeps these units out of a manifest; runners may still run them."""


def _scan(root: Path) -> _Found:
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
                _path_problem(
                    f"two units are named {name!r} ({name}.json and {name}/)", where, _RENAME_HINT
                )
            )
            continue
        named_well = PATH_PART.fullmatch(name) is not None
        if not named_well:
            problems.append(
                _path_problem(f"unit name {name!r} is not allowed", where, _RENAME_HINT)
            )
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
                _path_problem(
                    f"input {key!r} names {value!r} by an absolute path",
                    where,
                    _COPY_IN_HINT,
                )
            )
        elif not (file.is_relative_to(home) and _resolves_inside(file, real_root)):
            problems.append(
                _path_problem(
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


def _resolves_inside(file: Path, real_root: Path) -> bool:
    """Whether ``file``, its symbolic links followed, lies in ``real_root`` (itself resolved)."""
    return file.resolve().is_relative_to(real_root)


def _file_name_problems(path: str, file: Path, real_root: Path) -> list[Diagnostic]:
    where = Location(file=str(file))
    try:
        _file_path(path)
    except ValueError as exc:
        return [_path_problem(str(exc), where, _RENAME_HINT)]
    if not _resolves_inside(file, real_root):
        return [_linked_out(path, where)]
    return []


def _linked_out(path: str, where: Location) -> Diagnostic:
    return _path_problem(
        f"{path!r} is a symbolic link out of the corpus folder",
        where,
        "copy the file in instead of linking to it: the corpus holds its own files",
    )


_UNIT_HINT = 'a work unit is a JSON object of pipeline inputs, e.g. {"photo": "photo.jpg"}'


def file_hash(path: Path) -> str:
    with path.open("rb") as file:
        return "sha256:" + hashlib.file_digest(file, "sha256").hexdigest()


def _hashed(units: dict[str, dict[str, Path]]) -> dict[str, dict[str, str]]:
    """Each unit's files by their hashes, or a DiagnosticError naming every file that cannot
    be read."""
    hashed: dict[str, dict[str, str]] = {unit: {} for unit in units}
    problems: list[Diagnostic] = []
    for unit, files in units.items():
        for path, file in files.items():
            try:
                hashed[unit][path] = file_hash(file)
            except OSError as exc:
                where = Location(file=str(file))
                problems.append(_changed(f"{path!r} cannot be read: {exc.strerror}", where))
    if problems:
        raise DiagnosticError(problems)
    return hashed


def _require_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise _not_a_corpus(
            f"corpus folder not found: {folder}", "give a folder of work units, or a corpus URL"
        )


# Making and checking a corpus ----------------------------------------------------------------


def init(
    folder: Path,
    *,
    name: str,
    version: str,
    licence: str,
    use: str,
    source: str,
    made_by: str,
    description: str = "",
    made_at: datetime | None = None,
    force: bool = False,
) -> Manifest:
    """Hash every file of the folder's units and write their manifest; over the folder's
    manifest only with ``force``, keeping the tolerances written in it."""
    _require_folder(folder)
    where = str(folder / MANIFEST)
    if (folder / MANIFEST).exists() and not force:
        raise UserError(
            f"{where} exists already",
            code="RB-E096",
            hint="pass --force to write it again from the units as they are now (check a "
            "changed corpus gets a new --version)",
        )
    metadata = {
        "corpus": {
            "name": name,
            "version": version,
            "licence": licence,
            "use": use,
            "description": description,
        },
        "provenance": {
            "source": source,
            "made_by": made_by,
            "made_at": made_at or datetime.now(UTC).replace(microsecond=0),
        },
    }
    problems: list[Diagnostic] = []
    for part, model in (("corpus", CorpusInfo), ("provenance", Provenance)):
        try:
            model.model_validate(metadata[part])
        except ValidationError as exc:
            problems += _field_problems(exc, where, within=(part,))
    found = _scan(folder)
    problems += found.problems
    if not found.units:
        raise _not_a_corpus(f"no work units in {folder}", _LAYOUT_HINT)
    if problems:
        raise DiagnosticError(problems)
    units = [{"name": unit, "files": files} for unit, files in _hashed(found.units).items()]
    tolerances = _tolerances_in(folder) if force else {}
    manifest = Manifest.model_validate({**metadata, "units": units, "tolerances": tolerances})
    problems = unit_problems(manifest.units, where)
    if problems:
        raise DiagnosticError(problems)
    write(manifest, folder)
    return manifest


_LAYOUT_HINT = "a corpus holds *.json units, or sub-folders each with a unit.json"


def _tolerances_in(folder: Path) -> dict[str, Tolerance]:
    """The tolerances of the folder's manifest, if it has one that reads: people wrote them,
    and no scan of the units can make them again."""
    if not (folder / MANIFEST).exists():
        return {}
    try:
        return read(folder).tolerances
    except UserError:
        return {}


def validate(folder: Path) -> list[Diagnostic]:
    """Every problem of the corpus in ``folder``: its manifest, each listed file that is
    missing or not its hash, and each unit or file the folder holds that the manifest omits."""
    _require_folder(folder)
    try:
        manifest = read(folder)
    except DiagnosticError as exc:
        return exc.diagnostics
    problems: list[Diagnostic] = []
    for unit in manifest.units:
        for path, expected in unit.files.items():
            problems.extend(_local_file_problems(folder, path, expected))
    listed = {unit.name: unit for unit in manifest.units}
    for name, files in _scan(folder).units.items():
        recorded = listed.get(name)
        if recorded is None:
            first = next(iter(files.values()))
            problems.append(_unlisted(f"unit {name!r} is not in the manifest", first))
            continue
        problems.extend(
            _unlisted(f"{path!r} of unit {name!r} is not in the manifest", file)
            for path, file in files.items()
            if path not in recorded.files
        )
    return problems


def _local_file_problems(folder: Path, path: str, expected: str) -> list[Diagnostic]:
    file = folder / path
    where = Location(file=str(file))
    if file.is_symlink() and not _resolves_inside(file, folder.resolve()):
        return [_linked_out(path, where)]
    try:
        found = file_hash(file)
    except FileNotFoundError:
        return [_changed(f"{path!r} is missing", where)]
    except OSError as exc:
        return [_changed(f"{path!r} cannot be read: {exc.strerror}", where)]
    if found != expected:
        return [_changed(f"{path!r} hashes to {found}, not {expected} as the manifest says", where)]
    return []


def _changed(message: str, where: Location) -> Diagnostic:
    return Diagnostic(
        "RB-E093",
        message,
        where,
        "restore the file; if the change is meant, record it as a new version: rainbow corpus "
        "init DIR --force --version NEW …",
    )


def _unlisted(message: str, file: Path) -> Diagnostic:
    return Diagnostic(
        "RB-E094",
        message,
        Location(file=str(file)),
        "remove it, or record it as a new version: rainbow corpus init DIR --force --version NEW …",
    )


# Opening a corpus for a runner ---------------------------------------------------------------


@dataclass(frozen=True)
class OpenedCorpus:
    """A corpus ready to run: a local folder of units, its manifest when it has one (every file
    checked against it), and which corpus it is."""

    folder: Path
    manifest: Manifest | None

    @cached_property
    def ref(self) -> CorpusRef:
        """Computed when asked: a folder without a manifest is hashed file by file."""
        if self.manifest is not None:
            return ref_of(self.manifest)
        hashed = _hashed(_scan(self.folder).units)
        return CorpusRef(
            name=self.folder.resolve().name,
            version=UNVERSIONED,
            content_hash=_triples_hash(
                (unit, path, digest)
                for unit, files in hashed.items()
                for path, digest in files.items()
            ),
        )

    @property
    def note(self) -> str | None:
        """What a runner tells its user about a folder without a manifest."""
        if self.manifest is not None:
            return None
        return (
            f"{self.folder} has no manifest ({MANIFEST}): its units run as found, as an "
            "unversioned corpus; `rainbow corpus init` records them"
        )


def is_url(location: str) -> bool:
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", location) is not None or "::" in location


def open_corpus(location: str | Path, cache: Path) -> OpenedCorpus:
    """The corpus at a folder or an fsspec URL. A folder's manifest is checked whole (a folder
    without one is opened as it is); a URL's is required, and its files are copied into
    ``cache/<hex of the content hash>`` and checked while they are, unless already there."""
    if isinstance(location, Path) or not is_url(location):
        folder = Path(location)
        _require_folder(folder)
        if not (folder / MANIFEST).exists():
            return OpenedCorpus(folder, None)
        problems = validate(folder)
        if problems:
            raise DiagnosticError(problems)
        return OpenedCorpus(folder, read(folder))
    return _fetched(location, cache)


def read_url(url: str) -> Manifest:
    """The manifest of the corpus at ``url``, without its files."""
    fs, root = _filesystem(url)
    return _remote_manifest(fs, root, url)[0]


def validate_url(url: str) -> list[Diagnostic]:
    """Every problem of the corpus at ``url``: its manifest, and each listed file missing or not
    its hash (each is read whole; nothing is kept)."""
    fs, root = _filesystem(url)
    try:
        manifest, _ = _remote_manifest(fs, root, url)
    except DiagnosticError as exc:
        return exc.diagnostics
    return _remote_problems(fs, root, url, manifest, into=None)


def _fetched(url: str, cache: Path) -> OpenedCorpus:
    fs, root = _filesystem(url)
    manifest, raw = _remote_manifest(fs, root, url)
    folder = cache / content_hash(manifest.units).removeprefix("sha256:")
    # The manifest is written last, so a cached folder holding one holds every file checked.
    if (folder / MANIFEST).is_file():
        return OpenedCorpus(folder, manifest)
    private_folder(cache)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name[:12]}-", dir=cache))
    try:
        problems = _remote_problems(fs, root, url, manifest, into=partial)
        if problems:
            raise DiagnosticError(problems)
        (partial / MANIFEST).write_bytes(raw)
        try:
            os.replace(partial, folder)
        except OSError:
            if not (folder / MANIFEST).is_file():  # not another process fetching it first
                raise
    except OSError as exc:
        raise UserError(
            f"cannot copy the corpus at {url} into {cache}: {exc.strerror or exc}",
            code="RB-E095",
            hint="check the disk has room and RAINBOW_HOME is writable",
        ) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return OpenedCorpus(folder, manifest)


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as exc:
        raise UserError(
            f"cannot open the corpus URL {url}: {exc}",
            code="RB-E095",
            hint="use an fsspec URL Rainbow can read here (file://, s3:// with s3fs installed, …)",
        ) from None
    return fs, str(root).rstrip("/")


def _remote_manifest(fs: Any, root: str, url: str) -> tuple[Manifest, bytes]:
    where = f"{url.rstrip('/')}/{MANIFEST}"
    try:
        with fs.open(f"{root}/{MANIFEST}", "rb") as file:
            raw = file.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise _not_a_corpus(
            f"the corpus at {url} has no {MANIFEST}: a corpus read from a URL needs a manifest "
            "to check its files against",
            f"make it where the units are (rainbow corpus init DIR …) and put {MANIFEST} beside "
            "them at the URL",
        ) from None
    except OSError as exc:
        raise _unreachable(url, exc) from None
    return parse(raw, where), raw


def _remote_problems(
    fs: Any, root: str, url: str, manifest: Manifest, *, into: Path | None
) -> list[Diagnostic]:
    """Each listed file read once, hashed as it streams (and copied under ``into``)."""
    problems: list[Diagnostic] = []
    for unit in manifest.units:
        for path, expected in unit.files.items():
            where = Location(file=f"{url.rstrip('/')}/{path}")
            target = None if into is None else into / path
            try:
                with fs.open(f"{root}/{path}", "rb") as source:
                    found = _copied_hash(source, target)
            except FileNotFoundError:
                problems.append(_changed(f"{path!r} is missing", where))
                continue
            except IsADirectoryError:
                problems.append(_changed(f"{path!r} is a folder, not a file", where))
                continue
            except OSError as exc:
                raise _unreachable(url, exc) from None
            if found != expected:
                problems.append(
                    _changed(
                        f"{path!r} hashes to {found}, not {expected} as the manifest says", where
                    )
                )
    return problems


def _copied_hash(source: IO[bytes], target: Path | None) -> str:
    digest = hashlib.sha256()
    with _sink(target) as sink:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            if sink is not None:
                sink.write(chunk)
    return "sha256:" + digest.hexdigest()


@contextlib.contextmanager
def _sink(target: Path | None) -> Iterator[IO[bytes] | None]:
    if target is None:
        yield None
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as file:
        yield file


def _unreachable(url: str, exc: OSError) -> UserError:
    return UserError(
        f"cannot read the corpus at {url}: {exc.strerror or exc}",
        code="RB-E095",
        hint="check the URL, and that this process may read it (credentials, network)",
    )
