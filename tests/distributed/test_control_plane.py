"""The control plane on the distributed engine: its smoke runs and submissions go to real workers
through the conductor, on PostgreSQL, and the workers' announcements fill the registry."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.distributed.conftest import Cluster
from tests.webserver import PASSWORD, free_port, run_rainbow

pytestmark = pytest.mark.slow


def rainbow(cluster: Cluster, *args: str, stdin: str = "", **env: str) -> str:
    done = run_rainbow({**cluster.env, **env}, *args, stdin=stdin)
    return done.stdout + done.stderr


def test_a_release_and_a_submission_run_on_the_workers(cluster: Cluster, tmp_path: Path) -> None:
    cluster.env |= {"RAINBOW_ENGINE": "celery", "RAINBOW_REQUIRED_APPROVALS": "1"}
    cluster.conductor()
    cluster.worker("add", "1.1", concurrency=2)
    port = free_port()
    cluster.start("web", "web", "--port", str(port), "--workers", "1")
    url = f"http://127.0.0.1:{port}"
    give_up = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/admin/login/", timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < give_up, cluster.logs()
            time.sleep(0.2)

    tokens = {}
    for name, role in [("alice", "researcher"), ("bob", "approver")]:
        rainbow(cluster, "createuser", name, "--role", role, "--password-stdin", stdin=PASSWORD)
        issued = rainbow(cluster, "token", "create", "t", "--user", name).split()
        tokens[name] = next(word for word in issued if word.startswith("rbt_") and "…" not in word)
    alice = {"RAINBOW_URL": url, "RAINBOW_TOKEN": tokens["alice"]}
    bob = {"RAINBOW_URL": url, "RAINBOW_TOKEN": tokens["bob"]}

    # No `module register`: the worker's announcement put add@1.1 in the registry.
    registered = rainbow(
        cluster, "pipeline", "register", "tests/distributed/pipelines.py:pair_v11", **alice
    )
    version = registered.split("sha256:")[1][:12]
    unit = tmp_path / "unit.json"
    unit.write_text(json.dumps({"x": 20}))
    rainbow(cluster, "pipeline", "smoke-units", "pair-v11", "--input", str(unit), **bob)
    rainbow(cluster, "pipeline", "approve", "pair-v11", version, **bob)
    promoted = rainbow(cluster, "pipeline", "promote", "pair-v11", version, "--env", "prod", **bob)
    assert "promoted pair-v11" in promoted

    submitted = rainbow(
        cluster, "submit", "pair-v11", "--env", "prod", "-i", str(unit), "--wait", **alice
    )
    run_id = submitted.split()[0]
    detail = cluster.store.get_run(run_id)
    assert detail is not None and detail.outputs == {"result": 22}
    assert {a.worker.rsplit(":", 1)[1] for s in detail.steps for a in s.attempts} == {
        str(cluster.processes["worker-add-1.1"].pid)
    }
