"""The room-scan example gated on quality, as its CI would run it: main records the baseline on
a generated corpus, a branch that shrinks the floor masks on purpose fails on floor_iou with the
worst rooms' masks in the report, and restoring the segmenter passes again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.gitrepo import AUTHOR, commit, git, new_repo

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples"
TARGET = "examples/room_scan/pipeline.py:room_scan"
SEGMENT = 'seg = rb.step("segment_floor@latest", image=norm.image)'
# Timings on a shared test machine say nothing about the code: this corpus lets them be.
TOLERANCES = """
[tolerances]
duration_s = { relative = 1000.0 }
normalize_ms = { relative = 1000.0 }
segment_ms = { relative = 1000.0 }
edges_ms = { relative = 1000.0 }
fuse_ms = { relative = 1000.0 }
"""


def rainbow(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAINBOW_")}
    env.update(AUTHOR, RAINBOW_HOME=str(home), COLUMNS="200")
    env.pop("PYTHONPATH", None)  # the project's own copy of the example, not the checkout's
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def evaluate(project: Path, home: Path, corpus: Path) -> dict[str, Any]:
    done = rainbow(project, home, "rainbow", "evaluate", TARGET, "--corpus", str(corpus), "--json")
    assert done.returncode in (0, 1), done.stderr
    return {"exit": done.returncode, "report": _report(done.stderr), **json.loads(done.stdout)}


def _report(stderr: str) -> Path:
    return Path(stderr.rsplit("report: ", maxsplit=1)[-1].strip())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The example in a git repository of its own, its C module built, committed on main."""
    repo = new_repo(tmp_path / "room-scan")
    shutil.copytree(
        EXAMPLE,
        repo / "examples",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (repo / ".gitignore").write_text("__pycache__/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the room-scan example")
    return repo


def test_a_worse_segmenter_fails_on_floor_iou_and_its_restoration_passes(
    project: Path, tmp_path: Path
) -> None:
    home, corpus = tmp_path / "home", tmp_path / "corpus"
    made = rainbow(project, home, "examples.room_scan.corpus", str(corpus), "--count", "6")
    assert made.returncode == 0, made.stderr
    manifest = corpus / "corpus.toml"
    text = manifest.read_text()
    manifest.write_text(text.replace("\n[[units]]", TOLERANCES + "\n[[units]]", 1))

    recorded = rainbow(
        project, home, "rainbow", "evaluate", TARGET, "--corpus", str(corpus), "--update-baseline"
    )
    assert recorded.returncode == 0, recorded.stderr

    git(project, "checkout", "-q", "-b", "smaller-floor")
    pipeline = project / "examples" / "room_scan" / "pipeline.py"
    worse = pipeline.read_text().replace(SEGMENT, SEGMENT[:-1] + ", shrink=25)")
    commit(project, {"examples/room_scan/pipeline.py": worse}, "shrink the floor masks")
    degraded = evaluate(project, home, corpus)

    assert degraded["exit"] == 1
    assert degraded["baseline"]["branch"] == "main"
    assert degraded["now"]["branch"] == "smaller-floor"
    regressed = [r["key"] for r in degraded["rows"] if r["verdict"] == "regression"]
    assert regressed[0] == "score_floor.floor_iou", degraded["rows"]
    page = (degraded["report"] / "report.html").read_text()
    assert "score_floor.floor_iou" in page
    images = list((degraded["report"] / "images").iterdir())
    assert len(images) >= 2  # the worst rooms' masks: main's beside this branch's
    assert all(f'src="images/{image.name}"' in page for image in images)
    assert "score_floor.floor_iou" in (degraded["report"] / "summary.md").read_text()

    commit(project, {"examples/room_scan/pipeline.py": worse.replace(", shrink=25", "")})
    restored = evaluate(project, home, corpus)

    assert restored["exit"] == 0, [r for r in restored["rows"] if r["verdict"] != "unchanged"]
    iou = next(r for r in restored["rows"] if r["key"] == "score_floor.floor_iou")
    assert iou["verdict"] == "unchanged" and iou["change"] == pytest.approx(0.0)
