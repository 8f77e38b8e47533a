"""Opening a corpus for a runner: a folder checked against its manifest (or run as found
without one), or a URL's corpus fetched into the cache, as a local folder and which corpus it
is."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from rainbow.errors import DiagnosticError
from rainbow.evaluate.corpus.fields import MANIFEST, UNVERSIONED
from rainbow.evaluate.corpus.folder import require_folder, validate
from rainbow.evaluate.corpus.hashes import ref_of, triples_hash
from rainbow.evaluate.corpus.manifest import read
from rainbow.evaluate.corpus.models import Manifest
from rainbow.evaluate.corpus.remote import fetch, is_url
from rainbow.evaluate.corpus.scan import hashed, scan
from rainbow.evaluate.figures import CorpusRef


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
        hashes = hashed(scan(self.folder).units)
        return CorpusRef(
            name=self.folder.resolve().name,
            version=UNVERSIONED,
            content_hash=triples_hash(
                (unit, path, digest)
                for unit, files in hashes.items()
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


def open_corpus(location: str | Path, cache: Path) -> OpenedCorpus:
    """The corpus at a folder or an fsspec URL. A folder's manifest is checked whole (a folder
    without one is opened as it is); a URL's is required, and its files are copied into
    ``cache/<hex of the content hash>`` and checked while they are, unless already there."""
    if isinstance(location, Path) or not is_url(location):
        folder = Path(location)
        require_folder(folder)
        if not (folder / MANIFEST).exists():
            return OpenedCorpus(folder, None)
        problems = validate(folder)
        if problems:
            raise DiagnosticError(problems)
        return OpenedCorpus(folder, read(folder))
    return OpenedCorpus(*fetch(location, cache))
