"""Released versions run from their own environments, side by side, on a real cluster: a
module project in a git repository, `rainbow release`, `rainbow worker NAME@VERSION`, the
conductor on PostgreSQL and RabbitMQ."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import rainbow as rb
from rainbow.dsl.compiler import compile_pipeline
from rainbow.spec.canonical import spec_to_dict
from tests.deploy.conftest import Built, project_files, rainbow, register_builds
from tests.deploy.gitrepo import AUTHOR, commit, git
from tests.distributed.conftest import ROOT, Cluster

pytestmark = pytest.mark.slow


@rb.pipeline(name="greet-v1")
def greet_v1(who: str):
    return {"text": rb.step("greet@1.0", who=who).text, "six": rb.step("greet@1.0", who=who).six}


@rb.pipeline(name="greet-latest")
def greet_latest(who: str, pause: float = 0.0):
    step = rb.step("greet@latest", who=who, pause=pause)
    return {"text": step.text, "six": step.six}


@pytest.fixture
def released(cluster: Cluster, built: Built) -> Built:
    """The builds' current state in the cluster's registry, their environments at hand."""
    register_builds(built, "postgres")
    (cluster.home / "builds").symlink_to(built.home / "builds")
    cluster.env["RAINBOW_ARTIFACTS_URL"] = str(built.home / "artifacts")
    cluster.env.update(AUTHOR)
    return built


def submit(cluster: Cluster, pipeline: Any, units: list[dict[str, Any]]) -> list[str]:
    """Compiled against the registry's interfaces: the module's code is not here."""
    from rainbow.control.models import ModuleVersion
    from rainbow.engine.celery.client import submit as submit_runs
    from rainbow.engine.workunits import WorkUnit
    from rainbow.spec.models import ModuleInterface

    def registered(name: str, version: str) -> ModuleInterface | None:
        row = ModuleVersion.objects.using("postgres").filter(module__name=name, version=version)
        found = row.first()
        return ModuleInterface.model_validate(found.interface) if found else None

    spec, _ = compile_pipeline(pipeline, registered=registered)
    work = [WorkUnit(f"unit-{i}", dict(u)) for i, u in enumerate(units)]
    return submit_runs(cluster.app, cluster.store, spec, work)


def serve(cluster: Cluster, pin: str) -> subprocess.Popen[bytes]:
    module, version = pin.split("@")
    name = f"worker-{pin}"
    process = cluster.start(name, "worker", pin)
    give_up = time.monotonic() + 120
    while time.monotonic() < give_up:
        seen = [i for i in cluster.store.instances() if (i.module, i.version) == (module, version)]
        if seen:
            return process
        assert process.poll() is None, cluster.logs()
        time.sleep(0.3)
    raise AssertionError(f"{pin} never announced itself\n{cluster.logs()}")


def test_two_versions_with_conflicting_dependencies_serve_side_by_side(
    cluster: Cluster, released: Built
) -> None:
    from rainbow.control.models import ModuleVersion

    cluster.conductor()
    serve(cluster, "greet@1.0")
    serve(cluster, "greet@latest")
    v1, latest = cluster.wait(
        submit(cluster, greet_v1, [{"who": "ada"}])
        + submit(cluster, greet_latest, [{"who": "ada"}])
    )
    detail_v1, detail_latest = (cluster.store.get_run(s.run_id) for s in (v1, latest))
    assert detail_v1.outputs == {"text": "hi there ada", "six": "1.16.0"}, cluster.logs()
    assert detail_latest.outputs == {"text": "hello ada", "six": "1.17.0"}
    rows = {r.version: r for r in ModuleVersion.objects.using("postgres")}
    for detail, version in ((detail_v1, "1.0"), (detail_latest, "latest")):
        attempts = [a for s in detail.steps for a in s.attempts]
        assert {(a.commit, a.artifact) for a in attempts} == {
            (rows[version].commit, rows[version].artifact_hash)
        }
    shown = rainbow(cluster, "show", detail_v1.summary.run_id, "--json", cwd=ROOT)
    attempt = json.loads(shown.stdout)["steps"][0]["attempts"][0]
    assert attempt["artifact"] == rows["1.0"].artifact_hash


def test_a_moved_latest_is_served_on_its_new_build_without_losing_work(
    cluster: Cluster, released: Built
) -> None:
    cluster.conductor()
    cluster.env["RAINBOW_REGISTRY_POLL"] = "0.5"
    serve(cluster, "greet@latest")
    log = cluster.home / "worker-greet@latest.log"
    # Long enough that the worker is holding one when latest moves, with more queued.
    held = submit(cluster, greet_latest, [{"who": f"u{i}", "pause": 3.0} for i in range(6)])
    repo = cluster.home / "greet"
    git(cluster.home, "clone", "-q", str(released.repo), str(repo))
    commit(repo, project_files("howdy", six="1.17.0"))
    rainbow(cluster, "release", cwd=repo)
    give_up = time.monotonic() + 60
    while "moved to commit" not in log.read_text() and time.monotonic() < give_up:
        time.sleep(0.2)
    after = submit(cluster, greet_latest, [{"who": "late"}])
    summaries = cluster.wait(held + after, timeout=240)
    assert {s.status for s in summaries} == {"succeeded"}, cluster.logs()
    details = [cluster.store.get_run(s.run_id) for s in summaries]
    texts = [d.outputs["text"] for d in details]
    assert texts[0] == "hello u0"  # started before the move: finished on the old build
    assert texts[-1] == "howdy late"
    assert "howdy u5" in texts  # queued at the move: taken by the new build, not lost
    attempts = [a for d in details for step in d.steps for a in step.attempts]
    assert [a.attempt for a in attempts] == [1] * 7  # each ran once: none failed or retried
    assert len({a.artifact for a in attempts}) == 2


def test_a_retired_version_is_refused_everywhere(
    cluster: Cluster, released: Built, tmp_path: Path
) -> None:
    from rainbow.control.models import ModuleVersion
    from rainbow.spec.models import ModuleInterface

    cluster.conductor()
    cluster.env["RAINBOW_REGISTRY_POLL"] = "0.5"
    worker = serve(cluster, "greet@1.0")
    rainbow(cluster, "module", "retire", "greet@1.0", "--reason", "night photos fail", cwd=ROOT)
    assert worker.wait(timeout=60) == 0
    log = (cluster.home / "worker-greet@1.0.log").read_text()
    assert "stopped serving greet@1.0: retired: night photos fail" in log
    (run_id,) = submit(cluster, greet_v1, [{"who": "ada"}])
    (summary,) = cluster.wait([run_id])
    assert summary.status == "failed"
    assert "greet@1.0 (night photos fail)" in (summary.reason or "")
    resumed = rainbow(cluster, "retry", run_id, cwd=ROOT, check=False)
    assert resumed.returncode == 2 and "RB-E082" in resumed.stderr, resumed.stderr
    again = rainbow(cluster, "worker", "greet@1.0", cwd=ROOT, check=False)
    assert again.returncode == 2 and "RB-E082" in again.stderr
    assert "night photos fail" in again.stderr
    spec = tmp_path / "greet-v1.json"
    interface = ModuleInterface.model_validate(
        ModuleVersion.objects.using("postgres").get(version="1.0").interface
    )
    spec.write_text(json.dumps(spec_to_dict(compile_pipeline(greet_v1, {"greet": interface})[0])))
    unit = _unit(tmp_path)
    refused = rainbow(
        cluster, "run", str(spec), "--engine", "celery", "--input", unit, cwd=ROOT, check=False
    )
    assert refused.returncode == 2 and "RB-E082" in refused.stderr, refused.stderr


def test_local_code_cannot_serve_a_released_version_at_another_commit(
    cluster: Cluster, released: Built
) -> None:
    refused = rainbow(
        cluster,
        "worker",
        f"{released.repo / 'greet' / '__init__.py'}:greet",
        "--version",
        "1.0",
        cwd=released.repo,
        check=False,
    )
    assert refused.returncode == 2, refused.stderr
    assert "RB-E081" in refused.stderr and "time-locked" in refused.stderr
    assert "rainbow worker greet@1.0" in refused.stderr


def test_unreleased_versions_and_changed_artifacts_are_refused(
    cluster: Cluster, released: Built
) -> None:
    from rainbow.control.models import ModuleVersion

    unknown = rainbow(cluster, "worker", "greet@9.9", cwd=ROOT, check=False)
    assert unknown.returncode == 2 and "RB-E080" in unknown.stderr
    row = ModuleVersion.objects.using("postgres").get(version="latest")
    copy = shutil.copytree(row.artifact_url, cluster.home / "tampered")  # the shared one stays
    wheel = next(Path(copy).glob("*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"tampered")
    ModuleVersion.objects.using("postgres").filter(pk=row.pk).update(artifact_url=str(copy))
    (cluster.home / "builds").unlink()  # nothing fetched yet: the worker fetches the copy
    tampered = rainbow(cluster, "worker", "greet@latest", cwd=ROOT, check=False)
    assert tampered.returncode == 1
    assert "changed after release" in tampered.stderr


def _unit(folder: Path) -> str:
    path = folder / "unit.json"
    path.write_text(json.dumps({"who": "ada"}))
    return str(path)
