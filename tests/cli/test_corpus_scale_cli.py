"""`rainbow submit --corpus --wait` with a corpus of more units than a request takes, against
`rainbow web` with its local engine, as users run it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.webserver import PASSWORD, Plane

pytestmark = pytest.mark.slow


def test_a_corpus_of_1200_units_goes_out_in_pages_and_is_followed_a_request_per_poll(
    plane: Plane, tmp_path: Path
) -> None:
    """Three pages of submission, then status reads of the whole batch, never one per run; the
    runs run on the control plane's local engine and all succeed (exit 0)."""
    plane.rainbow("createuser", "alice", "--password-stdin", stdin=f"{PASSWORD}\n")
    token = plane.rainbow("token", "create", "cli", "--user", "alice").stdout.strip()
    remote = {"RAINBOW_URL": plane.url, "RAINBOW_TOKEN": token}
    code = "tests/engine/modules_for_tests.py"
    plane.rainbow("module", "register", code, "--version", "1.1", **remote)
    registered = plane.rainbow(
        "pipeline", "register", "tests/distributed/pipelines.py:pair_v11", **remote
    )
    version = registered.stdout.split("sha256:")[1][:12]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(1200):
        (corpus / f"unit-{i:04d}.json").write_text(json.dumps({"x": i}))

    done = plane.rainbow(
        "submit",
        "pair-v11",
        "--env",
        "staging",
        "--version",
        version,
        "--corpus",
        str(corpus),
        "--wait",
        **remote,
    )

    run_ids = done.stdout.split()
    assert len(set(run_ids)) == 1200
    assert "1200 run(s): 1200 succeeded, 0 did not" in done.stderr
    requests = re.findall(r'"(GET|POST) (/api/runs\S*) HTTP', (tmp_path / "web.log").read_text())
    assert requests.count(("POST", "/api/runs")) == 3
    polls = requests.count(("POST", "/api/runs/statuses"))
    assert polls >= 1 and not [
        r for r in requests if r[1].startswith("/api/runs/") and r[0] == "GET"
    ]
    status, run = plane.call("GET", f"/api/runs/{run_ids[-1]}", token)
    assert status == 200 and run["unit"] == "unit-1199" and run["outputs"] == {"result": 1201}
