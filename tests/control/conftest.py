"""Users in each role with their API tokens, a recording executor, registered test modules."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from rainbow.dsl.compiler import compile_pipeline
from rainbow.engine.records import RunChanged
from rainbow.engine.submission import new_runs
from rainbow.engine.workunits import WorkUnit
from rainbow.spec.canonical import spec_to_dict
from rainbow.spec.models import PipelineSpec
from tests.distributed import pipelines
from tests.engine import modules_for_tests


@dataclass
class RecordingExecutor:
    """Records runs pending, as the celery engine would, and lets a test end them."""

    engine: str = "celery"
    broken: bool = False
    cancelled: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)

    def submit(
        self,
        spec: PipelineSpec,
        units: Sequence[WorkUnit],
        *,
        environment: str,
        submitted_by: str,
    ) -> list[str]:
        from rainbow.control.persistence.store import DjangoStore

        if self.broken:
            raise OSError("broker unreachable")
        records = new_runs(
            spec, units, engine=self.engine, environment=environment, submitted_by=submitted_by
        )
        DjangoStore().write(records)
        return [r.run_id for r in records]

    def cancel(self, run_id: str, reason: str) -> None:
        self.cancelled.append(run_id)

    def retry(self, run_id: str) -> None:
        self.retried.append(run_id)

    def finish(self, run_ids: Sequence[str], status: str = "succeeded") -> None:
        from rainbow.control.persistence.store import DjangoStore

        now = datetime.now(UTC)
        DjangoStore().write(
            [RunChanged(r, "running", now) for r in run_ids]
            + [
                RunChanged(r, status, now, None if status == "succeeded" else "smoke")
                for r in run_ids
            ]
        )


@dataclass
class Api:
    """The REST API through Django's test client, as one user (by token) or nobody."""

    client: Any
    token: str | None

    def call(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}
        send = getattr(self.client, method.lower())
        kwargs: dict[str, Any] = {}
        if body is not None and method.upper() in ("POST", "PUT", "PATCH"):
            data = body if isinstance(body, str) else json.dumps(body)
            kwargs = {"content_type": "application/json", "data": data}
        return send(f"/api{path}", **kwargs, **headers, **extra)

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body if body is not None else {})

    def put(self, path: str, body: Any) -> Any:
        return self.call("PUT", path, body)


@pytest.fixture
def executor(sqlite_database: str) -> Iterator[RecordingExecutor]:
    from rainbow.control.services.execution import use_executor

    recording = RecordingExecutor()
    use_executor(recording)
    yield recording
    use_executor(None)


@pytest.fixture
def people(sqlite_database: str, executor: RecordingExecutor) -> dict[str, Api]:
    """alice: researcher; bob and carol: approvers; dana: admin; nobody: no credentials."""
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from rainbow.control.services import tokens

    found = {"nobody": Api(Client(), None)}
    for name, role in [
        ("alice", "researcher"),
        ("bob", "approver"),
        ("carol", "approver"),
        ("dana", "admin"),
    ]:
        user = User.objects.create_user(name, password="correct-horse-battery-9", is_staff=True)
        user.groups.set([Group.objects.get(name=role)])
        _, token = tokens.issue(user, "tests")
        found[name] = Api(Client(), token)
    return found


def interface_of(module: Any) -> dict[str, Any]:
    return module.rainbow_interface.model_dump(mode="json")  # type: ignore[no-any-return]


@pytest.fixture
def registered(people: dict[str, Api]) -> dict[str, Any]:
    """add@1.1 and add@latest registered; the pair-v11 spec, ready to register."""
    add = interface_of(modules_for_tests.add)
    for version in ("1.1", "latest"):
        response = people["alice"].post(
            "/modules/add/versions", {"version": version, "interface": add}
        )
        assert response.status_code == 201, response.content
    spec, _ = compile_pipeline(pipelines.pair_v11)
    return {"spec": spec_to_dict(spec), "interface": add}


def register(api: Api, spec: dict[str, Any], kind: str = "system-default") -> str:
    response = api.post("/pipelines", {"spec": spec, "kind": kind})
    assert response.status_code in (200, 201), response.content
    return str(response.json()["version"]["spec_hash"]).removeprefix("sha256:")[:12]
