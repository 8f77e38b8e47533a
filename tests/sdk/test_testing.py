"""rainbow.testing runs a module as a worker does and reports how the attempt ended."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TypedDict

import pytest

import rainbow as rb
from rainbow.errors import DiagnosticError
from rainbow.testing import ModuleFailed, ModuleRunner, load_units


class Measured(TypedDict):
    size: int
    copy: rb.Asset


@rb.module(name="measure", timeout=5)
def measure(ctx: rb.Context, source: rb.Asset, scale: int = 1) -> Measured:
    data = source.path.read_bytes()
    ctx.metric("size", len(data) * scale, better="low")
    with ctx.timeout("copy", 1):
        copy = ctx.new_asset("copy.bin")
        copy.path.write_bytes(data)
    return {"size": len(data) * scale, "copy": copy}


@rb.module(name="misbehave", timeout=5)
def misbehave(ctx: rb.Context, how: str) -> Measured:
    if how == "permanent":
        raise rb.PermanentError("this photo is not a room")
    if how == "sleep":
        time.sleep(3)
    if how == "wrong-type":
        return {"size": "big", "copy": rb.Asset("x")}  # type: ignore[typeddict-item]
    return {"size": 1 // 0, "copy": rb.Asset("x")}


@pytest.fixture
def runner(tmp_path: Path) -> ModuleRunner:
    return ModuleRunner(tmp_path / "runner")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(b"12345")
    return path


def test_a_success_carries_outputs_metrics_and_timings(runner: ModuleRunner, source: Path) -> None:
    """Outputs, metrics by name and block timings come back; output assets are published."""
    result = runner.run(measure, {"source": source, "scale": 2}).raise_for_status()
    assert result.succeeded and result.error is None and not result.retryable
    assert result.outputs["size"] == 10
    assert result.metrics == {"size": 10.0}
    assert {"step", "copy"} <= set(result.timings)
    copy = result.outputs["copy"]
    assert isinstance(copy, rb.Asset) and copy.path.read_bytes() == b"12345"
    assert copy.path.is_relative_to(runner.root / "assets")


def test_inputs_take_the_module_defaults_and_assets_as_asset_objects(
    runner: ModuleRunner, source: Path
) -> None:
    """An optional input may be left out; an asset input may be an rb.Asset or a path string."""
    by_asset = runner.run(measure, {"source": rb.Asset(str(source))}).raise_for_status()
    by_string = runner.run(measure, {"source": str(source)}).raise_for_status()
    assert by_asset.outputs["size"] == by_string.outputs["size"] == 5


def test_inputs_are_checked_as_a_work_unit_is(runner: ModuleRunner, tmp_path: Path) -> None:
    """A missing input, a wrong type or an absent asset is refused before the module runs."""
    with pytest.raises(DiagnosticError) as refused:
        runner.run(measure, {"scale": "two", "extra": 1})
    codes = [d.code for d in refused.value.diagnostics]
    assert codes.count("RB-E040") == 3
    with pytest.raises(DiagnosticError) as missing:
        runner.run(measure, {"source": tmp_path / "absent.bin"})
    assert [d.code for d in missing.value.diagnostics] == ["RB-E041"]


def test_a_permanent_error_fails_without_retry(runner: ModuleRunner) -> None:
    """rb.PermanentError fails the attempt for good, its message in the result."""
    result = runner.run(misbehave, {"how": "permanent"})
    assert result.status == "failed" and not result.retryable
    assert result.error == "PermanentError: this photo is not a room"
    assert result.outputs == {}


def test_raise_for_status_fails_the_test_with_the_module_traceback(runner: ModuleRunner) -> None:
    """A module's bug fails the test as an assertion naming the error and the module's line."""
    result = runner.run(misbehave, {"how": "bug"})
    assert result.status == "failed" and result.retryable
    with pytest.raises(ModuleFailed) as failed:
        result.raise_for_status()
    assert isinstance(failed.value, AssertionError)
    message = str(failed.value)
    assert "module 'misbehave' failed (retryable): ZeroDivisionError" in message
    assert 'return {"size": 1 // 0' in message
    assert failed.value.result is result


def test_outputs_are_checked_as_in_a_worker(runner: ModuleRunner) -> None:
    """An output of the wrong type fails the attempt permanently, as a worker would."""
    result = runner.run(misbehave, {"how": "wrong-type"})
    assert result.status == "failed" and not result.retryable
    assert "output 'size' is declared integer" in (result.error or "")


def test_the_step_timeout_is_enforced(runner: ModuleRunner) -> None:
    """A module running past its timeout is stopped and reported as timed out."""
    started = time.monotonic()
    result = runner.run(misbehave, {"how": "sleep"}, timeout=0.2)
    assert result.status == "timed_out" and result.retryable
    assert time.monotonic() - started < 2


def test_the_result_is_frozen(runner: ModuleRunner, source: Path) -> None:
    """Neither the result nor its mappings can be changed after the fact."""
    result = runner.run(measure, {"source": source})
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "failed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.metrics["size"] = 0  # type: ignore[index]


def test_a_command_module_runs_through_the_same_chain(runner: ModuleRunner, tmp_path: Path) -> None:
    """A command module gets its inputs as JSON on stdin; its outputs and metrics come back."""
    program = tmp_path / "double.py"
    program.write_text(
        "import json, sys\n"
        "n = json.load(sys.stdin)['n']\n"
        "print(json.dumps({'twice': 2 * n, '$metrics': {'n': {'value': n, 'better': 'high'}}}))\n"
    )
    config = tmp_path / "rainbow-module.toml"
    config.write_text(
        f'[module]\nname = "double"\ncommand = [{json.dumps(sys.executable)}, '
        f'{json.dumps(str(program))}]\n[inputs]\nn = "integer"\n[outputs]\ntwice = "integer"\n'
    )
    result = runner.run(rb.command_module(config), {"n": 21}).raise_for_status()
    assert result.outputs == {"twice": 42}
    assert result.metrics == {"n": 21.0}


def test_load_units_reads_a_corpus_folder_against_the_module(tmp_path: Path) -> None:
    """Units are *.json files and unit.json folders; asset paths resolve in the unit's folder."""
    units = tmp_path / "units"
    (units / "nested").mkdir(parents=True)
    (units / "nested" / "photo.bin").write_bytes(b"abc")
    (units / "nested" / "unit.json").write_text('{"source": "photo.bin"}')
    (units / "flat.bin").write_bytes(b"abcd")
    (units / "flat.json").write_text('{"source": "flat.bin", "scale": 3}')
    found = {unit.name: unit.inputs for unit in load_units(units, measure)}
    assert found == {
        "flat": {"source": {"$asset": str(units / "flat.bin")}, "scale": 3},
        "nested": {"source": {"$asset": str(units / "nested" / "photo.bin")}, "scale": 1},
    }


def test_load_units_reports_every_bad_unit(tmp_path: Path) -> None:
    """Each unit that does not fit the module is a diagnostic naming its file."""
    (tmp_path / "a.json").write_text('{"scale": 1}')
    (tmp_path / "b.json").write_text("not json")
    with pytest.raises(DiagnosticError) as refused:
        load_units(tmp_path, measure)
    files = sorted(Path(d.location.file or "").name for d in refused.value.diagnostics)
    assert files == ["a.json", "b.json"]


def test_a_canned_unit_runs_to_the_same_result(runner: ModuleRunner, tmp_path: Path) -> None:
    """run_unit runs a loaded unit as run does its inputs."""
    (tmp_path / "one.bin").write_bytes(b"xy")
    (tmp_path / "one.json").write_text('{"source": "one.bin"}')
    [unit] = load_units(tmp_path, measure)
    assert runner.run_unit(measure, unit).raise_for_status().outputs["size"] == 2


def test_the_public_names_resolve() -> None:
    """Every name in rainbow.testing.__all__ is there, though loaded on first use."""
    import rainbow.testing

    assert all(hasattr(rainbow.testing, name) for name in rainbow.testing.__all__)
    with pytest.raises(AttributeError):
        rainbow.testing.Nothing  # noqa: B018


def test_importing_the_plugin_imports_nothing_of_rainbow_testing() -> None:
    """pytest loads the plugin in every session, so it defers the runner and its dependencies."""
    code = (
        "import sys, rainbow.testing.plugin\n"
        "print([m for m in ('rainbow.testing.runner', 'rainbow.sdk.invoke', "
        "'rainbow.engine.workunits', 'fsspec', 'copier') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_plugin_gives_tests_a_runner_in_their_tmp_path(tmp_path: Path) -> None:
    """A test that asks for `rainbow_runner` gets a ModuleRunner under its own tmp_path."""
    (tmp_path / "test_uses_runner.py").write_text(
        "from rainbow.testing import ModuleRunner\n\n"
        "def test_runner(rainbow_runner, tmp_path):\n"
        "    assert isinstance(rainbow_runner, ModuleRunner)\n"
        "    assert rainbow_runner.root.is_relative_to(tmp_path)\n"
    )
    # Only this plugin: the test holds whether or not the pytest11 entry point is installed.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "rainbow.testing.plugin",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
