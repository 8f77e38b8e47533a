"""The `rainbow` command, run as users run it: real processes, a SQLite store, no tracebacks."""

from __future__ import annotations

import html
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.webserver import RAINBOW, run_rainbow

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent.parent / "engine" / "modules_for_tests.py"


def rainbow(cwd: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAINBOW_HOME": str(cwd / ".rainbow"), "RAINBOW_RETRY_BASE_DELAY": "0.01"}
    env.pop("RAINBOW_DATABASE_URL", None)
    return run_rainbow(env, *args, expect=expect, cwd=cwd)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_compile_writes_the_same_canonical_json_each_time(tmp_path: Path) -> None:
    """`rainbow compile` prints sorted, stable JSON; -o writes the same bytes."""
    first = rainbow(tmp_path, "compile", f"{FIXTURES}:diamond").stdout
    rainbow(tmp_path, "compile", f"{FIXTURES}:diamond", "-o", "spec.json")
    assert (tmp_path / "spec.json").read_text() == first
    spec = json.loads(first)
    assert list(spec) == sorted(spec)
    assert [s["id"] for s in spec["steps"]] == ["add", "add-2", "add-3", "add-4", "add-5", "add-6"]


def test_validate_accepts_a_compiled_spec_and_reports_json_paths(tmp_path: Path) -> None:
    """`rainbow validate` passes a fresh spec and names the JSON path of each problem."""
    rainbow(tmp_path, "compile", f"{FIXTURES}:diamond", "-o", "spec.json")
    assert "ok diamond" in rainbow(tmp_path, "validate", "spec.json").stdout
    spec = json.loads((tmp_path / "spec.json").read_text())
    spec["steps"][2]["retries"] = "many"
    del spec["spec_hash"]
    write(tmp_path / "bad.json", json.dumps(spec))
    failed = rainbow(tmp_path, "validate", "bad.json", expect=2)
    assert "$.steps[2].retries" in failed.stderr and "RB-E002" in failed.stderr


def test_graph_draws_an_svg(tmp_path: Path) -> None:
    """`rainbow graph` renders the DAG with every step."""
    rainbow(tmp_path, "graph", f"{FIXTURES}:diamond", "-o", "dag.svg")
    svg = html.unescape((tmp_path / "dag.svg").read_text())
    assert svg.lstrip().startswith("<?xml") and "add-6" in svg


def test_run_then_runs_and_show(tmp_path: Path) -> None:
    """A run succeeds with --json output; `runs` lists it and `show --json` has its attempts."""
    write(tmp_path / "unit.json", '{"x": 2}')
    done = rainbow(tmp_path, "run", f"{FIXTURES}:diamond", "--input", "unit.json", "--json")
    (line,) = done.stdout.splitlines()
    result = json.loads(line)
    assert result["status"] == "succeeded" and result["outputs"] == {"result": 14}
    assert {s["id"]: s["attempts"] for s in result["steps"]}["add-6"] == 1
    assert result["run_id"] in rainbow(tmp_path, "runs").stdout
    shown = json.loads(rainbow(tmp_path, "show", result["run_id"], "--json").stdout)
    assert shown["status"] == "succeeded"
    assert [a["status"] for a in shown["steps"][0]["attempts"]] == ["succeeded"]
    assert shown["steps"][0]["attempts"][0]["metrics"][0]["name"] == "value"
    table = rainbow(tmp_path, "run", f"{FIXTURES}:diamond", "--input", "unit.json").stdout
    assert "succeeded" in table and "value" in table


def test_a_failing_run_exits_1_and_show_gives_the_module_traceback(tmp_path: Path) -> None:
    """A module's exception fails the run (exit 1); `rainbow show` prints its traceback."""
    write(tmp_path / "unit.json", '{"x": 1}')
    done = rainbow(tmp_path, "run", f"{FIXTURES}:flaky_chain", "--input", "unit.json", "--json")
    assert json.loads(done.stdout)["status"] == "succeeded"
    failed = rainbow(
        tmp_path,
        "run",
        f"{FIXTURES}:refusal",
        "--input",
        write(tmp_path / "e.json", "{}").name,
        "--json",
        expect=1,
    )
    run_id = json.loads(failed.stdout)["run_id"]
    shown = rainbow(tmp_path, "show", run_id).stdout
    assert "PermanentError" in shown and "this input can never work" in shown
    assert "modules_for_tests.py" in shown


def test_dsl_mistakes_show_the_users_file_and_line(tmp_path: Path) -> None:
    """A wiring mistake exits 2 with file:line, the id and a hint, and no Rainbow traceback."""
    pipeline = write(
        tmp_path / "broken_pipeline.py",
        "import rainbow as rb\n"
        f"import sys; sys.path.insert(0, {str(FIXTURES.parent)!r})\n"
        "import modules_for_tests  # noqa\n"
        "@rb.pipeline(name='typo')\n"
        "def typo(x: int):\n"
        "    a = rb.step('add@latest', value=x)\n"
        "    return {'out': rb.step('add@latest', value=a.valu).value}\n",
    )
    failed = rainbow(tmp_path, "compile", str(pipeline), expect=2)
    assert f"{pipeline}:7" in failed.stderr
    assert "RB-E010" in failed.stderr and "did you mean 'value'?" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_an_exception_importing_user_code_shows_only_the_users_traceback(tmp_path: Path) -> None:
    """A pipeline file that raises on import is RB-E030 with the user's frames."""
    pipeline = write(tmp_path / "broken.py", "import rainbow as rb\nvalue = 1 / 0\n")
    failed = rainbow(tmp_path, "compile", str(pipeline), expect=2)
    assert "RB-E030" in failed.stderr and "ZeroDivisionError" in failed.stderr
    assert "broken.py" in failed.stderr and "rainbow/loading.py" not in failed.stderr


def test_bad_work_units_and_unknown_runs_are_explained(tmp_path: Path) -> None:
    """A unit missing an input is RB-E040; showing an unknown run id is a clear error."""
    write(tmp_path / "unit.json", '{"y": 2}')
    failed = rainbow(tmp_path, "run", f"{FIXTURES}:diamond", "--input", "unit.json", expect=2)
    assert "RB-E040" in failed.stderr and "missing pipeline input 'x'" in failed.stderr
    assert "'y' is not an input" in failed.stderr
    missing = rainbow(tmp_path, "show", "nope", expect=2)
    assert "no run 'nope'" in missing.stderr


@pytest.mark.parametrize("command", ["show", "retry", "cancel"])
def test_an_unknown_run_is_reported_with_its_diagnostic_id(tmp_path: Path, command: str) -> None:
    """Every command given a run id the store does not have says so under RB-E050."""
    missing = rainbow(tmp_path, command, "nope", expect=2)
    assert "error RB-E050: no run 'nope' in the store" in missing.stderr


def test_a_sub_pipeline_from_another_file_brings_its_modules(tmp_path: Path) -> None:
    """Modules imported by a sub-pipeline's own file are found for compiling and running."""
    write(
        tmp_path / "steps.py",
        "from typing import TypedDict\nimport rainbow as rb\n"
        "class Doubled(TypedDict):\n    value: int\n"
        "@rb.module(name='double')\n"
        "def double(ctx: rb.Context, value: int) -> Doubled:\n    return {'value': 2 * value}\n",
    )
    write(
        tmp_path / "sub.py",
        "import rainbow as rb\nimport steps  # noqa: F401\n"
        "@rb.pipeline(name='twice')\n"
        "def twice(value: int):\n"
        "    first = rb.step('double@latest', value=value)\n"
        "    return {'value': rb.step('double@latest', value=first.value).value}\n",
    )
    write(
        tmp_path / "main.py",
        "import rainbow as rb\nfrom sub import twice\n"
        "@rb.pipeline(name='four-times')\n"
        "def four_times(value: int):\n"
        "    return {'value': twice(value=twice(value=value)['value'])['value']}\n",
    )
    write(tmp_path / "unit.json", '{"value": 3}')
    done = rainbow(tmp_path, "run", "main.py:four_times", "--input", "unit.json", "--json")
    result = json.loads(done.stdout)
    assert result["outputs"] == {"value": 48}
    assert [s["id"] for s in result["steps"]] == [
        "twice.double",
        "twice.double-2",
        "twice-2.double",
        "twice-2.double-2",
    ]


def test_module_prints_go_to_the_log_not_the_terminal(tmp_path: Path) -> None:
    """What modules print lands in the log file; `run --json` output stays parseable."""
    write(tmp_path / "unit.json", '{"lines": 2000}')
    done = rainbow(tmp_path, "run", f"{FIXTURES}:chatter", "--input", "unit.json", "--json")
    assert json.loads(done.stdout)["outputs"] == {"result": 2000}
    assert "chatty line" not in done.stdout + done.stderr
    assert "chatty line 1999" in (tmp_path / ".rainbow" / "logs" / "rainbow.log").read_text()


def test_runs_of_a_killed_rainbow_run_are_closed_by_the_next_command(tmp_path: Path) -> None:
    """While `rainbow run` lives, `rainbow show` says its queued steps wait in its local engine
    (not for a `rainbow worker`); after `kill -9`, once its lease runs out, the next command
    that looks (here `rainbow show`) records the run as abandoned, with no attempt left
    running."""
    write(tmp_path / "slow.json", '{"x": 1, "pause": 8}')
    env = {**os.environ, "RAINBOW_HOME": str(tmp_path / ".rainbow"), "RAINBOW_LOCAL_LEASE": "2"}
    env.pop("RAINBOW_DATABASE_URL", None)
    with (tmp_path / "victim.err").open("w") as victim_err:
        victim = subprocess.Popen(
            [*RAINBOW, "run", f"{FIXTURES}:diamond", "--input", "slow.json", "--workers", "1"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=victim_err,
        )
    try:
        deadline = time.monotonic() + 60
        while '"running"' not in rainbow(tmp_path, "runs", "--json").stdout:
            assert victim.poll() is None and time.monotonic() < deadline, (
                f"the run never started: {(tmp_path / 'victim.err').read_text()}"
            )
            time.sleep(0.3)
        (orphan,) = [
            json.loads(line) for line in rainbow(tmp_path, "runs", "--json").stdout.splitlines()
        ]
        while True:  # B, C and D wait behind each other for the one worker
            live = json.loads(rainbow(tmp_path, "show", orphan["run_id"], "--json").stdout)
            if live["waiting"] or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        reasons = " ".join(live["waiting"].values())
        assert "local engine" in reasons and "rainbow worker" not in reasons, live["waiting"]
    finally:
        victim.kill()
        victim.wait()
    time.sleep(2.5)  # the lease runs out
    shown = json.loads(rainbow(tmp_path, "show", orphan["run_id"], "--json").stdout)
    assert shown["status"] == "failed"
    assert "abandoned" in shown["reason"] and "stopped renewing its lease" in shown["reason"]
    running = [a for s in shown["steps"] for a in s["attempts"] if a["status"] == "running"]
    assert running == []
