"""invoke() runs one attempt through the middleware and always returns a JSON result."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import TypedDict

import pytest

import rainbow as rb
from rainbow.sdk.invoke import WorkerEnv, invoke
from rainbow.sdk.messages import Task


class Copied(TypedDict):
    copy: rb.Asset
    size: int


@rb.module(name="copy", retries=1, timeout=5)
def copy(ctx: rb.Context, source: rb.Asset) -> Copied:
    ctx.log.info("copying", source=source.name)
    target = ctx.new_asset("copy.txt")
    data = source.path.read_bytes()
    target.path.write_bytes(data)
    ctx.metric("size", len(data), better="low")
    with ctx.timeout("noop", 1):
        pass
    return {"copy": target, "size": len(data)}


@rb.module(name="fails")
def fails(ctx: rb.Context, how: str) -> Copied:
    if how == "permanent":
        raise rb.PermanentError("this photo is not a room")
    if how == "retry":
        raise rb.Retry("service busy", delay=3)
    if how == "slow":
        time.sleep(5)
    if how == "nothing":
        return {}  # type: ignore[typeddict-item]
    return {"copy": 1 / 0, "size": 0}  # type: ignore[typeddict-item]


def task(module: str, inputs: dict[str, object], timeout: float = 5) -> Task:
    return Task(
        run_id="run1",
        step="s1",
        attempt=1,
        module=module,
        version="latest",
        inputs=inputs,
        timeout=timeout,
        deadline=time.time() + 3600,
    )


@pytest.fixture
def env(tmp_path: Path) -> WorkerEnv:
    return WorkerEnv(assets_url=str(tmp_path / "assets"), work_root=tmp_path / "work")


def test_success_publishes_assets_and_reports_metrics(tmp_path: Path, env: WorkerEnv) -> None:
    """Output assets are moved into the asset store under run/step/attempt; metrics come back."""
    source = tmp_path / "in.txt"
    source.write_text("hello")
    result = invoke(copy, task("copy", {"source": {"$asset": str(source)}}), env)
    assert result["status"] == "succeeded", result["error"]
    url = result["outputs"]["copy"]["$asset"]  # type: ignore[index]
    assert url == str(tmp_path / "assets" / "run1" / "s1" / "1" / "copy.txt")
    assert Path(url).read_text() == "hello"
    assert result["metrics"] == [
        {
            "name": "size",
            "value": 5.0,
            "better": "low",
            "kind": "quality",
            "tolerance_absolute": None,
            "tolerance_relative": None,
        }
    ]
    assert set(result["timings"]) == {"step", "noop"}
    assert not (tmp_path / "work" / "run1").exists() or not any(
        (tmp_path / "work" / "run1").rglob("*.txt")
    )
    json.dumps(result)


def test_module_bug_returns_its_traceback_without_rainbow_frames(env: WorkerEnv) -> None:
    """An exception is a retryable failure whose traceback shows the module's line, not ours."""
    result = invoke(fails, task("fails", {"how": "bug"}), env)
    error = result["error"]
    assert result["status"] == "failed" and error is not None
    assert error["type"] == "ZeroDivisionError" and error["retryable"]
    assert __file__ in (error["traceback"] or "")
    assert "rainbow/sdk" not in (error["traceback"] or "")


def test_permanent_error_and_retry_steer_the_engine(env: WorkerEnv) -> None:
    """PermanentError is not retryable; Retry carries its delay."""
    permanent = invoke(fails, task("fails", {"how": "permanent"}), env)["error"]
    assert permanent is not None and not permanent["retryable"]
    retry = invoke(fails, task("fails", {"how": "retry"}), env)["error"]
    assert retry is not None and retry["retryable"] and retry["delay"] == 3


def test_step_timeout_is_soft_enforced_inside_the_worker(env: WorkerEnv) -> None:
    """A module past its step timeout is interrupted and reported timed_out with where it was."""
    started = time.monotonic()
    result = invoke(fails, task("fails", {"how": "slow"}, timeout=0.2), env)
    assert result["status"] == "timed_out"
    assert time.monotonic() - started < 2
    assert "time.sleep" in (result["error"] or {}).get("traceback", "")


def test_missing_declared_outputs_and_unreadable_inputs_are_permanent(
    env: WorkerEnv, tmp_path: Path
) -> None:
    """Omitting declared outputs, or a missing input asset, fails the attempt for good."""
    missing = invoke(fails, task("fails", {"how": "nothing"}), env)["error"]
    assert missing is not None and not missing["retryable"] and "copy" in missing["message"]
    absent = invoke(copy, task("copy", {"source": {"$asset": str(tmp_path / "nope.txt")}}), env)
    assert absent["error"] is not None and "does not exist" in absent["error"]["message"]


def test_command_module_speaks_json_on_stdin_and_stdout(tmp_path: Path, env: WorkerEnv) -> None:
    """A command module gets inputs on stdin; its stdout gives outputs and $metrics."""
    script = tmp_path / "count.sh"
    script.write_text(
        "#!/bin/sh\n"
        "input=$(cat)\n"
        'echo "got $input" >&2\n'
        'printf \'{"length": %d, "$metrics": {"len": {"value": 1, "better": "low"}, \''
        '\'"ms": {"value": 3, "better": "low", "kind": "timing", \''
        '\'"tolerance": {"relative": 0.5}}}}\' "${#input}"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    config = tmp_path / "rainbow-module.toml"
    config.write_text(
        '[module]\nname = "count"\ncommand = ["./count.sh"]\ntimeout = 5\n'
        '[inputs]\nword = "string"\n[outputs]\nlength = "integer"\n'
    )
    module = rb.command_module(config)
    result = invoke(module, task("count", {"word": "hello"}), env)
    assert result["status"] == "succeeded", result["error"]
    assert result["outputs"] == {"length": len('{"word": "hello"}')}
    assert [(m["name"], m["value"], m["better"], m["kind"]) for m in result["metrics"]] == [
        ("len", 1.0, "low", "quality"),
        ("ms", 3.0, "low", "timing"),
    ]
    assert [(m["tolerance_absolute"], m["tolerance_relative"]) for m in result["metrics"]] == [
        (None, None),
        (0.0, 0.5),
    ]


def test_command_module_failure_carries_stderr(tmp_path: Path, env: WorkerEnv) -> None:
    """A non-zero exit fails the attempt with the end of stderr; exit code 3 is permanent."""
    script = tmp_path / "fail.sh"
    script.write_text("#!/bin/sh\necho 'cannot open image' >&2\nexit 3\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    config = tmp_path / "m.toml"
    config.write_text('[module]\nname = "fail"\ncommand = ["./fail.sh"]\n')
    result = invoke(rb.command_module(config), task("fail", {}), env)
    error = result["error"]
    assert error is not None and "cannot open image" in error["message"]
    assert not error["retryable"]


def test_bad_command_module_config_lists_every_problem(tmp_path: Path) -> None:
    """A malformed module TOML is RB-E033 naming the file and each bad field."""
    config = tmp_path / "m.toml"
    config.write_text('[module]\nname = "Bad Name"\n[inputs]\nx = "tensor"\n')
    with pytest.raises(rb.DiagnosticError) as caught:
        rb.command_module(config)
    messages = " ".join(d.message for d in caught.value.diagnostics)
    assert {d.code for d in caught.value.diagnostics} == {"RB-E033"}
    assert "module.name" in messages and "module.command" in messages and "inputs.x" in messages


def test_the_step_budget_is_clipped_to_the_runs_deadline(env: WorkerEnv) -> None:
    """A step with time left in its own timeout still stops at the run's deadline."""
    short = task("fails", {"how": "slow"}, timeout=60)
    short["deadline"] = time.time() + 0.2
    started = time.monotonic()
    assert invoke(fails, short, env)["status"] == "timed_out"
    assert time.monotonic() - started < 2


@rb.module(name="picky", retry_on=(ConnectionError,))
def picky(ctx: rb.Context, how: str) -> Copied:
    if how == "network":
        raise ConnectionError("reset by peer")
    raise KeyError("bug")


def test_retry_on_limits_retries_to_the_listed_exceptions(env: WorkerEnv) -> None:
    """With retry_on, a listed exception is retryable and any other fails for good."""
    network = invoke(picky, task("picky", {"how": "network"}), env)["error"]
    bug = invoke(picky, task("picky", {"how": "bug"}), env)["error"]
    assert network is not None and network["retryable"]
    assert bug is not None and not bug["retryable"]


def test_sys_exit_and_unpublishable_outputs_fail_for_good(env: WorkerEnv) -> None:
    """sys.exit() in a module, or an output that is not JSON, is a permanent failure."""

    @rb.module(name="exits")
    def exits(ctx: rb.Context, how: str) -> dict:  # type: ignore[type-arg]
        if how == "exit":
            raise SystemExit(3)
        return {"array": object()}

    exited = invoke(exits, task("exits", {"how": "exit"}), env)["error"]
    assert exited is not None and not exited["retryable"] and "sys.exit(3)" in exited["message"]
    unjson = invoke(exits, task("exits", {"how": "object"}), env)["error"]
    assert unjson is not None and not unjson["retryable"] and "not JSON" in unjson["message"]


class Measured(TypedDict):
    area: float
    mask: rb.Asset


@rb.module(name="liar")
def liar(ctx: rb.Context, how: str) -> Measured:
    if how == "string":
        return {"area": "three", "mask": ctx.new_asset("m.png")}  # type: ignore[typeddict-item]
    if how == "path":
        return {"area": 1, "mask": "/tmp/m.png"}  # type: ignore[typeddict-item]
    return {"area": float("nan"), "mask": ctx.new_asset("m.png")}


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("string", "'area' is declared number"),
        ("path", "'mask' is declared asset"),
        ("nan", "is not JSON"),
    ],
)
def test_outputs_must_match_their_declared_types(env: WorkerEnv, how: str, expected: str) -> None:
    """A wrongly typed, path-instead-of-asset or NaN output fails the attempt for good, named."""
    error = invoke(liar, task("liar", {"how": how}), env)["error"]
    assert error is not None and not error["retryable"]
    assert expected in error["message"]
