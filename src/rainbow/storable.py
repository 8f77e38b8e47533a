"""What the store can hold: the one check every value from a module passes before it is recorded.

PostgreSQL refuses a NUL character in text and in JSON (``\\u0000``), and text that is not valid
UTF-8 (a lone surrogate, which Python strings may carry); SQLite stores both, so a run that works
on a laptop would halt the distributed engine in production. Structured values (outputs) that the
store cannot hold fail their attempt with :func:`unstorable`'s reason; free text (errors, logs,
tracebacks) is made storable with :func:`storable_text`, since losing a character of an error
message is better than losing the message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_JSON_DEPTH = 64
"""Deeper JSON is refused: Python's encoder recurses, and no output needs more."""
MAX_TEXT_CHARS = 20_000
"""An error message or traceback longer than this keeps its start and its end: an exception
carrying a whole input in its message must not become a megabyte on every view of the run."""
NAME_CHARS = 200
"""What a name column holds (metric names, workers are 255): longer names are cut."""

_REPLACEMENT = "\N{REPLACEMENT CHARACTER}"


def text_problem(text: str) -> str | None:
    """Why the store cannot hold ``text``, or None."""
    if "\x00" in text:
        return f"contains a NUL character at offset {text.index(chr(0))}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not valid UTF-8 at offset {exc.start} (a lone surrogate)"
    return None


def unstorable(value: Any, where: str = "value") -> str | None:
    """Why the store cannot hold the JSON ``value`` (the first problem, with its path), or None.

    Walks without recursion, so a hostile value nested a million deep costs nothing but time.
    """
    pending: list[tuple[Any, str, int]] = [(value, where, 0)]
    while pending:
        item, path, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            return f"{path} is nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return f"{path} {problem}"
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and (problem := text_problem(key)) is not None:
                    return f"a key in {path} {problem}"
                pending.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list | tuple):
            pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
    return None


def storable_text(text: str) -> str:
    """``text`` with what the store refuses replaced: NUL by ``\\0``, broken UTF-8 by U+FFFD."""
    if text_problem(text) is None:
        return text
    text = text.replace("\x00", "\\0")
    return "".join(_REPLACEMENT if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def json_size(value: Any, *, compact: bool = False, allow_nan: bool = False) -> int:
    """Bytes of ``value``'s JSON text in UTF-8; TypeError or ValueError if it is not JSON
    (NaN and Infinity included unless ``allow_nan``, for rows stored before they were refused)."""
    separators = (",", ":") if compact else None
    text = json.dumps(value, ensure_ascii=False, allow_nan=allow_nan, separators=separators)
    # Most values are ASCII: counting characters then spares a second copy of a large value.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def bounded_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` made storable, its middle cut if it is longer than ``limit``."""
    if len(text) > limit:
        half = limit // 2
        cut = len(text) - 2 * half
        text = f"{text[:half]}\n… ({cut:,} characters cut) …\n{text[-half:]}"
    return storable_text(text)


def storable_name(text: str, limit: int = NAME_CHARS) -> str:
    """A name made storable and cut to what its column holds."""
    return storable_text(text[:limit])


__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_TEXT_CHARS",
    "NAME_CHARS",
    "bounded_text",
    "json_size",
    "storable_name",
    "storable_text",
    "text_problem",
    "unstorable",
]
