"""The control plane's embedded engine runs pinned versions from their released builds, each in
its own environment, with no module code of its own (no RAINBOW_MODULES): plain runs and a
promotion's smoke runs alike."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import rainbow as rb
from rainbow.dsl.compiler import compile_pipeline
from rainbow.spec.canonical import spec_to_dict
from tests.control.conftest import Api, RecordingExecutor, executor, people, register
from tests.deploy.conftest import Built, rainbow, register_builds

pytestmark = pytest.mark.slow
__all__ = ["executor", "people"]  # the control plane's users and executor, as fixtures here


@rb.pipeline(name="greet-both")
def greet_both(who: str):
    old = rb.step("greet@1.0", who=who)
    new = rb.step("greet@latest", who=who)
    return {"old": old.text, "old_six": old.six, "new": new.text, "new_six": new.six}


def spec_of(pipeline: Any) -> Any:
    """Compiled against the registry's interfaces: no module code is importable here."""
    from rainbow.control.models import ModuleVersion
    from rainbow.spec.models import ModuleInterface

    def registered(name: str, version: str) -> ModuleInterface | None:
        found = ModuleVersion.objects.filter(module__name=name, version=version).first()
        return ModuleInterface.model_validate(found.interface) if found else None

    return compile_pipeline(pipeline, registered=registered)[0]


def runner(built: Built, tmp_path: Path, *, workers: int = 2, cache: Path | None = None) -> Any:
    from rainbow.control.services.execution import LocalRunner
    from rainbow.engine.local import LocalOptions

    options = LocalOptions(
        workers=workers,
        assets_url=str(tmp_path / "assets"),
        work_root=tmp_path / "work",
        log_file=tmp_path / "rainbow.log",
    )
    return LocalRunner({}, options, builds_cache=cache or built.home / "builds")


def test_one_run_pinning_two_released_versions_runs_each_from_its_own_build(
    sqlite_database: str, built: Built, tmp_path: Path
) -> None:
    """greet@1.0 needs six 1.16.0 and greet@latest six 1.17.0: one run uses both, each step in
    its own version's environment, and every attempt records the build that ran it."""
    from rainbow.control.models import ModuleVersion
    from rainbow.control.persistence.store import DjangoStore
    from rainbow.control.services.execution import LocalExecutor
    from rainbow.engine.workunits import WorkUnit

    register_builds(built)
    (run_id,) = LocalExecutor().submit(
        spec_of(greet_both),
        [WorkUnit("ada", {"who": "ada"})],
        environment="staging",
        submitted_by="t",
    )
    assert runner(built, tmp_path).run_pending() == 1

    detail = DjangoStore().get_run(run_id)
    assert detail is not None
    assert detail.summary.status == "succeeded", (detail.summary.reason, detail.steps)
    assert detail.outputs == {
        "old": "hi there ada",
        "old_six": "1.16.0",
        "new": "hello ada",
        "new_six": "1.17.0",
    }
    rows = {row.version: row for row in ModuleVersion.objects.all()}
    ran = [(a.version, a.commit, a.artifact) for step in detail.steps for a in step.attempts]
    assert sorted(ran) == sorted((r.version, r.commit, r.artifact_hash) for r in rows.values())


def test_a_run_pinning_a_version_with_neither_build_nor_code_fails_saying_what_to_do(
    sqlite_database: str, built: Built, tmp_path: Path
) -> None:
    """latest announced by a worker of local code has no build to run."""
    from rainbow.control.models import ModuleVersion
    from rainbow.control.persistence.store import DjangoStore
    from rainbow.control.services.execution import LocalExecutor
    from rainbow.engine.workunits import WorkUnit

    register_builds(built)
    spec = spec_of(greet_both)
    ModuleVersion.objects.filter(version="latest").update(artifact_hash="", artifact_url="")
    (run_id,) = LocalExecutor().submit(
        spec, [WorkUnit("ada", {"who": "ada"})], environment="staging", submitted_by="t"
    )
    runner(built, tmp_path).run_pending()

    summary = DjangoStore().get_run(run_id).summary  # type: ignore[union-attr]
    assert summary.status == "failed"
    assert "no released build of greet@latest and no code for it in RAINBOW_MODULES" in (
        summary.reason or ""
    )


def test_a_run_pinning_a_retired_version_fails_with_the_reason(
    sqlite_database: str, built: Built, tmp_path: Path
) -> None:
    from rainbow.control.models import ModuleVersion
    from rainbow.control.persistence.store import DjangoStore
    from rainbow.control.services.execution import LocalExecutor
    from rainbow.engine.workunits import WorkUnit

    register_builds(built)
    spec = spec_of(greet_both)
    ModuleVersion.objects.filter(version="1.0").update(status="retired", status_reason="blurry")
    (run_id,) = LocalExecutor().submit(
        spec, [WorkUnit("ada", {"who": "ada"})], environment="staging", submitted_by="t"
    )
    runner(built, tmp_path).run_pending()

    summary = DjangoStore().get_run(run_id).summary  # type: ignore[union-attr]
    assert summary.status == "failed"
    assert "greet@1.0 is retired: blurry" in (summary.reason or "")


def test_a_build_that_cannot_be_fetched_fails_its_runs_and_nothing_else_runs_instead(
    sqlite_database: str, built: Built, tmp_path: Path
) -> None:
    from rainbow.control.models import ModuleVersion
    from rainbow.control.persistence.store import DjangoStore
    from rainbow.control.services.execution import LocalExecutor
    from rainbow.engine.workunits import WorkUnit

    register_builds(built)
    spec = spec_of(greet_both)
    gone = tmp_path / "moved-away"
    ModuleVersion.objects.filter(version="1.0").update(artifact_url=str(gone))
    (run_id,) = LocalExecutor().submit(
        spec, [WorkUnit("ada", {"who": "ada"})], environment="staging", submitted_by="t"
    )
    # A cache of its own: builds are content-addressed, so a cached one needs no fetching.
    runner(built, tmp_path, cache=tmp_path / "cold").run_pending()

    detail = DjangoStore().get_run(run_id)
    assert detail is not None and detail.summary.status == "failed"
    assert "RB-E085: the build of greet@1.0" in (detail.summary.reason or "")
    assert "cannot run here" in (detail.summary.reason or ""), detail.summary.reason
    assert not [a for step in detail.steps for a in step.attempts]


def test_a_promotions_smoke_runs_run_the_pinned_builds(
    people: dict[str, Api], executor: RecordingExecutor, built: Built, tmp_path: Path
) -> None:
    """Registered, approved and promoted through the API; the smoke runs go to the embedded
    engine, which runs them on the released builds; then the default moves."""
    from rainbow.control.models import DefaultPointer, Promotion
    from rainbow.control.services.release import settle_all

    register_builds(built)
    executor.engine = "local"  # records the smoke runs pending, for the local runner to take
    version = register(people["alice"], spec_to_dict(spec_of(greet_both)))
    path = f"/pipelines/greet-both/versions/{version}"
    for approver in ("bob", "carol"):
        assert people[approver].post(f"{path}/approve").status_code == 200
    smoke = {"units": [{"who": "ada"}, {"who": "grace"}]}
    assert people["bob"].put("/pipelines/greet-both/smoke-units", smoke).status_code == 200
    assert people["bob"].post(f"{path}/promote", {"environment": "prod"}).status_code == 202

    assert runner(built, tmp_path).run_pending() == 2
    settle_all()

    promotion = Promotion.objects.get()
    assert promotion.status == Promotion.Status.SUCCEEDED, promotion.reason
    pointer = DefaultPointer.objects.get(pipeline__name="greet-both", environment="prod")
    assert pointer.version.spec_hash.removeprefix("sha256:").startswith(version)


PIPELINE_FILE = """import rainbow as rb


@rb.pipeline(name="greet-both")
def greet_both(who: str):
    old = rb.step("greet@1.0", who=who)
    new = rb.step("greet@latest", who=who)
    return {"old": old.text, "new": new.text}
"""


def test_rainbow_run_runs_modules_without_local_code_from_their_builds(
    built: Built, tmp_path: Path
) -> None:
    """No code of greet anywhere but in its builds: `rainbow run` compiles against the
    registry's interfaces and runs each pin on its own build."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(built.home / "rainbow.sqlite3", home / "rainbow.sqlite3")
    (home / "builds").symlink_to(built.home / "builds")
    (tmp_path / "pipeline.py").write_text(PIPELINE_FILE)
    (tmp_path / "unit.json").write_text(json.dumps({"who": "ada"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAINBOW_")}
    env.update(RAINBOW_HOME=str(home), RAINBOW_ARTIFACTS_URL=str(built.home / "artifacts"))

    done = rainbow(env, "run", "pipeline.py", "--input", "unit.json", "--json", cwd=tmp_path)

    assert json.loads(done.stdout)["outputs"] == {"old": "hi there ada", "new": "hello ada"}
    assert "running greet@1.0 from its build of commit" in done.stderr
    assert "running greet@latest from its build of commit" in done.stderr


def test_a_killed_worker_of_a_build_is_reported_lost_and_replaced(
    sqlite_database: str, built: Built, tmp_path: Path
) -> None:
    """A worker started in a version's environment dies like a forked one: its attempt is
    recorded lost with the signal, and the next run gets a new worker."""
    from rainbow.control.persistence.store import DjangoStore
    from rainbow.control.services.execution import LocalExecutor
    from rainbow.engine.workunits import WorkUnit

    register_builds(built)
    spec = spec_of(greet_slow)
    units = [WorkUnit("slow", {"who": "ada", "pause": 60.0}), WorkUnit("next", {"who": "bo"})]
    run_ids = LocalExecutor().submit(spec, units, environment="staging", submitted_by="t")
    ran = threading.Thread(target=runner(built, tmp_path, workers=1).run_pending)
    ran.start()
    store = DjangoStore()
    give_up = time.monotonic() + 60
    while not (workers := _build_workers()) or not _running(store, run_ids[0]):
        assert time.monotonic() < give_up, "no worker of the build ever ran the slow unit"
        time.sleep(0.1)
    for worker in workers:
        worker.send_signal(signal.SIGKILL)
    ran.join(timeout=60)
    assert not ran.is_alive()

    slow, after = (store.get_run(r) for r in run_ids)
    assert slow is not None and after is not None
    assert slow.summary.status == "failed"
    (attempt,) = slow.steps[0].attempts
    assert (attempt.status, attempt.exit_signal) == ("worker_lost", signal.SIGKILL)
    assert after.summary.status == "succeeded" and after.outputs == {"text": "hello bo"}


@rb.pipeline(name="greet-slow")
def greet_slow(who: str, pause: float = 0.0):
    return {"text": rb.step("greet@latest", who=who, pause=pause).text}


def _build_workers() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if "rainbow.engine.worker_process" in " ".join(child.cmdline())
    ]


def _running(store: Any, run_id: str) -> bool:
    detail = store.get_run(run_id)
    return bool(detail) and any(a.status == "running" for s in detail.steps for a in s.attempts)
