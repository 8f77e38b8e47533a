"""A unit's image outputs: found among the assets of its runs' outputs, and copied beside the
report, each and all within their bounds.

An asset is an image by its name (.png, .jpg, .jpeg, .webp, .gif, .bmp) and copied only when its
bytes are a PNG, JPEG, GIF, WebP or BMP; SVG can hold script and is never copied. What is not
shown is a note, HTML with the names in it escaped.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import fsspec

from rainbow.evaluate.figures import Figures
from rainbow.evaluate.page_text import MAX_TEXT, text

IMAGES = "images"
MAX_IMAGE_BYTES = 20 * 2**20
MAX_OUTPUT_NODES = 10_000
"""Values of one run's outputs searched for assets."""

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})
_SCRIPTABLE = frozenset({".svg", ".svgz"})


@dataclass(frozen=True)
class RunImages:
    """The image outputs of one side's run of a unit, by where they are in the outputs."""

    side: str
    run: str | None
    found: dict[str, str]
    notes: list[str]
    """HTML: why there is nothing to show, or what is not shown."""


def run_images(
    side: str, figures: Figures, unit: str, outputs: Mapping[str, Mapping[str, Any]]
) -> RunImages:
    runs = figures.runs.get(unit, [])
    if not runs:
        return RunImages(
            side, None, {}, [f"{side.capitalize()}'s figures have no run of this unit."]
        )
    run = next((run for run in runs if run in outputs), None)
    if run is None:
        return RunImages(side, runs[0], {}, [f"The {side}'s outputs are not at hand."])
    found: dict[str, str] = {}
    scriptable: list[str] = []
    for where, url in _assets(outputs[run]):
        suffix = _suffix(url)
        if suffix in _SCRIPTABLE:
            scriptable.append(where)
        elif suffix in IMAGE_SUFFIXES:
            found.setdefault(where, url)
    notes = []
    if scriptable:
        named = ", ".join(f"<code>{text(where)}</code>" for where in scriptable[:3])
        more = f" and {len(scriptable) - 3} more" if len(scriptable) > 3 else ""
        notes.append(
            f"The {side}'s SVG outputs ({named}{more}) are not shown: SVG can hold script."
        )
    elif not found:
        notes.append(f"No image among the outputs of the {side}'s run.")
    return RunImages(side, run, found, notes)


def _assets(outputs: Any) -> list[tuple[str, str]]:
    """Every asset in a run's outputs as (where, URL), in the outputs' order; walked without
    recursion and within a budget, whatever their depth and size."""
    found: list[tuple[str, str]] = []
    pending: list[tuple[str, Any]] = [("", outputs)]
    for _ in range(MAX_OUTPUT_NODES):
        if not pending:
            break
        where, value = pending.pop()
        children: list[tuple[str, Any]]
        if isinstance(value, Mapping):
            url = value.get("$asset")
            if isinstance(url, str):
                found.append((where or "(the output)", url))
                continue
            children = [
                (f"{where}.{key}" if where else str(key), child)
                for key, child in itertools.islice(value.items(), MAX_OUTPUT_NODES)
            ]
        elif isinstance(value, list | tuple):
            children = [
                (f"{where}[{i}]", child) for i, child in enumerate(value[:MAX_OUTPUT_NODES])
            ]
        else:
            continue
        pending.extend(reversed(children))
    return found


def _suffix(url: str) -> str:
    path = urlsplit(url).path if "://" in url else url
    return PurePosixPath(path).suffix.lower()


@dataclass(frozen=True)
class Copied:
    src: str | None
    """The image's path relative to the page, when it was copied."""
    note: str = ""
    """HTML: why it was not."""


class Images:
    """Copies image assets beside the page, each once, each and all within their bounds.

    A file is named by its content's hash and the type its bytes say it is, never by its URL:
    no user text reaches a ``src``, and what is not a PNG, JPEG, GIF, WebP or BMP (a page, a
    script, any file with an image's name) is never copied.
    """

    def __init__(self, folder: Path, budget: int) -> None:
        self.folder = folder / IMAGES
        self.left = budget
        self.budget = budget
        self.copied: dict[str, Copied] = {}

    def copy(self, url: str) -> Copied:
        if url not in self.copied:
            self.copied[url] = self._copy(url)
        return self.copied[url]

    def _copy(self, url: str) -> Copied:
        shown = f"<code>{text(url, MAX_TEXT)}</code>"
        spent = f"{shown} is not copied: the report's {_mib(self.budget)} for images are spent."
        if self.left <= 0:
            return Copied(None, spent)
        try:
            with fsspec.open(url, "rb") as file:
                data = file.read(min(MAX_IMAGE_BYTES, self.left) + 1)
        except Exception as exc:  # any backend's failure to read is a note, never a lost report
            reason = text(f"{type(exc).__name__}: {exc}", MAX_TEXT)
            return Copied(None, f"{shown} could not be read ({reason}).")
        if len(data) > MAX_IMAGE_BYTES:
            return Copied(None, f"{shown} is larger than {_mib(MAX_IMAGE_BYTES)}: not copied.")
        if len(data) > self.left:
            return Copied(None, spent)
        kind = _sniff(data)
        if kind is None:
            return Copied(None, f"{shown} is not a PNG, JPEG, GIF, WebP or BMP image.")
        name = f"{hashlib.sha256(data).hexdigest()[:32]}.{kind}"
        path = self.folder / name
        if not path.exists():
            self.folder.mkdir(exist_ok=True)
            path.write_bytes(data)
            self.left -= len(data)
        return Copied(f"{IMAGES}/{name}")


def _sniff(data: bytes) -> str | None:
    """The image type of ``data`` by its signature."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    return None


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"
