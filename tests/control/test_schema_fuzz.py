"""The REST API, fuzzed from its own OpenAPI schema: no request makes the server answer 5xx.

Schemathesis loads ``/api/openapi.json`` from the Django WSGI app in-process and, for every
operation, sends its coverage cases (boundary values, values just outside them, other methods),
each integer parameter at the edges of database integers, and a bounded number of
Hypothesis-generated requests, valid and invalid. The requests come from the admin, so role
refusals do not stop them short of the code behind them, and generated path parameters and
bodies are mixed with those of real rows (modules, a pipeline mid-promotion, runs, a token), so
lookups find rows as well as 404s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.control.conftest import Api, RecordingExecutor, register
from tests.webserver import PASSWORD, Plane

# Generated requests per operation, on top of its coverage cases: 24 operations in about 12 s.
MAX_EXAMPLES = 25
# Where database integer columns end (32 and 64 bits, signed and not): for ids, limits, offsets.
DATABASE_INTEGERS = (2**31, 2**32, 2**63 - 1, 2**63, 2**64)
FUZZING = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # Generating a large request body can take a second on a busy CI machine; that is no failure.
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)


@pytest.fixture
def rows(
    registered: dict[str, Any], people: dict[str, Api], executor: RecordingExecutor
) -> list[dict[str, Any]]:
    """Path parameters and body fields of real rows: modules, a pipeline mid-promotion, runs."""
    alice, bob = people["alice"], people["bob"]
    version = register(alice, registered["spec"])
    release = f"/pipelines/pair-v11/versions/{version}"
    for approver in ("bob", "carol"):
        assert people[approver].post(f"{release}/approve").status_code == 200
    assert bob.put("/pipelines/pair-v11/smoke-units", {"units": [{"x": 1}]}).status_code == 200
    promotion = bob.post(f"{release}/promote", {"environment": "staging"})
    assert promotion.status_code == 202, promotion.content
    run = {"pipeline": "pair-v11", "version": version, "units": [{"x": 2}]}
    submitted = alice.post("/runs", {**run, "environment": "staging"})
    assert submitted.status_code == 201, submitted.content
    (failed,) = submitted.json()["run_ids"]
    executor.finish([failed], "failed")
    spare = people["dana"].post("/tokens", {"name": "spare"})
    assert spare.status_code == 201
    return [
        {"name": "add", "version": "1.1"},
        {"name": "add", "version": "latest"},
        {"name": "pair-v11", "version": version},
        {"name": "pair-v11", "version": f"sha256:{version}"},
        *({"run_id": run_id} for run_id in [*promotion.json()["run_ids"], failed]),
        {"promotion_id": promotion.json()["id"]},
        {"token_id": spare.json()["id"]},
        {"version": "1.2", "interface": registered["interface"]},
        {"spec": registered["spec"]},
        run,
    ]


@pytest.fixture
def dana_token(people: dict[str, Api]) -> Callable[[], str]:
    """The admin's token, issued afresh whenever the fuzzer has revoked it (DELETE /tokens/{id})."""
    from django.contrib.auth.models import User

    from rainbow.control.services import tokens

    current = people["dana"].token
    assert current is not None

    def live() -> str:
        nonlocal current
        if tokens.user_for(current) is None:
            _, current = tokens.issue(User.objects.get(username="dana"), "fuzz")
        return current

    return live


def _mixed_with(
    rows: list[dict[str, Any]], *, whole_rows: bool
) -> Callable[..., st.SearchStrategy[Any]]:
    """A flatmap hook: generated fields as they are, or with a real row's put in over them.

    A row counts when it shares a field with the generated ones; with ``whole_rows`` all of it goes
    in (a body's optional fields are often left out), otherwise only the fields shared.
    """

    def mix(context: schemathesis.HookContext, values: Any) -> st.SearchStrategy[Any]:
        if not isinstance(values, dict):
            return st.just(values)
        matching = [
            row if whole_rows else {k: v for k, v in row.items() if k in values}
            for row in rows
            if values.keys() & row.keys()
        ]
        if not matching:
            return st.just(values)
        mixed = st.sampled_from(matching).map(lambda fields: {**values, **fields})
        return st.one_of(st.just(values), mixed)

    return mix


def _with_integer_edges(
    context: schemathesis.HookContext, examples: list[schemathesis.Case]
) -> None:
    """A before_add_examples hook: each integer parameter gets a case per ``DATABASE_INTEGERS``.

    The schema states no upper bound, so generated values reach these edges too rarely to rely on.
    """
    operation = context.operation
    assert operation is not None
    for parameter in operation.iter_parameters():
        container = {"path": "path_parameters", "query": "query"}.get(parameter.location.value)
        if container is None or parameter.definition["schema"].get("type") != "integer":
            continue
        if container == "path_parameters" and len(operation.path_parameters) > 1:
            continue  # the other path parameters would need values; no operation has any today
        for edge in DATABASE_INTEGERS:
            examples.append(operation.Case(**{container: {parameter.name: edge}}))


@pytest.fixture
def api_schema(
    rows: list[dict[str, Any]], dana_token: Callable[[], str]
) -> schemathesis.BaseSchema:
    """The schema the app serves, with the hooks above; loading it needs a token too."""
    from django.core.wsgi import get_wsgi_application

    loaded = schemathesis.openapi.from_wsgi(
        "/api/openapi.json",
        get_wsgi_application(),
        headers={"Authorization": f"Bearer {dana_token()}"},
    )
    loaded.hook("flatmap_path_parameters")(_mixed_with(rows, whole_rows=False))
    loaded.hook("flatmap_query")(_mixed_with(rows, whole_rows=False))
    loaded.hook("flatmap_body")(_mixed_with(rows, whole_rows=True))
    loaded.hook("before_add_examples")(_with_integer_edges)
    return loaded


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy-schema parametrize reads and rewrites ``item._nodeid``, which
    # pytest 9.2 no longer has; pytest reads ``nodeid`` elsewhere, so this only satisfies the read.
    node: Any = request.node
    if not hasattr(node, "_nodeid"):
        node._nodeid = node.nodeid


@pytest.fixture(autouse=True)
def _client_errors_unlogged(caplog: pytest.LogCaptureFixture) -> None:
    # Django logs every 4xx as a warning: a thousand lines around the 500s and their tracebacks.
    caplog.set_level(logging.ERROR, logger="django.request")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@FUZZING
def test_no_generated_request_gets_a_server_error(
    case: schemathesis.Case, dana_token: Callable[[], str]
) -> None:
    """Every operation answers every generated request, valid or not, with a status below 500."""
    # A failure shows the request as curl; the server's traceback is in the captured log.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {dana_token()}"}, checks=[not_a_server_error]
    )


@pytest.fixture
def served_token(postgres_plane: Plane) -> str:
    """An admin's token on the served control plane, with add@1.1 and pair-v11 registered."""
    postgres_plane.rainbow(
        "createuser", "dana", "--role", "admin", "--password-stdin", stdin=PASSWORD
    )
    token = postgres_plane.rainbow("token", "create", "fuzz", "--user", "dana").stdout.strip()
    remote = {"RAINBOW_URL": postgres_plane.url, "RAINBOW_TOKEN": token}
    postgres_plane.rainbow(
        "module", "register", "tests/engine/modules_for_tests.py", "--version", "1.1", **remote
    )
    postgres_plane.rainbow(
        "pipeline", "register", "tests/distributed/pipelines.py:pair_v11", **remote
    )
    return token


@pytest.fixture
def served_schema(postgres_plane: Plane, served_token: str) -> schemathesis.BaseSchema:
    """The same schema, served by `rainbow web` on PostgreSQL: some inputs SQLite stores and
    PostgreSQL refuses (NUL characters, values past a column's length)."""
    loaded = schemathesis.openapi.from_url(
        f"{postgres_plane.url}/api/openapi.json",
        headers={"Authorization": f"Bearer {served_token}"},
    )
    loaded.hook("before_add_examples")(_with_integer_edges)
    # Revoking a token by a generated id could revoke the fuzzer's own; that path is fuzzed above.
    return loaded.exclude(method="DELETE", path="/api/tokens/{token_id}")


served = schemathesis.pytest.from_fixture("served_schema")


@pytest.mark.slow
@served.parametrize()
@FUZZING
def test_no_generated_request_gets_a_server_error_on_postgresql(
    case: schemathesis.Case, served_token: str
) -> None:
    """The served API on PostgreSQL answers every generated request below 500."""
    case.call_and_validate(
        headers={"Authorization": f"Bearer {served_token}"}, checks=[not_a_server_error]
    )
