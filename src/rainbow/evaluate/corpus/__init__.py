"""Corpora: named, versioned sets of canned work units with their licence, allowed use and
provenance, and every file's content hash, in a manifest (``corpus.toml``) beside the units.

A corpus folder holds its units the way runners read them (``engine.workunits``): ``NAME.json``
files, or ``NAME/`` folders each holding a ``unit.json`` with its files beside it. The manifest
lists each unit's files by their path from the corpus folder, each with its sha256. The corpus's
content hash covers only the (unit, path, file hash) triples: its name, version and licence
describe the content without being part of it. A folder without a manifest still runs, as an
unversioned corpus hashed as found. A corpus at a URL needs a manifest: its files are checked
against it while they are copied into a local cache.

The modules, each with one job: ``fields`` (names, limits, validated field types), ``models``
(the manifest as values), ``hashes`` (the content hash), ``manifest`` (reading and writing
``corpus.toml``), ``scan`` (a folder's units as runners find them), ``folder`` (``init`` and
``validate``), ``remote`` (URL corpora and the cache), ``opened`` (``open_corpus`` for
runners), ``registration`` (what the control plane records) and ``problems`` (the diagnostics).
"""

from rainbow.evaluate.corpus.fields import (
    MANIFEST,
    MAX_FILES_PER_UNIT,
    MAX_MANIFEST_BYTES,
    UNVERSIONED,
)
from rainbow.evaluate.corpus.folder import init, validate
from rainbow.evaluate.corpus.hashes import content_hash, file_hash, ref_of
from rainbow.evaluate.corpus.manifest import dumps, parse, read, write
from rainbow.evaluate.corpus.models import CorpusInfo, Manifest, Provenance, Unit
from rainbow.evaluate.corpus.opened import OpenedCorpus, open_corpus
from rainbow.evaluate.corpus.registration import MAX_RECORDED_UNITS_BYTES, Registration
from rainbow.evaluate.corpus.remote import is_url, read_url, validate_url

__all__ = [
    "MANIFEST",
    "MAX_FILES_PER_UNIT",
    "MAX_MANIFEST_BYTES",
    "MAX_RECORDED_UNITS_BYTES",
    "UNVERSIONED",
    "CorpusInfo",
    "Manifest",
    "OpenedCorpus",
    "Provenance",
    "Registration",
    "Unit",
    "content_hash",
    "dumps",
    "file_hash",
    "init",
    "is_url",
    "open_corpus",
    "parse",
    "read",
    "read_url",
    "ref_of",
    "validate",
    "validate_url",
    "write",
]
