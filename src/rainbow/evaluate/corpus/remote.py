"""Corpora at fsspec URLs: their manifest is required, and their files are streamed, hashed
and checked against it, and copied into a local cache only when every one matches."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import fsspec

from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError, UserError
from rainbow.evaluate.corpus.fields import MANIFEST, MAX_MANIFEST_BYTES
from rainbow.evaluate.corpus.hashes import content_hash
from rainbow.evaluate.corpus.manifest import parse
from rainbow.evaluate.corpus.models import Manifest
from rainbow.evaluate.corpus.problems import changed, not_a_corpus
from rainbow.private import private_folder


def is_url(location: str) -> bool:
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", location) is not None or "::" in location


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


def fetch(url: str, cache: Path) -> tuple[Path, Manifest]:
    """The local folder of the corpus at ``url``, ``cache/<hex of the content hash>``, and its
    manifest: its files copied there and checked while they are, unless already there."""
    fs, root = _filesystem(url)
    manifest, raw = _remote_manifest(fs, root, url)
    folder = cache / content_hash(manifest.units).removeprefix("sha256:")
    # The manifest is written last, so a cached folder holding one holds every file checked.
    if (folder / MANIFEST).is_file():
        return folder, manifest
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
    return folder, manifest


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
        raise not_a_corpus(
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
                problems.append(changed(f"{path!r} is missing", where))
                continue
            except IsADirectoryError:
                problems.append(changed(f"{path!r} is a folder, not a file", where))
                continue
            except OSError as exc:
                raise _unreachable(url, exc) from None
            if found != expected:
                problems.append(
                    changed(
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
