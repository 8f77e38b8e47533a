"""README's "Release a module" runs as written, on real git repositories in a temporary folder,
RabbitMQ and the store under RAINBOW_HOME: new module, releases from main, a tag and a hot fix,
two versions served from their own environments, each pinned pipeline getting its own code,
then the retired version refused and its worker gone."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.gitrepo import AUTHOR
from tests.distributed.conftest import ROOT

pytestmark = pytest.mark.slow

MARKER = "<!-- walkthrough: release a module -->"


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(re.escape(MARKER) + r"\n```sh\n(.*?)\n```\n", text, flags=re.S)
    assert found, f"README.md has no sh block after {MARKER}"
    return found.group(1)


def test_the_readme_release_walkthrough_runs_as_written(broker_url: str, tmp_path: Path) -> None:
    script = tmp_path / "walkthrough.sh"
    script.write_text("set -euo pipefail\n" + walkthrough() + "\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAINBOW_")},
        **AUTHOR,
        "RAINBOW_BROKER_URL": broker_url,
        "TMPDIR": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    outcomes = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [(o["status"], o["outputs"]) for o in outcomes] == [
        ("succeeded", {"words": 3}),  # wordcount@1.0 with its hot fix: words of 2+ letters
        ("succeeded", {"words": 2}),  # wordcount@latest: 3+ letters
    ], said
    assert "wordcount@1.0 (1.0.1)" in said  # the hot fix moved 1.0 in place
    assert "created branch release-1.0 at 1.0" in said
    assert "stopped serving wordcount@1.0: retired: use latest" in said
    assert "RB-E082" in said and "use latest" in said.split("RB-E082")[-1]
    assert re.search(r"history.*1\.0.*1\.0\.1", said, flags=re.S)
