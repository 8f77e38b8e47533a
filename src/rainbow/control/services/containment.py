"""Which asset inputs the control plane may hand to its engine.

The engine reads an input with the rights of the server (its local pool, its workers), so a
location someone submits is judged by what it finally opens, the way a worker opens it
(:mod:`rainbow.sdk.assets_sync`):

- A local path (a plain path or ``file://``, used in place) must lie, symlinks and ``..``
  resolved, under one of the input roots or the local asset store.
- Any other URL is split into its fsspec layers (``simplecache::s3://b/k`` is a cache over S3),
  exactly as ``fsspec.core.url_to_fs`` splits it. The innermost layer is what is read: a layer
  on local disk (``file://``, ``local://``, ``local:``) is judged as a local path and must be
  absolute; any other must use an allowed protocol. Each outer layer must be an allowed
  protocol that reads only the layer it wraps (fsspec's caches and archives): ``dir::`` and
  ``reference::`` can reach files their URL does not name.
- Locations under the asset store's URL are always allowed: outputs of runs are inputs of others.
- Rainbow's own files are never inputs, whatever the roots say: the store (with its ``-wal``,
  ``-shm`` and journal files), and in ``RAINBOW_HOME`` the secret key, logs, static files and
  the attempts' work folders.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from fsspec.archive import AbstractArchiveFileSystem
from fsspec.core import split_protocol
from fsspec.implementations.cached import CachingFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.registry import available_protocols, get_filesystem_class

from rainbow.spec.asset import is_local_url, local_path_of
from rainbow.storable import text_problem

OWN_IN_HOME = ("secret-key", "logs", "static", "work")
"""What Rainbow keeps in its home beside the store: its signing key, logs (crash reports hold
tracebacks), collected static files and attempt workdirs (other runs' inputs and outputs)."""

STORE_NAME = "rainbow.sqlite3"
STORE_SIDE_FILES = ("", "-wal", "-shm", "-journal", ".migrate-lock")
"""A SQLite store is several files: the write-ahead log holds recent rows (session keys too)."""

_NOT_A_WORD = re.compile(".*[^a-z]+.*")  # fsspec's test for a chain bit that is not a protocol
_WILDCARD = re.compile(r"[*?\[]")


class Refusal(NamedTuple):
    reason: str
    hint: str


@dataclass(frozen=True)
class InputPolicy:
    roots: tuple[Path, ...]
    """Resolved folders local inputs may lie in (the input roots and a local asset store)."""
    protocols: frozenset[str]
    own: tuple[Path, ...]
    """Resolved files and folders of Rainbow's own, refused whatever the roots say."""
    assets_url: str | None = None
    """A remote asset store, whose outputs are inputs of later runs."""

    @classmethod
    def build(
        cls,
        *,
        roots: Iterable[str],
        protocols: Iterable[str],
        home: Path | None,
        stores: Iterable[str],
        assets_url: str | None,
    ) -> InputPolicy:
        """The policy for these settings; ``stores`` are the SQLite files the server uses."""
        local_assets = _local_folder(assets_url) if assets_url else None
        folders = [Path(root) for root in roots] + ([local_assets] if local_assets else [])
        store_files = [*stores, *([str(home / STORE_NAME)] if home else [])]
        own = [home / name for name in OWN_IN_HOME] if home else []
        own += [Path(f"{store}{side}") for store in store_files for side in STORE_SIDE_FILES]
        return cls(
            roots=tuple(_resolved(folder) for folder in folders),
            protocols=frozenset(protocols),
            own=tuple(_resolved(path) for path in own),
            assets_url=None if local_assets else assets_url,
        )

    def refusal(self, location: str) -> Refusal | None:
        """Why the server may not read ``location`` for a run, or None."""
        problem = text_problem(location)
        if problem is not None:
            return Refusal(f"the location {problem}", "give a path or URL of plain text")
        if self._in_remote_assets(location):
            return None
        if is_local_url(location):
            return self._local(local_path_of(location))
        *outer, (protocol, bit) = _layers(location)
        for wrapper, _ in outer:
            if wrapper not in self.protocols:
                return self._protocol_refused(wrapper)
            if not issubclass(_class(wrapper) or object, _WRAPPERS):
                return Refusal(
                    f"{wrapper}:: can read files its URL does not name",
                    "give the URL of the file itself",
                )
        if protocol not in self.protocols and protocol not in LocalFileSystem.protocol:
            # Refused by name, before its filesystem is imported: a user names the protocol.
            return self._protocol_refused(protocol)
        local = _class(protocol)
        if local is not None and issubclass(local, LocalFileSystem):
            path = _local_path(local, bit)
            if _WILDCARD.search(str(path)):  # fsspec expands it to every match
                return Refusal(f"a wildcard ({path}), not one file", "name one file")
            return self._local(path)
        if local is not None and issubclass(local, _WRAPPERS):
            # Without an inner URL, fsspec's archives open a local file by default.
            return Refusal(
                f"{protocol}:// wraps another URL, and none is given",
                f"chain it to the URL it wraps, e.g. {protocol}::s3://bucket/key",
            )
        return None

    def _local(self, path: Path) -> Refusal | None:
        if not path.is_absolute():
            return Refusal(
                f"a relative local path ({path}), which would mean another file on each worker",
                "give an absolute path",
            )
        try:
            real = path.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
            return Refusal(f"{path} cannot be resolved ({exc})", "give the path of a file")
        # Where a path leads is never said: /proc/self/fd/N would map the server's open files.
        if any(real.is_relative_to(own) for own in self.own):
            return Refusal(
                "one of Rainbow's own files (its store, secret key, logs, static files or "
                "work folders), which are never inputs",
                "use a file under the input roots, or an asset a run produced",
            )
        if any(real.is_relative_to(root) for root in self.roots):
            return None
        allowed = ", ".join(str(root) for root in self.roots) or "none configured"
        return Refusal(
            f"outside the folders the control plane may read ({allowed})",
            "put the file under one of them, or use a URL of "
            f"{self._named_protocols()}; an admin can add folders to RAINBOW_INPUT_ROOTS",
        )

    def _protocol_refused(self, protocol: str) -> Refusal:
        return Refusal(
            f"the control plane does not read inputs through {protocol}://",
            f"use a URL of {self._named_protocols()}, or a path under the input roots; an admin "
            "can allow more protocols in RAINBOW_INPUT_PROTOCOLS",
        )

    def _named_protocols(self) -> str:
        return ", ".join(f"{p}://" for p in sorted(self.protocols)) or "(no protocol allowed)"

    def _in_remote_assets(self, location: str) -> bool:
        if self.assets_url is None or "::" in location:
            return False
        prefix = self.assets_url.rstrip("/") + "/"
        return location.startswith(prefix) and ".." not in location[len(prefix) :].split("/")


_WRAPPERS = (CachingFileSystem, AbstractArchiveFileSystem)
"""Filesystems that read exactly the layer they wrap (its cache, or members of its archive)."""


def _layers(url: str) -> list[tuple[str, str]]:
    """(protocol, URL) of each layer, outermost first, split as ``fsspec.core._un_chain`` does
    (which needs every layer's package installed: the workers may have s3fs and this server
    not)."""
    if "::" in url:
        known = set(available_protocols())
        bits = [
            bit if bit not in known and ("://" in bit or _NOT_A_WORD.match(bit)) else bit + "://"
            for bit in url.split("::")
        ]
    else:
        bits = [url]
    return [(split_protocol(bit)[0] or "file", bit) for bit in bits]


def _class(protocol: str) -> type | None:
    """The filesystem class of ``protocol``, or None if it is unknown or not installed here."""
    try:
        return get_filesystem_class(protocol)
    except (ImportError, ValueError):
        return None


def _local_path(local: type[LocalFileSystem], bit: str) -> Path:
    """The path a local layer opens, its protocol removed as ``LocalFileSystem._strip_protocol``
    does, but not anchored in this process's folder or home (a worker has its own)."""
    protocols = (local.protocol,) if isinstance(local.protocol, str) else local.protocol
    for prefix in (f"{protocol}{sep}" for protocol in protocols for sep in ("://", ":")):
        if bit.startswith(prefix):
            return Path(bit.removeprefix(prefix))
    return Path(bit)


def _local_folder(url: str) -> Path | None:
    """The folder a URL names on local disk (``/srv/assets``, ``local:///srv/assets``), or None."""
    if is_local_url(url):
        return local_path_of(url)
    (protocol, bit), *inner = _layers(url)
    local = _class(protocol)
    if inner or local is None or not issubclass(local, LocalFileSystem):
        return None
    return _local_path(local, bit)


def _resolved(path: Path) -> Path:
    try:
        return path.absolute().resolve()
    except (OSError, RuntimeError):
        return path.absolute()
