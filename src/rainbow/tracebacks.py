"""Tracebacks as users need them: their own frames only, never Rainbow's or importlib's."""

from __future__ import annotations

import traceback
from pathlib import Path

RAINBOW_DIR = str(Path(__file__).resolve().parent)


def user_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(RAINBOW_DIR) and "importlib" not in frame.filename
    ]


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without Rainbow's frames (all frames if none are the user's)."""
    frames = user_frames(exc) or traceback.extract_tb(exc.__traceback__)
    return "".join(
        [
            "Traceback (most recent call last):\n",
            *traceback.format_list(frames),
            *traceback.format_exception_only(type(exc), exc),
        ]
    )


def user_location(exc: BaseException) -> str:
    """`` at FILE:LINE`` of the innermost user frame, or an empty string."""
    frames = user_frames(exc)
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def raised_by_user_code(exc: BaseException) -> bool:
    """Whether the innermost frame that raised ``exc`` is the user's (not Rainbow, a library or
    the standard library): ``sys.exit()`` in a module, not a worker framework shutting down."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    where = frames[-1].filename
    return not (
        where.startswith(RAINBOW_DIR) or "site-packages" in where or "/lib/python3" in where
    )
