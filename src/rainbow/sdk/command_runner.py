"""Run a command module for one attempt: JSON in on stdin, JSON out on stdout."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import psutil

from rainbow.errors import StepTimeout
from rainbow.sdk.command import CommandModule
from rainbow.sdk.context import Context
from rainbow.spec.asset import Asset

PERMANENT_EXIT_CODE = 3


class CommandFailed(Exception):
    """The command exited non-zero or wrote malformed output."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def run_command(
    module: CommandModule, inputs: dict[str, Any], ctx: Context, timeout: float
) -> dict[str, Any]:
    """Run the executable once: inputs as JSON on stdin, outputs as JSON on stdout."""
    payload = {k: str(v.path) if isinstance(v, Asset) else v for k, v in inputs.items()}
    env = {
        **os.environ,
        "RAINBOW_RUN_ID": ctx.run_id,
        "RAINBOW_STEP": ctx.step,
        "RAINBOW_ATTEMPT": str(ctx.attempt),
        "RAINBOW_WORKDIR": str(ctx.workdir),
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
    try:
        stdout, stderr = process.communicate(json.dumps(payload).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process)
        raise StepTimeout("step", timeout) from None
    except BaseException:
        _kill_tree(process)
        raise
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    for line in done.stderr.decode(errors="replace").splitlines():
        ctx.log.info("command stderr", line=line)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-2000:]
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"code {done.returncode}"
        raise CommandFailed(
            f"command exited with {how}: {tail or '(no stderr)'}",
            retryable=done.returncode != PERMANENT_EXIT_CODE,
        )
    try:
        outputs, metrics = parse_stdout(done.stdout)
    except ValueError as exc:
        raise CommandFailed(str(exc), retryable=False) from None
    for name, metric in metrics.items():
        try:
            ctx.metric(name, metric["value"], better=metric.get("better", "high"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CommandFailed(
                f'"$metrics" entry {name!r} is malformed ({exc}); '
                'write {"value": <number>, "better": "high"|"low"}',
                retryable=False,
            ) from None
    declared = module.rainbow_interface.outputs or {}
    return {
        name: _output_asset(value, ctx)
        if declared.get(name) and declared[name].type == "asset"
        else value
        for name, value in outputs.items()
    }


def _output_asset(value: Any, ctx: Context) -> Asset:
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
    except json.JSONDecodeError as exc:
        tail = stdout[-200:].decode(errors="replace")
        raise ValueError(f"stdout is not a JSON object ({exc}); it ended with: {tail!r}") from None
    if not isinstance(data, dict):
        raise ValueError(f"stdout must be a JSON object, got {type(data).__name__}")
    metrics = data.pop("$metrics", {})
    if not isinstance(metrics, dict):
        raise ValueError('"$metrics" must be an object of {"value": x, "better": "high"|"low"}')
    return data, metrics
