"""Which corpus this is: the content hash over its (unit, path, file hash) triples, each file's
sha256, and the :class:`CorpusRef` a manifest names."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from rainbow.evaluate.corpus.models import Manifest, Unit
from rainbow.evaluate.figures import CorpusRef


def ref_of(manifest: Manifest) -> CorpusRef:
    return CorpusRef(
        name=manifest.corpus.name,
        version=manifest.corpus.version,
        content_hash=content_hash(manifest.units),
    )


def content_hash(units: Iterable[Unit]) -> str:
    """``sha256:`` over the JSON lines ``["unit","path","sha256:…"]``, by unit then path: what
    the corpus holds, never what it is called."""
    return triples_hash(
        (unit.name, path, digest) for unit in units for path, digest in unit.files.items()
    )


def triples_hash(triples: Iterable[tuple[str, str, str]]) -> str:
    digest = hashlib.sha256()
    for triple in sorted(triples):
        # ASCII JSON: names read from a file system may carry undecodable bytes (surrogates).
        digest.update(json.dumps(list(triple), separators=(",", ":")).encode() + b"\n")
    return "sha256:" + digest.hexdigest()


def file_hash(path: Path) -> str:
    with path.open("rb") as file:
        return "sha256:" + hashlib.file_digest(file, "sha256").hexdigest()
