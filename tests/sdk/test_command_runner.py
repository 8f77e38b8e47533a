"""Command modules: what the command writes is read with bounds and checked like any output."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

import rainbow as rb
from rainbow.sdk.command import CommandModule
from rainbow.sdk.command_runner import STDERR_LINE, STDERR_TAIL, StderrLines
from rainbow.sdk.invoke import WorkerEnv, invoke
from rainbow.sdk.messages import Result, Task
from rainbow.storable import text_problem


def command(tmp_path: Path, script: str, outputs: str = 'out = "any"') -> CommandModule:
    """A command module running the shell ``script``."""
    path = tmp_path / "cmd.sh"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    config = tmp_path / "rainbow-module.toml"
    config.write_text(
        f'[module]\nname = "cmd"\ncommand = ["./cmd.sh"]\ntimeout = 30\n[outputs]\n{outputs}\n'
    )
    return rb.command_module(config)


def task(timeout: float = 30) -> Task:
    return Task(
        run_id="run1",
        step="s1",
        attempt=1,
        module="cmd",
        version="latest",
        inputs={},
        timeout=timeout,
        deadline=time.time() + 3600,
    )


@pytest.fixture
def env(tmp_path: Path) -> WorkerEnv:
    return WorkerEnv(str(tmp_path / "assets"), tmp_path / "work", max_output_bytes=10_000)


def permanent_failure(result: Result) -> str:
    assert result["status"] == "failed" and result["outputs"] is None
    error = result["error"]
    assert error is not None and not error["retryable"], error
    return error["message"]


def test_endless_stdout_is_cut_off_at_twice_the_limit(tmp_path: Path, env: WorkerEnv) -> None:
    """A command that writes without end is stopped once stdout passes twice the output limit
    (plus room for $metrics), not read into memory until its timeout."""
    started = time.monotonic()
    result = invoke(command(tmp_path, "cat >/dev/null; yes 0123456789"), task(), env)
    message = permanent_failure(result)
    assert time.monotonic() - started < 10
    assert "more than 85,536 bytes to stdout" in message and "RB-E043" in message
    assert "asset" in message


def test_stdout_outputs_over_the_limit_fail_like_a_python_modules(
    tmp_path: Path, env: WorkerEnv
) -> None:
    """Outputs parsed from stdout are held to the same limit as a Python module's."""
    script = 'cat >/dev/null; printf \'{"out": "%s"}\' "$(head -c 15000 /dev/zero | tr \'\\0\' x)"'
    message = permanent_failure(invoke(command(tmp_path, script), task(), env))
    assert "15,011 bytes of JSON" in message and "RB-E043" in message


@pytest.mark.parametrize(
    ("stdout", "says"),
    [
        ('{"out": "a\\u0000b"}', "outputs.out contains a NUL character at offset 1"),
        ('{"out": {"\\ud800": 1}}', "a key in outputs.out is not valid UTF-8"),
        ('{"out": "\\377"}', "stdout is not a JSON object"),
    ],
)
def test_stdout_the_store_cannot_hold_fails_for_good(
    tmp_path: Path, env: WorkerEnv, stdout: str, says: str
) -> None:
    """An escaped NUL or lone surrogate in the JSON, or stdout that is not UTF-8, fails the
    attempt without retries and with a storable message."""
    result = invoke(command(tmp_path, f"cat >/dev/null; printf '{stdout}'"), task(), env)
    message = permanent_failure(result)
    assert says in message and text_problem(message) is None


def test_metric_names_and_stderr_are_made_storable(tmp_path: Path, env: WorkerEnv) -> None:
    """A NUL in a $metrics name or in the stderr of a failing command is replaced."""
    script = (
        "cat >/dev/null; printf 'bad\\000byte\\n' >&2; "
        'printf \'{"out": 1, "$metrics": {"a\\\\u0000b": {"value": 2}}}\'; exit 1'
    )
    failed = invoke(command(tmp_path, script), task(), env)
    error = failed["error"]
    assert error is not None and error["retryable"]
    assert "bad\\0byte" in error["message"]
    succeeded = invoke(command(tmp_path, script.replace("exit 1", "exit 0")), task(), env)
    assert succeeded["status"] == "succeeded", succeeded["error"]
    assert [m["name"] for m in succeeded["metrics"]] == ["a\\0b"]


def test_a_non_string_asset_output_is_a_permanent_error(tmp_path: Path, env: WorkerEnv) -> None:
    """An asset output must be a path string; a number is the command's bug, not a crash."""
    module = command(tmp_path, "cat >/dev/null; echo '{\"mask\": 5}'", outputs='mask = "asset"')
    message = permanent_failure(invoke(module, task(), env))
    assert "output 'mask' is declared asset" in message


def test_stderr_is_logged_line_by_line_with_only_its_end_kept() -> None:
    """Long lines are logged cut, the rest of such a line dropped; only the tail is kept."""
    logged: list[str] = []
    stderr = StderrLines(logged.append)
    stderr.feed(b"first\nsec")
    stderr.feed(b"ond\n" + b"y" * (STDERR_LINE + 10))
    stderr.feed(b"y" * STDERR_LINE + b" still the long line\nlast")
    stderr.feed(b"z" * STDERR_TAIL)
    stderr.close()
    assert logged[:2] == ["first", "second"]
    assert logged[2] == "y" * STDERR_LINE + "…"
    assert logged[3].startswith("last") and len(logged) == 4
    assert stderr.tail == b"z" * STDERR_TAIL
