"""The step cache's key: what a step's outputs depend on, and nothing that merely names it.

A step's outputs are reused only for the same module, the same code (a released build's
artifact, or the clean commit local code is at: never a mutable tag such as ``latest``, which
serves stale results when it moves) and the same inputs, an asset input by its bytes' hash, not
its URL: the same photo uploaded twice is the same input, and a file rewritten in place is not.
Local code with uncommitted changes has no identity a later run could check, so it is never
cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import fsspec

from rainbow.spec.asset import is_asset_json

CHUNK = 1 << 20
KEY_FORMAT = 1


class Unhashable(Exception):
    """An input asset could not be read to hash it: the step runs, uncached."""


def code_identity(commit: str, artifact: str, *, dirty: bool) -> str | None:
    """The code a step runs, as the cache knows it; None when it cannot be known."""
    if artifact:
        return artifact
    if commit and not dirty:
        return f"git:{commit}"
    return None


def step_key(
    module: str, code: str, inputs: Mapping[str, Any], hash_asset: Callable[[str], str]
) -> str:
    """``sha256:…`` of the module, its code and its canonical inputs, assets by content."""

    def canonical(value: Any) -> Any:
        if is_asset_json(value):
            return {"$asset-sha256": hash_asset(value["$asset"])}
        if isinstance(value, Mapping):
            return {str(k): canonical(v) for k, v in value.items()}
        if isinstance(value, list):
            return [canonical(v) for v in value]
        return value

    body = {"format": KEY_FORMAT, "module": module, "code": code, "inputs": canonical(inputs)}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class AssetHasher:
    """Hashes assets by their bytes, each local file once while its size and mtime hold."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], str] = {}

    def __call__(self, url: str) -> str:
        try:
            if "://" not in url or url.startswith("file://"):
                path = url.removeprefix("file://")
                stat = os.stat(path)
                seen = (path, stat.st_size, stat.st_mtime_ns)
                if seen not in self._known:
                    self._known[seen] = self._digest(path)
                return self._known[seen]
            return self._digest(url)
        except (OSError, ValueError) as exc:
            raise Unhashable(f"cannot read {url} to hash it: {exc}") from None

    @staticmethod
    def _digest(url: str) -> str:
        digest = hashlib.sha256()
        with fsspec.open(url, "rb") as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
        return "sha256:" + digest.hexdigest()
