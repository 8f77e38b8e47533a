"""The room-scan example's modules release as one module project, as the README's distributed
walkthrough does: seven modules from one artifact, the C program built into it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.deploy.gitrepo import AUTHOR, git, new_repo
from tests.webserver import run_rainbow

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "room_scan"
MODULES = ("normalize", "segment_floor", "edges", "mask_image", "score_floor", "fuse")


def rainbow(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home = repo.parent / "home"  # outside the repository, whose tree must stay clean
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAINBOW_")}
    wide = {"COLUMNS": "200"}  # tables at full width: names are compared whole
    return run_rainbow({**env, **AUTHOR, **wide, "RAINBOW_HOME": str(home)}, *args, cwd=repo)


def test_the_example_releases_its_seven_modules_from_one_artifact(tmp_path: Path) -> None:
    from examples.room_scan import modules

    repo = tmp_path / "room-scan"
    shutil.copytree(
        EXAMPLE, repo, ignore=shutil.ignore_patterns("__pycache__", "edge_density", "*.egg-info")
    )
    shutil.copytree(
        EXAMPLE / "edge_density",
        repo / "edge_density",
        ignore=shutil.ignore_patterns("edge_density"),  # the built program: release builds it
    )
    new_repo(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "room-scan modules")
    rainbow(repo, "release")
    git(repo, "tag", "1.0")
    done = rainbow(repo, "release", "--json")
    released = json.loads(done.stdout)
    assert sorted(r["module"] for r in released) == sorted((*MODULES, "edge_density"))
    assert {(r["version"], r["outcome"], r["artifact_hash"]) for r in released} == {
        ("1.0", "created", released[0]["artifact_hash"])
    }
    for row in released:
        local = getattr(modules, row["module"]).rainbow_interface.model_dump(mode="json")
        assert row["interface"] == local, row["module"]
    (wheel,) = Path(released[0]["artifact_url"]).glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        program = archive.getinfo("examples/room_scan/edge_density/edge_density")
    assert program.file_size > 0 and (program.external_attr >> 16) & 0o111  # still executable
    listed = rainbow(repo, "module", "list").stdout
    assert all(f"{name}" in listed for name in (*MODULES, "edge_density"))
    shown = json.loads(rainbow(repo, "module", "show", "edge_density@latest", "--json").stdout)
    assert shown[0]["artifact_hash"] == released[0]["artifact_hash"]  # one build, two versions
