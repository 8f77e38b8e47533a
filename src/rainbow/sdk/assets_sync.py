"""Asset sync around a module call: inputs fetched to the worker, outputs published to the store."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import fsspec

from rainbow.errors import RainbowError
from rainbow.sdk.context import Context
from rainbow.spec.asset import Asset, asset_from_json, is_asset_json, is_local_url, local_path_of


class UnreadableAsset(RainbowError):
    """An input asset does not exist or cannot be read; retrying will not help."""


class OutputError(RainbowError):
    """A module returned an output that cannot be published; the same code will do it again."""


class AssetStore:
    """The asset store at ``base_url``: a local folder or any fsspec URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def materialize(self, inputs: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {
            name: self._fetch(name, asset_from_json(value), ctx) if is_asset_json(value) else value
            for name, value in inputs.items()
        }

    def _fetch(self, name: str, asset: Asset, ctx: Context) -> Asset:
        if is_local_url(asset.url):
            path = local_path_of(asset.url)
            if not path.is_file() or not os.access(path, os.R_OK):
                raise UnreadableAsset(
                    f"input {name!r}: asset {asset.url} does not exist or cannot be read (RB-E041)"
                )
            return Asset(url=asset.url, local=path)
        target = ctx.workdir / "in" / name / asset.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fs, path = fsspec.core.url_to_fs(asset.url)
            fs.get(path, str(target))
        except (OSError, ValueError) as exc:
            raise UnreadableAsset(
                f"input {name!r}: asset {asset.url} cannot be read: {exc} (RB-E041)"
            ) from exc
        return Asset(url=asset.url, local=target)

    def publish(self, outputs: dict[str, Any], ctx: Context) -> dict[str, Any]:
        published: dict[str, Any] = {}
        for name, value in outputs.items():
            if isinstance(value, Asset):
                published[name] = {"$asset": self._upload(name, value, ctx)}
                continue
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                raise OutputError(
                    f"output {name!r} of module {ctx.module!r} ({type(value).__name__} "
                    f"{value!r:.60}) is not JSON; return str, finite numbers, bool, lists, dicts "
                    "or rb.Asset"
                ) from None
            published[name] = value
        return published

    def _upload(self, name: str, asset: Asset, ctx: Context) -> str:
        local = asset.local
        if local is None or not _inside(local, ctx.workdir):
            return asset.url
        if not local.is_file():
            raise OutputError(
                f"output {name!r}: the module created asset {local.name!r} but never wrote it"
            )
        key = f"{ctx.run_id}/{ctx.step}/{ctx.attempt}/{local.name}"
        if is_local_url(self.base_url):
            dest = local_path_of(self.base_url) / key
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(local, dest)
            return str(dest)
        url = f"{self.base_url}/{key}"
        try:
            fs, path = fsspec.core.url_to_fs(url)
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            fs.put(str(local), path)
        except (OSError, ValueError) as exc:
            raise OSError(f"publishing output {name!r} to {url} failed: {exc}") from exc
        return url


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
