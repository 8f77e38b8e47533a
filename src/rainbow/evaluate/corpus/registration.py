"""What the control plane records of a corpus version, and how its units are checked against
the hash and count it claims."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from rainbow.diagnostics import Diagnostic, Location
from rainbow.evaluate.corpus.fields import FORMAT, MAX_UNITS, ContentHash, ManifestFormat
from rainbow.evaluate.corpus.hashes import content_hash
from rainbow.evaluate.corpus.models import CorpusInfo, Manifest, Provenance, Unit, unit_problems
from rainbow.storable import json_size

MAX_RECORDED_UNITS_BYTES = 4 * 1024 * 1024
"""The most units a registration carries to the control plane (compact JSON), well within its
request body limit: a larger corpus registers its content hash and unit count alone."""


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
