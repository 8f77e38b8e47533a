"""Assets: files passed between steps by reference (fsspec URLs), never inline through a broker.

On the wire an asset is the JSON object ``{"$asset": "<url>"}``. Inside a module an asset has a
local ``path``: inputs are synced to the worker before the call, outputs are created in the
attempt's workdir with ``ctx.new_asset`` and uploaded to the asset store after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ASSET_KEY = "$asset"


def is_local_url(url: str) -> bool:
    scheme = urlparse(url).scheme
    # A one-letter scheme is a Windows drive letter, not a protocol.
    return scheme in ("", "file") or len(scheme) == 1


def local_path_of(url: str) -> Path:
    return Path(urlparse(url).path if url.startswith("file://") else url)


@dataclass(frozen=True)
class Asset:
    """A file known by URL; ``path`` is where module code reads or writes it locally."""

    url: str
    local: Path | None = None

    @property
    def path(self) -> Path:
        if self.local is not None:
            return self.local
        if is_local_url(self.url):
            return local_path_of(self.url)
        raise ValueError(
            f"asset {self.url} has not been synced to this machine; "
            "module inputs are synced before the module is called"
        )

    @property
    def name(self) -> str:
        return Path(urlparse(self.url).path).name

    def to_json(self) -> dict[str, str]:
        return {ASSET_KEY: self.url}


def is_asset_json(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ASSET_KEY in value


def asset_from_json(value: dict[str, str]) -> Asset:
    return Asset(url=value[ASSET_KEY])
