"""Run a command module for one attempt: JSON in on stdin, JSON out on stdout.

What the command writes is read with bounds, as a Python module's return value is checked:
stdout up to twice ``RAINBOW_MAX_OUTPUT_BYTES`` (room for indentation and ``$metrics``; the
outputs parsed from it must then fit the limit itself), stderr logged line by line as it comes
with only its end kept for the error message.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import selectors
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from rainbow.errors import StepTimeout
from rainbow.sdk.command import CommandModule
from rainbow.sdk.context import Context, Tolerance
from rainbow.sdk.files import as_environment
from rainbow.spec.asset import Asset

PERMANENT_EXIT_CODE = 3
STDOUT_SLACK = 64 * 1024
STDERR_TAIL = 64 * 1024
STDERR_LINE = 8 * 1024
"""A longer stderr line is logged cut: one line must not become a megabyte of log."""


class CommandFailed(Exception):
    """The command exited non-zero or wrote malformed output."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def run_command(
    module: CommandModule,
    inputs: dict[str, Any],
    ctx: Context,
    timeout: float,
    *,
    max_output_bytes: int,
) -> dict[str, Any]:
    """Run the executable once: inputs as JSON on stdin, outputs as JSON on stdout."""
    payload = {k: str(v.path) if isinstance(v, Asset) else v for k, v in inputs.items()}
    env = {
        **os.environ,
        "RAINBOW_RUN_ID": ctx.run_id,
        "RAINBOW_STEP": ctx.step,
        "RAINBOW_ATTEMPT": str(ctx.attempt),
        "RAINBOW_WORKDIR": str(ctx.workdir),
        **as_environment(ctx.files),
    }
    try:
        process = subprocess.Popen(
            module.argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ctx.workdir,
            env=env,
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise CommandFailed(
            f"command {module.argv()[0]!r} of module {module.name!r} cannot run ({exc.strerror}); "
            f"build it or fix `command` in {module.config_path}",
            retryable=False,
        ) from None
    stderr = StderrLines(lambda line: ctx.log.info("command stderr", line=line))
    with process:
        try:
            stdout = _exchange(
                process,
                json.dumps(payload).encode(),
                timeout=timeout,
                stdout_limit=2 * max_output_bytes + STDOUT_SLACK,
                stderr=stderr,
            )
        except subprocess.TimeoutExpired:
            _kill_tree(process)
            raise StepTimeout("step", timeout) from None
        except BaseException:
            _kill_tree(process)
            raise
    if process.returncode != 0:
        tail = stderr.tail.decode(errors="replace").strip()[-2000:]
        code = process.returncode
        how = f"signal {-code}" if code < 0 else f"code {code}"
        raise CommandFailed(
            f"command exited with {how}: {tail or '(no stderr)'}",
            retryable=code != PERMANENT_EXIT_CODE,
        )
    try:
        outputs, metrics = parse_stdout(stdout)
    except ValueError as exc:
        raise CommandFailed(str(exc), retryable=False) from None
    for name, metric in metrics.items():
        try:
            bounds = metric.get("tolerance")
            ctx.metric(
                name,
                metric["value"],
                better=metric.get("better", "high"),
                kind=metric.get("kind", "quality"),
                tolerance=None if bounds is None else Tolerance(**bounds),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CommandFailed(
                f'"$metrics" entry {name!r} is malformed ({exc}); write {{"value": <number>, '
                '"better": "high"|"low"}, optionally "kind": "quality"|"timing" and '
                '"tolerance": {"absolute": x, "relative": y}',
                retryable=False,
            ) from None
    declared = module.rainbow_interface.outputs or {}
    return {
        name: _output_asset(name, value, ctx)
        if declared.get(name) and declared[name].type == "asset"
        else value
        for name, value in outputs.items()
    }


def _exchange(
    process: subprocess.Popen[bytes],
    payload: bytes,
    *,
    timeout: float,
    stdout_limit: int,
    stderr: StderrLines,
) -> bytes:
    """Write ``payload`` to the command's stdin while reading its stdout (at most
    ``stdout_limit`` bytes) and stderr, until it exits; its stdout."""
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    stdout = bytearray()
    pending = memoryview(payload)
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdin, selectors.EVENT_WRITE)
        selector.register(process.stdout, selectors.EVENT_READ)
        selector.register(process.stderr, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(process.args, timeout)
            for key, _ in selector.select(left):
                if key.fileobj is process.stdin:
                    try:
                        # At most PIPE_BUF: a write that size never blocks on a ready pipe.
                        pending = pending[os.write(key.fd, pending[: select.PIPE_BUF]) :]
                    except BrokenPipeError:  # the command does not read all its input
                        pending = pending[len(pending) :]
                    if not pending:
                        selector.unregister(process.stdin)
                        process.stdin.close()
                    continue
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fileobj)
                elif key.fileobj is process.stdout:
                    stdout += data
                    if len(stdout) > stdout_limit:
                        raise CommandFailed(
                            f"the command wrote more than {stdout_limit:,} bytes to stdout "
                            "(RB-E043): outputs are limited by RAINBOW_MAX_OUTPUT_BYTES; write "
                            "large data to a file in the workdir and return its path as an "
                            "asset output",
                            retryable=False,
                        )
                else:
                    stderr.feed(data)
    process.wait(max(deadline - time.monotonic(), 0))
    stderr.close()
    return bytes(stdout)


class StderrLines:
    """A command's stderr: each line handed to ``log_line`` as it comes (cut at
    ``STDERR_LINE``), the last ``STDERR_TAIL`` bytes kept for the error message."""

    def __init__(self, log_line: Callable[[str], None]) -> None:
        self._log_line = log_line
        self._partial = bytearray()
        self._cut = False  # the current line was logged cut: drop the rest of it
        self.tail = b""

    def feed(self, data: bytes) -> None:
        self.tail = (self.tail + data)[-STDERR_TAIL:]
        *lines, rest = data.split(b"\n")
        for line in lines:
            self._partial += line
            self._flush()
            self._cut = False
        self._partial += rest
        if len(self._partial) > STDERR_LINE:
            self._flush()
            self._cut = True

    def close(self) -> None:
        if self._partial:
            self._flush()

    def _flush(self) -> None:
        if not self._cut:
            text = self._partial[:STDERR_LINE].decode(errors="replace")
            self._log_line(f"{text}…" if len(self._partial) > STDERR_LINE else text)
        self._partial.clear()


def _output_asset(name: str, value: Any, ctx: Context) -> Asset:
    if not isinstance(value, str):
        raise CommandFailed(
            f"output {name!r} is declared asset: write its path (relative to the workdir) as a "
            f"string, not {type(value).__name__}",
            retryable=False,
        )
    path = Path(value)
    if not path.is_absolute():
        path = ctx.workdir / path
    return Asset(url=str(path), local=path)


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """Kill the command and everything it started: a timeout must not leave orphans running."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    process.kill()
    process.wait()


def parse_stdout(stdout: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a command's JSON stdout into (outputs, metrics); raises ValueError when malformed."""
    try:
        data = json.loads(stdout)
    except ValueError as exc:  # UnicodeDecodeError too: stdout must be UTF-8
        tail = stdout[-200:].decode(errors="replace")
        raise ValueError(f"stdout is not a JSON object ({exc}); it ended with: {tail!r}") from None
    if not isinstance(data, dict):
        raise ValueError(f"stdout must be a JSON object, got {type(data).__name__}")
    metrics = data.pop("$metrics", {})
    if not isinstance(metrics, dict):
        raise ValueError('"$metrics" must be an object of {"value": x, "better": "high"|"low"}')
    return data, metrics
