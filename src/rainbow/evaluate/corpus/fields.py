"""What a corpus manifest may hold: its file names, its limits, and the validated types of its
fields (names, versions, SPDX licences, storable text, unit names and file paths)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from pydantic import AfterValidator, AwareDatetime, Field

from rainbow.spec.models import NAME_MAX_LENGTH, NAME_PATTERN, VERSION_MAX_LENGTH
from rainbow.storable import text_problem

MANIFEST = "corpus.toml"
FORMAT = 1
UNVERSIONED = "unversioned"
"""The version of a folder without a manifest; no manifest may claim it."""
UNIT_FILE = "unit.json"
MAX_UNITS = 100_000
MAX_FILES_PER_UNIT = 1_000
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
"""Room for the most units with a few files each; tomllib reads that much in seconds."""
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


def checked_file_path(path: str) -> str:
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
FilePath = Annotated[str, AfterValidator(checked_file_path)]
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
Source = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_storable)]
Maker = Annotated[str, Field(min_length=1, max_length=MAX_MAKER_CHARS), AfterValidator(_storable)]
Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A time with its time zone, stored in UTC."""
