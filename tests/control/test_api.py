"""The REST API: every endpoint, the refusals each role meets, and the release gates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.control.conftest import Api, RecordingExecutor, register

SMOKE = {"units": [{"x": 1}, {"x": 2}]}


def test_every_endpoint_and_the_schema_need_a_user(people: dict[str, Api]) -> None:
    nobody = people["nobody"]
    schema = people["alice"].get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert len(paths) >= 15
    for path, operations in paths.items():
        concrete = path.replace("{", "").replace("}", "").removeprefix("/api")
        for method in operations:
            response = nobody.call(method.upper(), concrete, {})
            assert response.status_code == 401, (method, path, response.status_code)
    assert nobody.get("/openapi.json").status_code == 401
    assert nobody.client.get("/api/docs").status_code == 401


def test_tokens_are_stored_hashed_and_can_be_revoked(people: dict[str, Api]) -> None:
    from rainbow.control.models import ApiToken

    alice = people["alice"]
    issued = alice.post("/tokens", {"name": "ci"})
    assert issued.status_code == 201
    token = issued.json()["token"]
    stored = ApiToken.objects.get(pk=issued.json()["id"])
    assert token not in (stored.digest, stored.prefix) and len(stored.digest) == 64
    ci = Api(alice.client, token)
    assert ci.get("/me").json() == {"username": "alice", "role": "researcher"}
    assert people["bob"].call("DELETE", f"/tokens/{stored.pk}").status_code == 403
    assert alice.call("DELETE", f"/tokens/{stored.pk}").status_code == 200
    assert ci.get("/me").status_code == 401
    assert "token.revoke" in [e["action"] for e in alice.get("/audit").json()["items"]]


def test_a_session_needs_the_csrf_token_for_writes(people: dict[str, Api]) -> None:
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="alice", password="correct-horse-battery-9")
    assert browser.get("/api/me").json()["username"] == "alice"
    refused = browser.post("/api/tokens", {"name": "x"}, content_type="application/json")
    assert refused.status_code == 403
    browser.get("/admin/")  # a page with a form hands out the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    allowed = browser.post(
        "/api/tokens", {"name": "x"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert allowed.status_code == 201


def test_module_versions_register_once_and_released_ones_are_immutable(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    alice = people["alice"]
    again = alice.post(
        "/modules/add/versions", {"version": "1.1", "interface": registered["interface"]}
    )
    assert again.status_code == 200
    changed = {**registered["interface"], "inputs": {}}
    refused = alice.post("/modules/add/versions", {"version": "1.1", "interface": changed})
    assert refused.status_code == 409
    assert "immutable" in refused.json()["detail"]
    assert (
        alice.post("/modules/add/versions", {"version": "latest", "interface": changed}).status_code
        == 200
    )
    wrong = alice.post("/modules/add/versions", {"version": "1.2", "interface": {"name": 3}})
    assert wrong.status_code == 422
    listed = alice.get("/modules/add").json()
    assert sorted(v["version"] for v in listed["versions"]) == ["1.1", "latest"]
    assert people["nobody"].get("/modules/add").status_code == 401


def test_a_pipeline_is_refused_with_the_diagnostics_of_rainbow_validate(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    spec = registered["spec"]
    unpinned = {**spec, "steps": [{**s, "version": "9.9"} for s in spec["steps"]]}
    unpinned.pop("spec_hash")
    refused = people["alice"].post("/pipelines", {"spec": unpinned})
    assert refused.status_code == 422
    assert {d["code"] for d in refused.json()["diagnostics"]} == {"RB-E017"}
    assert refused.json()["diagnostics"][0]["where"] == "$.steps[0].module"
    wired_wrong = {**spec, "steps": [{**spec["steps"][0], "inputs": {"nope": {"value": 1}}}]}
    wired_wrong.pop("spec_hash")
    refused = people["alice"].post("/pipelines", {"spec": wired_wrong})
    assert "RB-E015" in {d["code"] for d in refused.json()["diagnostics"]}
    assert people["alice"].post("/pipelines", {"spec": {"name": 1}}).status_code == 422
    assert people["alice"].post("/pipelines", "{not json").status_code == 400
    created = people["alice"].post("/pipelines", {"spec": spec})
    assert created.status_code == 201 and created.json()["version"]["status"] == "proposed"
    again = people["alice"].post("/pipelines", {"spec": spec})
    assert again.status_code == 200 and again.json()["created"] is False
    other_kind = people["alice"].post("/pipelines", {"spec": spec, "kind": "one-off"})
    assert other_kind.status_code == 409 and "already registered as" in other_kind.json()["detail"]


def test_approvals_come_from_approvers_other_than_the_author(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    version = register(people["bob"], registered["spec"])
    path = f"/pipelines/pair-v11/versions/{version}/approve"
    assert people["alice"].post(path).status_code == 403
    own = people["bob"].post(path)
    assert own.status_code == 403 and "cannot approve it" in own.json()["detail"]
    assert people["carol"].post(path, {"comment": "lgtm"}).status_code == 200
    assert people["carol"].post(path).status_code == 409
    assert people["dana"].post(path).status_code == 200
    assert people["dana"].get(f"/pipelines/pair-v11/versions/{version}").json()["approvals"] == [
        "carol",
        "dana",
    ]


def _approved(people: dict[str, Api], spec: dict[str, Any]) -> str:
    version = register(people["alice"], spec)
    for approver in ("bob", "carol"):
        assert (
            people[approver].post(f"/pipelines/pair-v11/versions/{version}/approve").status_code
            == 200
        )
    return version


def two_defaults_in_prod(
    people: dict[str, Api], executor: RecordingExecutor, spec: dict[str, Any]
) -> list[str]:
    """Two versions of pair-v11 promoted to prod in turn: the second is the default, the first
    the one to roll back to. Returns their short hashes."""
    bob = people["bob"]
    second = {**spec, "timeout": 99.0}
    second.pop("spec_hash")
    versions = [_approved(people, spec), _approved(people, second)]
    assert bob.put("/pipelines/pair-v11/smoke-units", SMOKE).status_code == 200
    for version in versions:
        started = bob.post(
            f"/pipelines/pair-v11/versions/{version}/promote", {"environment": "prod"}
        )
        assert started.status_code == 202, started.content
        executor.finish(started.json()["run_ids"])
        assert bob.get(f"/promotions/{started.json()['id']}").json()["status"] == "succeeded"
    return versions


def test_promotion_moves_the_default_only_after_its_smoke_runs_succeed(
    registered: dict[str, Any], people: dict[str, Api], executor: RecordingExecutor
) -> None:
    bob = people["bob"]
    version = register(people["alice"], registered["spec"])
    promote = f"/pipelines/pair-v11/versions/{version}/promote"
    assert people["alice"].post(promote, {"environment": "prod"}).status_code == 403
    too_few = bob.post(promote, {"environment": "prod"})
    assert too_few.status_code == 409 and "0 of the 2 approvals" in too_few.json()["detail"]
    _approved(people, registered["spec"])
    no_smoke = bob.post(promote, {"environment": "prod"})
    assert no_smoke.status_code == 409 and "no smoke units" in no_smoke.json()["detail"]
    assert people["alice"].put("/pipelines/pair-v11/smoke-units", SMOKE).status_code == 403
    assert bob.put("/pipelines/pair-v11/smoke-units", SMOKE).status_code == 200
    started = bob.post(promote, {"environment": "prod"})
    assert started.status_code == 202, started.content
    promotion = started.json()
    assert promotion["status"] == "smoke-testing" and len(promotion["run_ids"]) == 2
    assert bob.post(promote, {"environment": "prod"}).status_code == 409  # one at a time
    assert bob.get("/pipelines/pair-v11").json()["defaults"] == {}
    executor.finish(promotion["run_ids"])
    settled = bob.get(f"/promotions/{promotion['id']}").json()
    assert settled["status"] == "succeeded"
    pipeline = bob.get("/pipelines/pair-v11").json()
    assert pipeline["defaults"]["prod"].removeprefix("sha256:").startswith(version)
    assert pipeline["versions"][0]["status"] == "active"
    actions = [e["action"] for e in bob.get("/audit").json()["items"]]
    assert actions[:2] == ["default.move", "promotion.start"]


def test_only_versions_promoted_to_prod_run_there(
    registered: dict[str, Any], people: dict[str, Api], executor: RecordingExecutor
) -> None:
    alice, bob = people["alice"], people["bob"]
    version = _approved(people, registered["spec"])
    body = {"pipeline": "pair-v11", "version": version, "units": [{"x": 1}]}
    refused = alice.post("/runs", {**body, "environment": "prod"})
    assert refused.status_code == 403 and "never been promoted to prod" in refused.json()["detail"]
    assert alice.post("/runs", {**body, "environment": "staging"}).status_code == 201
    bob.put("/pipelines/pair-v11/smoke-units", SMOKE)
    started = bob.post(f"/pipelines/pair-v11/versions/{version}/promote", {"environment": "prod"})
    executor.finish(started.json()["run_ids"])
    assert bob.get(f"/promotions/{started.json()['id']}").json()["status"] == "succeeded"
    assert alice.post("/runs", {**body, "environment": "prod"}).status_code == 201


def test_a_failed_smoke_run_leaves_the_old_default_in_place(
    registered: dict[str, Any], people: dict[str, Api], executor: RecordingExecutor
) -> None:
    bob = people["bob"]
    first = _approved(people, registered["spec"])
    bob.put("/pipelines/pair-v11/smoke-units", SMOKE)
    promotion = bob.post(
        f"/pipelines/pair-v11/versions/{first}/promote", {"environment": "staging"}
    )
    executor.finish(promotion.json()["run_ids"])
    bob.get("/promotions")
    second_spec = {**registered["spec"], "timeout": 1234.0}
    second_spec.pop("spec_hash")
    second = _approved(people, second_spec)
    failing = bob.post(f"/pipelines/pair-v11/versions/{second}/promote", {"environment": "staging"})
    executor.finish(failing.json()["run_ids"], status="failed")
    ended = bob.get(f"/promotions/{failing.json()['id']}").json()
    assert ended["status"] == "failed" and "did not succeed" in ended["reason"]
    defaults = bob.get("/pipelines/pair-v11").json()["defaults"]
    assert defaults["staging"].removeprefix("sha256:").startswith(first)
    assert "promotion.fail" in [e["action"] for e in bob.get("/audit").json()["items"]]


def test_a_promotion_whose_smoke_runs_cannot_start_or_end_does_not_block_the_next(
    registered: dict[str, Any], people: dict[str, Api], executor: RecordingExecutor
) -> None:
    from datetime import timedelta

    from rainbow.control.models import Promotion

    bob = people["bob"]
    version = _approved(people, registered["spec"])
    bob.put("/pipelines/pair-v11/smoke-units", SMOKE)
    promote = f"/pipelines/pair-v11/versions/{version}/promote"
    executor.broken = True
    down = bob.post(promote, {"environment": "prod"})
    assert down.status_code == 503 and "could not be submitted" in down.json()["detail"]
    executor.broken = False
    started = bob.post(promote, {"environment": "prod"})
    assert started.status_code == 202
    Promotion.objects.filter(pk=started.json()["id"]).update(
        created_at=Promotion.objects.get(pk=started.json()["id"]).created_at - timedelta(days=2)
    )
    ended = bob.get(f"/promotions/{started.json()['id']}").json()
    assert ended["status"] == "failed" and "did not all end within" in ended["reason"]
    assert bob.post(promote, {"environment": "prod"}).status_code == 202
    failures = bob.get("/audit?action=promotion.fail").json()["items"]
    assert len(failures) == 2


def test_rolling_back_the_default_is_one_action(
    registered: dict[str, Any], people: dict[str, Api], executor: RecordingExecutor
) -> None:
    bob = people["bob"]
    versions = two_defaults_in_prod(people, executor, registered["spec"])
    assert (
        people["alice"].post("/pipelines/pair-v11/rollback", {"environment": "prod"}).status_code
        == 403
    )
    back = bob.post("/pipelines/pair-v11/rollback", {"environment": "prod"})
    assert back.status_code == 200
    assert back.json()["spec_hash"].removeprefix("sha256:").startswith(versions[0])
    entry = bob.get("/audit?action=default.rollback").json()["items"][0]
    assert entry["actor"] == "bob" and entry["target"] == "pair-v11 in prod"
    assert bob.post("/pipelines/pair-v11/rollback", {"environment": "staging"}).status_code == 404


def test_runs_are_submitted_to_the_default_or_an_exact_version(
    registered: dict[str, Any], people: dict[str, Api], executor: RecordingExecutor
) -> None:
    alice = people["alice"]
    version = register(alice, registered["spec"])
    no_default = alice.post(
        "/runs", {"pipeline": "pair-v11", "environment": "prod", "units": [{"x": 1}]}
    )
    assert no_default.status_code == 404 and "no default in prod" in no_default.json()["detail"]
    exact = alice.post(
        "/runs",
        {
            "pipeline": "pair-v11",
            "environment": "staging",
            "version": version,
            "units": [{"x": 1}],
            "names": ["kitchen-7"],
        },
    )
    assert exact.status_code == 201, exact.content
    (run_id,) = exact.json()["run_ids"]
    misfit = alice.post(
        "/runs",
        {"pipeline": "pair-v11", "environment": "staging", "version": version, "units": [{"y": 1}]},
    )
    assert misfit.status_code == 422
    assert {d["code"] for d in misfit.json()["diagnostics"]} == {"RB-E040"}
    detail = alice.get(f"/runs/{run_id}").json()
    assert detail["environment"] == "staging" and detail["submitted_by"] == "alice"
    assert detail["unit"] == "kitchen-7"
    assert detail["logs_url"] == f"https://grafana.example/explore?run={run_id}"
    assert [s["step"] for s in detail["steps"]] == ["add", "add-2"]
    assert alice.get("/runs/nope").status_code == 404
    assert alice.post(f"/runs/{run_id}/cancel").status_code == 202
    assert executor.cancelled == [run_id]
    assert alice.post(f"/runs/{run_id}/retry").status_code == 409  # still pending


def test_asset_inputs_are_urls_or_paths_in_the_input_roots(
    people: dict[str, Api], tmp_path: Any
) -> None:
    from rainbow.control.services.units import bind_units
    from rainbow.spec.models import PipelineSpec

    spec = PipelineSpec.model_validate(
        {
            "schema": 1,
            "name": "photo",
            "inputs": {"photo": {"type": "asset"}},
            "outputs": {},
            "timeout": 60,
            "steps": [
                {
                    "id": "a",
                    "module": "add",
                    "version": "1.1",
                    "inputs": {"value": {"value": 1}},
                    "retries": 0,
                    "timeout": 10,
                }
            ],
        }
    )
    inside = tmp_path / "photo.jpg"
    inside.write_bytes(b"jpg")
    (bound,) = bind_units(spec, [{"photo": str(inside)}], name="u")
    assert bound.inputs == {"photo": {"$asset": str(inside)}}
    assert bind_units(spec, [{"photo": "s3://bucket/p.jpg"}], name="u")[0].inputs["photo"]
    from rainbow.control.services.refusals import Forbidden

    with pytest.raises(Forbidden) as refused:
        bind_units(spec, [{"photo": "/etc/hostname"}], name="u")
    assert "outside the folders the control plane may read" in refused.value.message


def test_one_off_pipelines_run_in_staging_only(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    alice = people["alice"]
    version = register(alice, registered["spec"], kind="one-off")
    units = [{"x": 1}]
    body = {"pipeline": "pair-v11", "version": version, "units": units}
    refused = alice.post("/runs", {**body, "environment": "prod"})
    assert refused.status_code == 403 and "staging only" in refused.json()["detail"]
    assert alice.post("/runs", {**body, "environment": "staging"}).status_code == 201
    approve = people["bob"].post(f"/pipelines/pair-v11/versions/{version}/approve")
    assert approve.status_code == 409


def test_only_admins_retire_module_versions_and_retired_ones_are_refused(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    version = register(people["alice"], registered["spec"])
    status = "/modules/add/versions/1.1/status"
    assert people["bob"].post(status, {"status": "retired"}).status_code == 403
    assert people["dana"].post(status, {"status": "retired"}).json()["status"] == "retired"
    assert people["dana"].post(status, {"status": "gone"}).status_code == 422
    run = {
        "pipeline": "pair-v11",
        "environment": "staging",
        "version": version,
        "units": [{"x": 1}],
    }
    refused = people["alice"].post("/runs", run)
    assert refused.status_code == 409 and "retired" in refused.json()["detail"]
    again = {**registered["spec"], "timeout": 77.0}
    again.pop("spec_hash")
    assert people["alice"].post("/pipelines", {"spec": again}).status_code == 422
    entry = people["dana"].get("/audit?action=module.retired").json()["items"][0]
    assert entry["target"] == "add@1.1" and entry["actor"] == "dana"


def test_listed_runs_carry_their_last_attempts_metrics(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    from tests.control.test_admin import a_run_with_a_retry

    run_id = a_run_with_a_retry(registered["spec"], 0.75)
    (listed,) = people["alice"].get("/runs").json()["items"]
    expected = [
        {
            "name": "quality",
            "value": 0.75,
            "better": "high",
            "step": "add",
            "kind": "quality",
            "tolerance_absolute": None,
            "tolerance_relative": None,
        }
    ]
    assert listed["run_id"] == run_id and listed["metrics"] == expected
    assert people["alice"].get(f"/runs/{run_id}").json()["metrics"] == expected


@pytest.mark.parametrize("count", [3, 60])
def test_listing_runs_costs_the_same_queries_for_any_page(
    registered: dict[str, Any],
    people: dict[str, Api],
    count: int,
    django_assert_max_num_queries: Any,
) -> None:
    alice = people["alice"]
    version = register(alice, registered["spec"])
    body = {"pipeline": "pair-v11", "environment": "staging", "version": version}
    alice.post("/runs", {**body, "units": [{"x": i} for i in range(count)]})
    # Authentication (token lookup and its last-used update, the role) plus the count and page.
    with django_assert_max_num_queries(5):
        page = alice.get("/runs?pipeline=pair-v11&environment=staging&status=pending&limit=100")
    assert page.json()["count"] == count and len(page.json()["items"]) == count
    assert alice.get("/runs?environment=prod").json()["count"] == 0
    assert all(item["metrics"] == [] for item in page.json()["items"])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/runs", {"pipeline": "pair-v11", "environment": "moon", "units": [{}]}),
        ("POST", "/runs", {"pipeline": "pair-v11", "environment": "prod", "units": []}),
        ("POST", "/runs", {"pipeline": 5, "environment": "prod", "units": "x"}),
        ("POST", "/pipelines", {"spec": []}),
        ("POST", "/pipelines/pair-v11/versions/zz/approve", {}),
        ("POST", "/modules/add/versions", {"version": "1.x", "interface": {}}),
        ("GET", "/runs?created_after=yesterday", None),
        ("GET", "/promotions/notanumber", None),
        ("PUT", "/pipelines/pair-v11/smoke-units", {"units": "x"}),
        # What PostgreSQL would refuse at the first query (a 500) is refused before it.
        ("GET", "/runs/%00abc", None),
        ("GET", "/runs?status=%00", None),
        ("POST", "/tokens", {"name": "a\u0000b"}),
        ("POST", "/modules/" + "a" * 300 + "/versions", {"version": "1.0", "interface": {}}),
        ("GET", "/runs?created_after=0001-01-01T00:00:00%2B14:00", None),
        ("GET", "/runs?created_before=9999-12-31T23:59:59-14:00", None),
        ("GET", "/promotions/18446744073709551616", None),
    ],
)
def test_malformed_input_gets_a_4xx_with_a_message(
    registered: dict[str, Any], people: dict[str, Api], method: str, path: str, body: Any
) -> None:
    response = people["dana"].call(method, path, body)
    assert 400 <= response.status_code < 500, (response.status_code, response.content)
    assert response.json()["detail"]


def test_a_user_without_a_role_may_do_nothing(people: dict[str, Api]) -> None:
    from django.contrib.auth.models import User

    from rainbow.control.services import tokens

    _, token = tokens.issue(User.objects.create_user("nemo"), "t")
    nemo = Api(people["alice"].client, token)
    assert nemo.get("/runs").status_code == 401
    assert nemo.post("/tokens", {"name": "more"}).status_code == 401


def test_the_audit_log_pages_through_every_entry(people: dict[str, Api]) -> None:
    from rainbow.control.persistence import audit

    for index in range(30):
        audit.record(None, "test.entry", f"thing {index}")
    page = people["alice"].get("/audit?action=test.entry&limit=10&offset=25").json()
    assert page["count"] == 30
    assert [e["target"] for e in page["items"]] == [f"thing {i}" for i in (4, 3, 2, 1, 0)]


def test_rolling_back_onto_a_version_pinning_a_retired_module_is_refused(
    registered: dict[str, Any], people: dict[str, Api], executor: RecordingExecutor
) -> None:
    bob = people["bob"]
    two_defaults_in_prod(people, executor, registered["spec"])
    people["dana"].post("/modules/add/versions/1.1/status", {"status": "retired"})
    refused = bob.post("/pipelines/pair-v11/rollback", {"environment": "prod"})
    assert refused.status_code == 409 and "retired" in refused.json()["detail"]
