"""Asset sync around a module call: inputs fetched to the worker, outputs published to the store.

An output is published whole or not at all: a local store gets it under a temporary name that is
renamed into place, a remote store's partial object is deleted, and a failed attempt leaves none
of its outputs behind. The store's own failures are told apart from the module's: a full store
may have room later (retried); a read-only or forbidden one will not (the attempt fails for good).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import fsspec

from rainbow.errors import RainbowError
from rainbow.sdk.context import Context
from rainbow.sdk.outputs import OutputError
from rainbow.settings import redact
from rainbow.spec.asset import Asset, asset_from_json, is_asset_json, is_local_url, local_path_of


class UnreadableAsset(RainbowError):
    """An input asset does not exist or cannot be read; retrying will not help."""


class AssetStoreError(RainbowError):
    """The asset store refused an output: not the module's fault; ``retryable`` if it may
    recover (a full disk), not if it will not (read-only, forbidden, misconfigured)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


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
        """The outputs as JSON, their assets uploaded; on a failure none of them stays."""
        published: dict[str, Any] = {}
        undo: list[Callable[[], None]] = []
        try:
            for name, value in outputs.items():
                published[name] = (
                    {"$asset": self._upload(name, value, ctx, undo)}
                    if isinstance(value, Asset)
                    else value
                )
        except Exception:
            for remove in undo:
                with contextlib.suppress(Exception):  # the store's failure is the one to report
                    remove()
            raise
        return published

    def publish_matching(self, patterns: Sequence[str], ctx: Context) -> list[str]:
        """Files of the workdir that ``patterns`` match (inputs fetched there excepted),
        published under ``<run>/<step>/<attempt>/files/``, their folders kept."""
        inputs = ctx.workdir / "in"
        found = sorted(
            {
                path
                for pattern in patterns
                for path in ctx.workdir.glob(pattern)
                if path.is_file() and not _inside(path, inputs) and _inside(path, ctx.workdir)
            }
        )
        undo: list[Callable[[], None]] = []
        try:
            return [
                self._upload(
                    str(path.relative_to(ctx.workdir)),
                    Asset(url=str(path), local=path),
                    ctx,
                    undo,
                    key=f"files/{path.relative_to(ctx.workdir).as_posix()}",
                )
                for path in found
            ]
        except Exception:
            for remove in undo:
                with contextlib.suppress(Exception):
                    remove()
            raise

    def _upload(
        self,
        name: str,
        asset: Asset,
        ctx: Context,
        undo: list[Callable[[], None]],
        *,
        key: str | None = None,
    ) -> str:
        local = asset.local
        if local is None or not _inside(local, ctx.workdir):
            return asset.url
        if not local.is_file():
            raise OutputError(
                f"output {name!r}: the module created asset {local.name!r} but never wrote it"
            )
        key = f"{ctx.run_id}/{ctx.step}/{ctx.attempt}/{key or local.name}"
        if is_local_url(self.base_url):
            dest = local_path_of(self.base_url) / key
            self._move_in(name, local, dest)
            undo.append(lambda: dest.unlink(missing_ok=True))
            return str(dest)
        url = f"{self.base_url}/{key}"
        try:
            fs, path = fsspec.core.url_to_fs(url)
        except ValueError as exc:
            raise AssetStoreError(
                f"RAINBOW_ASSETS_URL={redact(self.base_url)} cannot be opened: {exc} (RB-E045)",
                retryable=False,
            ) from exc
        try:
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            fs.put_file(str(local), path)
        except (OSError, ValueError) as exc:
            # Object stores never show a partial upload; file-like stores (sftp, local://) may.
            with contextlib.suppress(Exception):
                fs.rm_file(path)
            raise self._refusal(name, local, exc) from exc
        undo.append(lambda: fs.rm_file(path))
        return url

    def _move_in(self, name: str, local: Path, dest: Path) -> None:
        """Move ``local`` to ``dest`` whole: a copy across filesystems goes to a temporary name
        first, so a full disk or a kill never leaves a partial file under the real name."""
        partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.partial")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(local, partial)
            partial.replace(dest)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise self._refusal(name, local, exc) from exc

    def _refusal(self, name: str, local: Path, exc: Exception) -> AssetStoreError:
        where = f"the assets store {redact(self.base_url)}"
        what = f"output {name!r} ({_size_of(local)})"
        reason = getattr(exc, "strerror", None) or str(exc)
        code = getattr(exc, "errno", None)
        if code in (errno.ENOSPC, errno.EDQUOT):
            return AssetStoreError(
                f"{where} is out of space ({reason}) publishing {what} (RB-E045); the step "
                "is retried while it has attempts left: free space there, or set "
                "RAINBOW_ASSETS_URL to a larger store",
                retryable=True,
            )
        if code == errno.EROFS:
            return AssetStoreError(
                f"{where} is read-only ({reason}): {what} cannot be published (RB-E045); "
                "mount it writable, or set RAINBOW_ASSETS_URL to a writable store",
                retryable=False,
            )
        if code in (errno.EACCES, errno.EPERM) or isinstance(exc, PermissionError):
            return AssetStoreError(
                f"{where} is not writable by this worker ({reason}): {what} cannot be published "
                "(RB-E045); give the worker's user write access, or set RAINBOW_ASSETS_URL to a "
                "store it may write",
                retryable=False,
            )
        return AssetStoreError(
            f"publishing {what} to {where} failed: {reason} (RB-E045)", retryable=True
        )


def _size_of(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        return "size unknown"
    return f"{size:,} bytes"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
