"""`rainbow evaluate` as CI runs it, in a real git repository: main records the baseline, a
branch that makes things worse exits 1 naming the metric, and every misuse exits 2 with an id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.gitrepo import AUTHOR, commit, git, new_repo

pytestmark = pytest.mark.slow

PIPELINE = """from typing import TypedDict

import rainbow as rb


class Scored(TypedDict):
    quality: float


@rb.module(name="score", retries=0, timeout=10)
def score(ctx: rb.Context, x: int) -> Scored:
    quality = x / 10 - {penalty}
    ctx.metric("quality", quality, tolerance=rb.Tolerance(absolute=0.05))
    return {{"quality": quality}}


@rb.pipeline(name="scored")
def scored(x: int):
    return {{"quality": rb.step("score@latest", x=x).quality}}
"""


def write_corpus(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for x in range(1, count + 1):
        (folder / f"unit-{x}.json").write_text(json.dumps({"x": x}))
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = new_repo(tmp_path / "project")
    commit(repo, {"pipeline.py": PIPELINE.format(penalty=0.0)})
    return repo


def evaluate(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    evaluated = ("evaluate", "pipeline.py", "--workers", "1", *args)
    return rainbow_cli(project, home, *evaluated, check=False)


def rainbow_cli(
    project: Path,
    home: Path,
    *args: str,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`rainbow ARGS` in ``project`` with its own RAINBOW_HOME, as CI would run it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAINBOW_")}
    environ.update(AUTHOR, RAINBOW_HOME=str(home), COLUMNS="200", **(env or {}))
    done = subprocess.run(
        [sys.executable, "-m", "rainbow", *args],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert not check or done.returncode == 0, done.stderr
    return done


def report_of(done: subprocess.CompletedProcess[str]) -> Path:
    return Path(done.stderr.rsplit("report: ", maxsplit=1)[-1].strip())


def comparison_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_main_records_the_baseline_and_a_worse_branch_fails_the_gate(
    project: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    corpus = str(write_corpus(tmp_path / "corpus", 4))

    first = evaluate(project, home, "--corpus", corpus, "--update-baseline")
    assert first.returncode == 0, first.stderr
    assert "these figures are the first" in first.stderr

    again = evaluate(project, home, "--corpus", corpus, "--json")
    assert again.returncode == 0, again.stderr
    rows = {row["key"]: row for row in comparison_of(again)["rows"]}
    assert rows["score.quality"]["verdict"] == "unchanged"
    assert rows["run:failed_units"]["verdict"] == "unchanged"
    # Nothing changed: the second evaluation ran no module, every step came from the cache.
    figures = json.loads((report_of(again) / "figures.json").read_text())
    run_ids = [run_id for ids in figures["runs"].values() for run_id in ids]
    assert len(run_ids) == 4
    for run_id in run_ids:
        shown = json.loads(rainbow_cli(project, home, "show", run_id, "--json").stdout)
        assert all(a["cached_from"] for step in shown["steps"] for a in step["attempts"])
    assert rows["score.duration_s"]["verdict"] == "unchanged"
    assert "not measured" in rows["score.duration_s"]["explanation"]

    git(project, "checkout", "-q", "-b", "worse")
    commit(project, {"pipeline.py": PIPELINE.format(penalty=0.2)}, "worse on purpose")
    worse = evaluate(project, home, "--corpus", corpus, "--json")
    assert worse.returncode == 1, worse.stderr
    compared = comparison_of(worse)
    assert compared["baseline"]["branch"] == "main" and compared["now"]["branch"] == "worse"
    regression = compared["rows"][0]
    assert (regression["key"], regression["verdict"]) == ("score.quality", "regression")
    report = report_of(worse)
    assert "score.quality" in (report / "summary.md").read_text()
    assert json.loads((report / "comparison.json").read_text())["regressed"] is True
    assert "score.quality" in (report / "report.html").read_text()

    table = evaluate(project, home, "--corpus", corpus)
    assert table.returncode == 1
    assert "score.quality" in table.stdout and "regression" in table.stdout

    refused = evaluate(project, home, "--corpus", corpus, "--update-baseline")
    assert refused.returncode == 2 and "RB-E101" in refused.stderr, refused.stderr
    assert "on a branch, compare with main's baseline" in refused.stderr


def test_without_a_baseline_or_on_another_corpus_there_is_nothing_to_compare(
    project: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    corpus = str(write_corpus(tmp_path / "corpus", 3))

    none = evaluate(project, home, "--corpus", corpus)
    assert none.returncode == 2 and "RB-E100" in none.stderr, none.stderr
    assert "--update-baseline" in none.stderr

    saved = tmp_path / "baseline.json"
    assert (
        evaluate(project, home, "--corpus", corpus, "--save-baseline", str(saved)).returncode == 0
    )
    from_file = evaluate(project, home, "--corpus", corpus, "--baseline", str(saved))
    assert from_file.returncode == 0, from_file.stderr

    bigger = str(write_corpus(tmp_path / "bigger", 4))
    other = evaluate(project, home, "--corpus", bigger, "--baseline", str(saved))
    assert other.returncode == 2 and "RB-E099" in other.stderr, other.stderr

    saved.write_text('{"format": 1}')
    broken = evaluate(project, home, "--corpus", corpus, "--baseline", str(saved))
    assert broken.returncode == 2 and "RB-E102" in broken.stderr
    assert "is not a baseline" in broken.stderr
    missing = evaluate(project, home, "--corpus", corpus, "--baseline", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no baseline file" in missing.stderr


TWO_STEPS = """from typing import TypedDict

import rainbow as rb


class Scored(TypedDict):
    quality: float


@rb.module(name="score", retries=0, timeout=10)
def score(ctx: rb.Context, x: int) -> Scored:
    ctx.metric("quality", x / 10)
    return {"quality": x / 10}


@rb.module(name="boost", retries=0, timeout=10)
def boost(ctx: rb.Context, quality: float) -> Scored:
    ctx.metric("boosted", quality * 2)
    return {"quality": quality * 2}


@rb.pipeline(name="boosted")
def boosted(x: int):
    scored = rb.step("score@latest", x=x)
    return {"quality": rb.step("boost@latest", quality=scored.quality).quality}
"""
WORSE_BOOST = """from typing import TypedDict

import rainbow as rb


class Scored(TypedDict):
    quality: float


@rb.module(name="boost", retries=0, timeout=10)
def boost(ctx: rb.Context, quality: float) -> Scored:
    ctx.metric("boosted", quality * 1.5)
    return {"quality": quality * 1.5}
"""


def test_a_module_swapped_for_other_code_runs_alone_and_is_compared_with_main(
    tmp_path: Path,
) -> None:
    """--override boost=FILE: the score steps come from the cache, only boost runs, and the
    comparison with main's baseline names the swap; misuse is refused."""
    project = new_repo(tmp_path / "project")
    commit(project, {"pipeline.py": TWO_STEPS})
    other = new_repo(tmp_path / "other")
    commit(other, {"boost.py": WORSE_BOOST})
    home, corpus = tmp_path / "home", str(write_corpus(tmp_path / "corpus", 3))
    assert evaluate(project, home, "--corpus", corpus, "--update-baseline").returncode == 0

    swap = ["--override", f"boost={other / 'boost.py'}"]
    swapped = evaluate(project, home, "--corpus", corpus, *swap, "--json")

    assert swapped.returncode == 1, swapped.stderr
    compared = comparison_of(swapped)
    assert compared["now"]["overrides"] == [f"boost={other / 'boost.py'}"]
    assert compared["rows"][0]["key"] == "boost.boosted"
    assert compared["rows"][0]["verdict"] == "regression"
    assert "swapped:" in (report_of(swapped) / "summary.md").read_text()
    figures = json.loads((report_of(swapped) / "figures.json").read_text())
    for run_id in [r for ids in figures["runs"].values() for r in ids]:
        shown = json.loads(rainbow_cli(project, home, "show", run_id, "--json").stdout)
        ran = {step["id"]: bool(step["attempts"][-1]["cached_from"]) for step in shown["steps"]}
        assert ran == {"score": True, "boost": False}

    unknown = evaluate(project, home, "--corpus", corpus, "--override", "blur=blur@1.0")
    assert unknown.returncode == 2 and "RB-E104" in unknown.stderr
    assert "its modules are boost, score" in unknown.stderr
    recorded = evaluate(project, home, "--corpus", corpus, *swap, "--update-baseline")
    assert recorded.returncode == 2 and "RB-E106" in recorded.stderr


def test_a_registered_pipeline_is_evaluated_by_name_or_said_to_be_unknown(
    project: Path, tmp_path: Path
) -> None:
    corpus = str(write_corpus(tmp_path / "corpus", 1))
    home = tmp_path / "home"
    done = rainbow_cli(project, home, "evaluate", "room-scan", "--corpus", corpus, check=False)
    assert done.returncode == 2, done.stderr
    assert "no pipeline named 'room-scan' is registered" in done.stderr
    assert "rainbow pipeline register" in done.stderr


# What boost needs (a service, a file) is away on the first run and back for the retry.
FLAKY_BOOST = TWO_STEPS.replace(
    """    ctx.metric("boosted", quality * 2)""",
    """    if not os.environ.get("BOOST_SERVICE"):
        raise RuntimeError("the boost service is away")
    ctx.metric("boosted", quality * 2)""",
).replace("import rainbow as rb\n", "import os\n\nimport rainbow as rb\n", 1)


def test_retry_of_a_local_run_runs_its_unit_again_taking_what_succeeded_from_the_cache(
    tmp_path: Path,
) -> None:
    project = new_repo(tmp_path / "project")
    commit(project, {"pipeline.py": FLAKY_BOOST})
    home = tmp_path / "home"
    (tmp_path / "unit.json").write_text(json.dumps({"x": 4}))
    unit = str(tmp_path / "unit.json")

    failed = rainbow_cli(
        project, home, "run", "pipeline.py", "--input", unit, "--json", check=False
    )
    assert failed.returncode == 1, failed.stderr
    run_id = json.loads(failed.stdout)["run_id"]
    back = {"BOOST_SERVICE": "back"}
    retried = rainbow_cli(
        project, home, "retry", run_id, "--modules", "pipeline.py", env=back, check=False
    )

    assert retried.returncode == 0, retried.stderr
    assert "from the cache: score" in retried.stderr
    new_id = retried.stdout.strip()
    shown = json.loads(rainbow_cli(project, home, "show", new_id, "--json").stdout)
    assert shown["status"] == "succeeded"
    steps = {step["id"]: step["attempts"][-1]["cached_from"] for step in shown["steps"]}
    assert steps == {"score": run_id, "boost": ""}
