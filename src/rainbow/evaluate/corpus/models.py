"""The manifest as values: ``[corpus]``, ``[provenance]``, the units with their files'
hashes, the tolerances, and the rules that hold between the units."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rainbow.diagnostics import Diagnostic, Location
from rainbow.evaluate.corpus.fields import (
    FORMAT,
    MAX_FILES_PER_UNIT,
    MAX_TOLERANCES,
    MAX_UNITS,
    UNIT_FILE,
    CorpusName,
    CorpusVersion,
    FileHash,
    FilePath,
    FreeText,
    Licence,
    Maker,
    ManifestFormat,
    MetricKey,
    Moment,
    Source,
    UnitName,
    Use,
)
from rainbow.evaluate.corpus.problems import path_problem
from rainbow.evaluate.figures import Tolerance


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

    source: Source
    made_by: Maker
    made_at: Moment


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


def unit_problems(units: Sequence[Unit], where: str | None) -> list[Diagnostic]:
    """The rules between a manifest's units: one name each, one entry file (``NAME/unit.json``
    or ``NAME.json``), and a folder unit's files inside its folder."""
    problems: list[Diagnostic] = []
    seen: set[str] = set()
    for unit in units:
        at = Location(file=where, json_path=f"units[name={unit.name!r}]")
        if unit.name in seen:
            problems.append(path_problem(f"two units are named {unit.name!r}", at))
        seen.add(unit.name)
        in_folder = f"{unit.name}/{UNIT_FILE}" in unit.files
        beside = f"{unit.name}.json" in unit.files
        if in_folder == beside:
            listed = "both" if in_folder else "neither"
            problems.append(
                path_problem(
                    f"unit {unit.name!r} lists {listed} {unit.name}/{UNIT_FILE} "
                    f"{'and' if in_folder else 'nor'} {unit.name}.json: a unit has one",
                    at,
                )
            )
        elif in_folder:
            problems.extend(
                path_problem(f"{path!r} is outside the folder of unit {unit.name!r}", at)
                for path in unit.files
                if not path.startswith(f"{unit.name}/")
            )
    return problems
