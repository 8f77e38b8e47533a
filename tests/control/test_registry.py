"""Registry rules below the API: what workers' announcements register, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rainbow.engine.ledger import Instance
from tests.control.conftest import interface_of
from tests.engine import modules_for_tests


@pytest.fixture(params=["sqlite_database", "postgres_database"])
def alias(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def announce(alias: str, version: str, interface: dict[str, Any], commit: str = "c1") -> None:
    from rainbow.control.persistence.ledger import DjangoLedger

    instance = Instance("add", version, "host:1", datetime.now(UTC), commit, interface)
    DjangoLedger(using=alias).record_instance(instance)


def recorded(alias: str) -> dict[str, tuple[str, dict[str, Any]]]:
    from rainbow.control.models import ModuleVersion

    rows = ModuleVersion.objects.using(alias).select_related("module")
    return {f"{r.module.name}@{r.version}": (r.commit, r.interface) for r in rows}


def test_a_workers_announcement_registers_its_module_version(alias: str) -> None:
    from rainbow.control.models import AuditEntry

    add = interface_of(modules_for_tests.add)
    announce(alias, "1.1", add)
    announce(alias, "1.1", add)
    assert recorded(alias) == {"add@1.1": ("c1", add)}
    (entry,) = AuditEntry.objects.using(alias).all()
    assert (entry.actor_name, entry.action, entry.target) == (
        "system",
        "module.announce",
        "add@1.1",
    )


def test_latest_follows_main_and_released_versions_keep_their_interface(alias: str) -> None:
    add = interface_of(modules_for_tests.add)
    changed = {**add, "inputs": {}}
    announce(alias, "latest", add)
    announce(alias, "latest", changed, commit="c2")
    announce(alias, "1.1", add)
    announce(alias, "1.1", changed, commit="c2")
    assert recorded(alias) == {"add@latest": ("c2", changed), "add@1.1": ("c1", add)}


def test_an_unreadable_interface_registers_nothing(alias: str) -> None:
    announce(alias, "1.1", {"name": 5})
    assert recorded(alias) == {}


def test_the_local_runner_ends_runs_a_killed_server_had_claimed(
    sqlite_database: str, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from rainbow.control.persistence.store import DjangoStore
    from rainbow.control.services.execution import LocalRunner
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.engine.local import LocalOptions
    from rainbow.engine.submission import new_runs
    from rainbow.engine.workunits import WorkUnit
    from tests.distributed import pipelines

    spec, _ = compile_pipeline(pipelines.pair_v11)
    (record,) = new_runs(
        spec,
        [WorkUnit("u", {"x": 1})],
        engine="local",
        owner="another-server:1:a1b2c3",
        lease_until=datetime.now(UTC),
    )
    store = DjangoStore()
    store.write([record])
    assert LocalRunner({}, LocalOptions(), builds_cache=tmp_path).run_pending() == 0
    assert store.run_statuses([record.run_id]) == {record.run_id: "failed"}


def test_local_runs_cancel_only_before_a_runner_takes_them(sqlite_database: str) -> None:
    from rainbow.control.persistence.store import DjangoStore
    from rainbow.control.services.execution import LocalExecutor
    from rainbow.control.services.refusals import Conflict
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.engine.workunits import WorkUnit
    from tests.distributed import pipelines

    spec, _ = compile_pipeline(pipelines.pair_v11)
    executor = LocalExecutor()
    first, second = executor.submit(
        spec,
        [WorkUnit("a", {"x": 1}), WorkUnit("b", {"x": 2})],
        environment="staging",
        submitted_by="t",
    )
    executor.cancel(first, "not needed")
    assert DjangoStore().run_statuses([first]) == {first: "cancelled"}
    from rainbow.control.models import Run

    Run.objects.filter(run_id=second).update(owner="host:1")  # a runner took it
    for act in (lambda: executor.cancel(second, "late"), lambda: executor.retry(second)):
        with pytest.raises(Conflict):
            act()
