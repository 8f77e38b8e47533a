"""Structured logs: structlog rendering logfmt, with the run context bound on every line.

``configure`` is called by process entry points (the CLI, a worker); importing this module
changes nothing. Context (run_id, step, module, version, attempt) is bound through contextvars,
so every line a module logs carries it without the module passing it around.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import structlog

from rainbow.private import private_folder

_open_files: list[TextIO] = []


def configure(*, log_file: Path | None = None, stream: TextIO | None = None) -> None:
    """Send logfmt lines to ``log_file`` (appending) or ``stream`` (stderr by default)."""
    if log_file is not None:
        private_folder(log_file.parent)
        # Line-buffered append: several worker processes share the file, each line one write.
        target: TextIO = open(log_file, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        _open_files.append(target)
    else:
        target = stream or sys.stderr
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            structlog.processors.LogfmtRenderer(
                key_order=["ts", "level", "event"], drop_missing=True
            ),
        ],
        logger_factory=structlog.PrintLoggerFactory(target),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str = "rainbow") -> Any:
    return structlog.get_logger(name)


@contextmanager
def bound(**context: Any) -> Iterator[None]:
    """Bind context variables onto every log line emitted inside the block."""
    with structlog.contextvars.bound_contextvars(**context):
        yield
