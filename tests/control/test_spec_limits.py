"""Specs and pipeline lists stay bounded: size limits, names as wide as their columns, pages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.control.conftest import Api, interface_of, register
from tests.engine import modules_for_tests
from tests.webserver import PASSWORD, Plane


def test_spec_names_fit_the_columns_and_queue_names_that_hold_them(sqlite_database: str) -> None:
    """The spec schema's name limits are the widths of the columns they end in; a version fits
    its column, and the longest module name with the longest version still makes a queue name
    RabbitMQ and the outbox column hold (255 bytes)."""
    from rainbow.control.models import (
        Attempt,
        Instance,
        Metric,
        Module,
        ModuleVersion,
        OutboxMessage,
        Pipeline,
        Run,
        StepRun,
        Timer,
    )
    from rainbow.engine.naming import queue_name
    from rainbow.spec.models import NAME_MAX_LENGTH, VERSION_MAX_LENGTH

    def width(model: Any, field: str) -> int:
        return int(model._meta.get_field(field).max_length)

    names = [(Pipeline, "name"), (Run, "pipeline"), (Module, "name"), (Attempt, "module")]
    names += [(Instance, "module"), (StepRun, "step"), (Metric, "step"), (Timer, "step")]
    versions = [(ModuleVersion, "version"), (Attempt, "version"), (Instance, "version")]
    assert {width(model, field) for model, field in names} == {NAME_MAX_LENGTH}
    assert min(width(model, field) for model, field in versions) >= VERSION_MAX_LENGTH
    longest = queue_name("m" * NAME_MAX_LENGTH, "1." + "2" * (VERSION_MAX_LENGTH - 2))
    assert len(longest.encode()) <= min(255, width(OutboxMessage, "queue"))


def test_a_spec_over_the_served_limits_is_refused_with_the_limit_named(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """The API applies the limits `rainbow web` was started with: RB-E005 names the limit."""
    from django.test import override_settings

    from rainbow.control.models import Pipeline

    with override_settings(RAINBOW_MAX_SPEC_STEPS=1):
        refused = people["alice"].post("/pipelines", {"spec": registered["spec"]})
    assert refused.status_code == 422
    (problem,) = refused.json()["diagnostics"]
    assert (problem["code"], problem["where"]) == ("RB-E005", "$.steps")
    assert "RAINBOW_MAX_SPEC_STEPS" in problem["hint"]
    assert not Pipeline.objects.exists()


def named(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "spec_hash"} | {"name": name}


def test_the_pipeline_list_pages_and_leaves_the_specs_out(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """GET /api/pipelines pages with limit and offset like /api/runs, in the same number of
    queries for any page; neither it nor a pipeline's page inlines specs, a version's has one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alice = people["alice"]

    def listed(query: str) -> tuple[Any, int]:
        with CaptureQueriesContext(connection) as queries:
            response = alice.get(f"/pipelines{query}")
        assert response.status_code == 200, response.content
        return response.json(), len(queries)

    register(alice, named(registered["spec"], "p-0"))
    _, one = listed("")
    for index in range(1, 4):
        register(alice, named(registered["spec"], f"p-{index}"))
    page, four = listed("?limit=2&offset=1")
    assert four == one
    assert page["count"] == 4
    assert [p["name"] for p in page["items"]] == ["p-1", "p-2"]
    (version,) = page["items"][0]["versions"]
    assert "spec" not in version and version["spec_hash"].startswith("sha256:")
    assert "spec" not in alice.get("/pipelines/p-1").json()["versions"][0]
    exact = alice.get(f"/pipelines/p-1/versions/{version['spec_hash']}").json()
    assert exact["spec"]["name"] == "p-1"
    assert alice.get("/pipelines?limit=501").status_code == 422


@pytest.fixture(params=["plane", "postgres_plane"])
def served(request: pytest.FixtureRequest) -> Plane:
    return request.getfixturevalue(request.param)


@pytest.mark.slow
def test_names_longer_than_their_columns_are_refused_on_both_databases(served: Plane) -> None:
    """A 5,000-character pipeline name, step id, module name or input name is a 422 naming the
    field on SQLite and on PostgreSQL (it was a 201 and a 500); names as wide as the columns
    register on both."""
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.spec.canonical import spec_to_dict
    from tests.distributed import pipelines

    served.rainbow(
        "createuser", "alice", "--role", "researcher", "--password-stdin", stdin=PASSWORD
    )
    token = served.rainbow("token", "create", "t", "--user", "alice").stdout.strip()
    add = {"version": "1.1", "interface": interface_of(modules_for_tests.add)}
    assert served.call("POST", "/api/modules/add/versions", token, add)[0] == 201
    spec = named(spec_to_dict(compile_pipeline(pipelines.pair_v11)[0]), "pair")
    long = "a" * 5_000

    def with_step(**changes: Any) -> dict[str, Any]:
        return spec | {"steps": [spec["steps"][0] | changes, spec["steps"][1]]}

    for where, changed in [
        ("$.name", spec | {"name": long}),
        ("$.steps[0].id", with_step(id=long)),
        ("$.steps[0].module", with_step(module=long)),
        ("$.inputs", spec | {"inputs": {long: {"type": "integer"}}}),
    ]:
        status, body = served.call("POST", "/api/pipelines", token, {"spec": changed})
        assert status == 422, (where, body)
        assert any(
            d["where"] == where and "5,000 characters long" in d["message"]
            for d in body["diagnostics"]
        ), (where, body)
    widest = "w" * 200
    status, body = served.call("POST", "/api/pipelines", token, {"spec": spec | {"name": widest}})
    assert status == 201, body
