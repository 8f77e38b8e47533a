"""The admin: logged-in pages only, a run's timeline, metric trends, the DAG, gate actions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rainbow.engine.records import (
    AttemptFinished,
    AttemptStarted,
    MetricValue,
    RunChanged,
    StepChanged,
)
from rainbow.engine.submission import new_runs
from rainbow.engine.workunits import WorkUnit
from rainbow.spec.models import PipelineSpec
from tests.control.conftest import Api, register
from tests.webserver import PASSWORD, Plane


def browser(username: str) -> Any:
    from django.test import Client

    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def a_run_with_a_retry(spec: dict[str, Any], quality: float) -> str:
    """A finished run whose first step failed once, then succeeded, reporting a metric."""
    from rainbow.control.persistence.store import DjangoStore

    (record,) = new_runs(
        PipelineSpec.model_validate(spec), [WorkUnit("u", {"x": 1})], engine="celery"
    )
    t0 = datetime.now(UTC) - timedelta(seconds=10)
    metric = MetricValue("quality", quality, "high")
    DjangoStore().write(
        [
            record,
            RunChanged(record.run_id, "running", t0),
            AttemptStarted(record.run_id, "add", 1, "add", "1.1", t0),
            AttemptFinished(
                record.run_id,
                "add",
                1,
                "failed",
                t0 + timedelta(seconds=1),
                1.0,
                error_type="ValueError",
                error_message="bad <input>",
            ),
            AttemptStarted(record.run_id, "add", 2, "add", "1.1", t0 + timedelta(seconds=3)),
            AttemptFinished(
                record.run_id,
                "add",
                2,
                "succeeded",
                t0 + timedelta(seconds=4),
                1.0,
                metrics=(metric,),
            ),
            AttemptStarted(record.run_id, "add-2", 1, "add", "1.1", t0 + timedelta(seconds=4)),
            AttemptFinished(record.run_id, "add-2", 1, "succeeded", t0 + timedelta(seconds=5), 1.0),
            StepChanged(record.run_id, "add", "succeeded", 2, {"value": 1}),
            StepChanged(record.run_id, "add-2", "succeeded", 1, {"value": 1}),
            RunChanged(record.run_id, "succeeded", t0 + timedelta(seconds=5), None, {}),
        ]
    )
    return record.run_id


def test_every_admin_page_needs_a_login(people: dict[str, Api]) -> None:
    from django.test import Client

    for path in ("/", "/admin/", "/admin/rainbow/run/", "/admin/rainbow/auditentry/"):
        response = Client().get(path, follow=True)
        assert response.redirect_chain, path
        assert response.redirect_chain[-1][0].startswith("/admin/login/"), path


def test_a_runs_page_shows_its_timeline_attempts_and_logs(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    run_id = a_run_with_a_retry(registered["spec"], 0.9)
    page = browser("alice").get(f"/admin/rainbow/run/{run_id}/change/").content.decode()
    assert 'class="rainbow-timeline"' in page
    assert page.count('data-status="failed"') == 1 and page.count('data-status="succeeded"') == 2
    assert "bad &lt;input&gt;" in page and "bad <input>" not in page
    assert f"https://grafana.example/explore?run={run_id}" in page


def test_a_pipelines_page_charts_its_metrics_over_runs(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    register(people["alice"], registered["spec"])
    for quality in (0.5, 0.7, 0.9):
        a_run_with_a_retry(registered["spec"], quality)
    from rainbow.control.models import Pipeline

    pipeline = Pipeline.objects.get(name="pair-v11")
    page = browser("alice").get(f"/admin/rainbow/pipeline/{pipeline.pk}/change/").content.decode()
    assert "add/quality (last 0.9; min 0.5, max 0.9, 3 runs)" in page
    assert page.count("<circle") == 3


def test_a_pipeline_versions_page_draws_its_dag(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    register(people["alice"], registered["spec"])
    from rainbow.control.models import PipelineVersion

    version = PipelineVersion.objects.get()
    page = browser("alice").get(f"/admin/rainbow/pipelineversion/{version.pk}/change/")
    drawn = page.content.decode()
    assert 'class="graph"' in drawn and "<title>step/add&#45;2</title>" in drawn  # Graphviz


@pytest.mark.parametrize(("who", "approved"), [("alice", False), ("bob", True)])
def test_the_approve_action_keeps_the_role_rules(
    registered: dict[str, Any], people: dict[str, Api], who: str, approved: bool
) -> None:
    register(people["carol"], registered["spec"])
    from rainbow.control.models import Approval, PipelineVersion

    version = PipelineVersion.objects.get()
    client = browser(who)
    response = client.post(
        "/admin/rainbow/pipelineversion/",
        {"action": "approve", "_selected_action": [version.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert Approval.objects.filter(version=version).exists() is approved
    if not approved:
        assert "cannot approve pipeline versions" in response.content.decode()


def test_a_pipeline_version_registers_from_the_admin_with_the_same_checks(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    import json

    from rainbow.control.models import AuditEntry, PipelineVersion

    client = browser("alice")
    broken = {**registered["spec"], "steps": [{**registered["spec"]["steps"][0], "version": "9.9"}]}
    broken.pop("spec_hash")
    form = {"kind": "system-default", "source_commit": "abc"}
    refused = client.post(
        "/admin/rainbow/pipelineversion/add/", {**form, "spec_json": json.dumps(broken)}
    )
    assert refused.status_code == 200 and "RB-E017" in refused.content.decode()
    assert not PipelineVersion.objects.exists()
    added = client.post(
        "/admin/rainbow/pipelineversion/add/", {**form, "spec_json": json.dumps(registered["spec"])}
    )
    assert added.status_code == 302
    version = PipelineVersion.objects.get()
    assert (version.author.username, version.source_commit) == ("alice", "abc")  # type: ignore[union-attr]
    assert AuditEntry.objects.filter(action="pipeline.register", actor_name="alice").exists()


def test_only_admins_retire_from_the_admin_and_runs_are_cancelled_there(
    registered: dict[str, Any], people: dict[str, Api], executor: Any
) -> None:
    from rainbow.control.models import ModuleVersion

    latest = ModuleVersion.objects.get(version="latest")
    for who, status in [("bob", "live"), ("dana", "retired")]:
        browser(who).post(
            "/admin/rainbow/moduleversion/",
            {"action": "mark_retired", "_selected_action": [latest.pk]},
        )
        latest.refresh_from_db()
        assert latest.status == status, who
    version = register(people["alice"], registered["spec"])
    body = {
        "pipeline": "pair-v11",
        "environment": "staging",
        "version": version,
        "units": [{"x": 1}],
    }
    (run_id,) = people["alice"].post("/runs", body).json()["run_ids"]
    browser("alice").post("/admin/rainbow/run/", {"action": "cancel", "_selected_action": [run_id]})
    assert executor.cancelled == [run_id]


@pytest.mark.parametrize("versions", [1, 8])
def test_the_pipeline_versions_list_costs_the_same_queries_for_any_length(
    registered: dict[str, Any],
    people: dict[str, Api],
    django_assert_max_num_queries: Any,
    versions: int,
) -> None:
    for timeout in range(10, 10 + versions):
        spec = {**registered["spec"], "timeout": float(timeout)}
        spec.pop("spec_hash")
        register(people["alice"], spec)
    client = browser("alice")
    with django_assert_max_num_queries(10):
        assert client.get("/admin/rainbow/pipelineversion/").status_code == 200


def test_admins_change_roles_in_the_user_admin_and_the_audit_log_says_so(
    people: dict[str, Api],
) -> None:
    from django.contrib.auth.models import Group, User

    from rainbow.control.models import AuditEntry

    alice = User.objects.get(username="alice")
    form = {
        "username": "alice",
        "is_active": "on",
        "is_staff": "on",
        "groups": [Group.objects.get(name="approver").pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    saved = browser("dana").post(f"/admin/auth/user/{alice.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    entry = AuditEntry.objects.get(action="user.role", target="alice")
    assert entry.actor_name == "dana" and entry.detail["groups"] == ["approver"]
    assert entry.detail["was"]["groups"] == ["researcher"]


def test_researchers_and_approvers_cannot_open_the_user_admin(people: dict[str, Api]) -> None:
    for who in ("alice", "bob"):
        assert browser(who).get("/admin/auth/user/").status_code == 403


def test_only_admins_see_other_peoples_tokens_and_nobody_sees_digests(
    people: dict[str, Api],
) -> None:
    from rainbow.control.models import ApiToken

    danas = ApiToken.objects.get(user__username="dana")
    assert browser("alice").get(f"/admin/rainbow/apitoken/{danas.pk}/change/").status_code == 302
    listed = browser("alice").get("/admin/rainbow/apitoken/").content.decode()
    assert danas.prefix not in listed
    page = browser("dana").get(f"/admin/rainbow/apitoken/{danas.pk}/change/").content.decode()
    assert danas.prefix in page and danas.digest not in page


def test_a_default_rolls_back_from_the_admin(
    registered: dict[str, Any], people: dict[str, Api], executor: Any
) -> None:
    from rainbow.control.models import DefaultPointer
    from tests.control.test_api import two_defaults_in_prod

    versions = two_defaults_in_prod(people, executor, registered["spec"])
    pointer = DefaultPointer.objects.get()
    for who in ("alice", "bob"):
        browser(who).post(
            "/admin/rainbow/defaultpointer/",
            {"action": "roll_back", "_selected_action": [pointer.pk]},
        )
    pointer.refresh_from_db()
    assert pointer.version.spec_hash.removeprefix("sha256:").startswith(versions[0])
    assert people["bob"].get("/audit?action=default.rollback").json()["count"] == 1


def a_chain(spec: dict[str, Any], length: int) -> dict[str, Any]:
    """The pair spec stretched to ``length`` add steps, each reading the one before."""
    first = spec["steps"][0]
    steps = [{**first, "id": "add"}] + [
        {**first, "id": f"add-{i}", "inputs": {"value": {"step": previous, "output": "value"}}}
        for i, previous in enumerate(["add"] + [f"add-{i}" for i in range(2, length)], start=2)
    ]
    outputs = {"result": {"step": steps[-1]["id"], "output": "value"}}
    return {k: v for k, v in spec.items() if k != "spec_hash"} | {
        "steps": steps,
        "outputs": outputs,
    }


NESTED = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("paste", "expected"),
    [
        (lambda spec: NESTED, "RB-E006"),
        (lambda spec: json.dumps(spec | {"name": "x" * 5_000}), "at most 200 are allowed"),
        (lambda spec: json.dumps(spec).replace('"pair-v11"', '"pair\\u0000"', 1), "RB-E006"),
        (lambda spec: json.dumps(spec).replace('"x"', '"\\ud800"', 1), "lone surrogate"),
        (lambda spec: json.dumps(spec | {"timeout": float("nan")}), "NaN"),
        (lambda spec: json.dumps(spec | {"junk": "x" * 2_200_000}), "RB-E005"),
        (lambda spec: json.dumps(a_chain(spec, 2_001)), "2,001 steps; at most 2,000"),
        (lambda spec: '{"timeout": ' + "9" * 5_000 + "}", "RB-E001"),
    ],
    ids=["nested", "long-name", "nul", "surrogate", "nan", "huge", "many-steps", "huge-int"],
)
def test_a_bad_paste_is_a_form_error_never_a_500(
    registered: dict[str, Any], people: dict[str, Api], paste: Any, expected: str
) -> None:
    """Whatever is pasted into the register form (JSON nested 100,000 deep, an escaped NUL, a
    lone surrogate, NaN, megabytes, thousands of steps, a 5,000-digit number) comes back as the
    form's errors, and nothing is registered."""
    from rainbow.control.models import PipelineVersion

    spec = {k: v for k, v in registered["spec"].items() if k != "spec_hash"}
    page = browser("alice").post(
        "/admin/rainbow/pipelineversion/add/",
        {"kind": "system-default", "source_commit": "", "spec_json": paste(spec)},
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert 'class="errorlist' in text and expected in text
    assert not PipelineVersion.objects.exists()


def test_a_paste_that_is_not_utf8_is_a_form_error(people: dict[str, Api]) -> None:
    """Bytes that are not UTF-8 in the form's body end as a JSON error on the form."""
    page = browser("alice").post(
        "/admin/rainbow/pipelineversion/add/",
        b"kind=system-default&source_commit=&spec_json=%7B%22name%22%3A%20%22%FF%FE%22",
        content_type="application/x-www-form-urlencoded",
    )
    assert page.status_code == 200 and "RB-E001" in page.content.decode()


def test_a_large_versions_page_offers_its_spec_instead_of_drawing_it(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """Over 200 steps the page says so and links the spec, which downloads as compiled text."""
    from rainbow.control.models import PipelineVersion
    from rainbow.control.web.admin import DAG_MAX_STEPS
    from rainbow.spec.canonical import dumps_data

    register(people["alice"], a_chain(registered["spec"], DAG_MAX_STEPS + 1))
    version = PipelineVersion.objects.get()
    client = browser("alice")
    page = client.get(f"/admin/rainbow/pipelineversion/{version.pk}/change/")
    text = page.content.decode()
    assert 'class="graph"' not in text  # no Graphviz drawing
    assert "201 steps and 201 wired inputs are more than" in text
    assert len(page.content) < 100_000
    link = f"/admin/rainbow/pipelineversion/{version.pk}/spec.json"
    assert f'href="{link}"' in text
    download = client.get(link)
    assert download.status_code == 200
    assert download["Content-Disposition"] == (
        f'attachment; filename="pair-v11-{version.short_hash}.json"'
    )
    assert download.content.decode() == dumps_data(version.spec)
    from django.test import Client

    assert Client().get(link).status_code == 302  # to the login page


@pytest.mark.slow
def test_a_nul_in_an_admin_address_is_a_400_not_a_500_on_postgresql(
    postgres_plane: Plane,
) -> None:
    """A NUL character in a filter, a search or a row id of any admin page, Rainbow's, Django's
    or django-axes' (PostgreSQL cannot even compare it), is a 400 that says so, never a server
    error; the same addresses without it answer as they would."""
    import http.cookiejar
    import re
    import urllib.error
    import urllib.parse
    import urllib.request

    postgres_plane.rainbow(
        "createuser", "dana", "--role", "admin", "--password-stdin", stdin=PASSWORD
    )
    session = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    login = f"{postgres_plane.url}/admin/login/"
    form = session.open(login).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert csrf is not None
    credentials = {"username": "dana", "password": PASSWORD, "csrfmiddlewaretoken": csrf[1]}
    credentials["next"] = "/admin/"
    session.open(
        urllib.request.Request(
            login, urllib.parse.urlencode(credentials).encode(), headers={"Referer": login}
        )
    ).close()
    for path in [
        "/admin/rainbow/run/?status=%00",
        "/admin/rainbow/run/?q=a%00",
        "/admin/rainbow/attempt/?module=add%00",
        "/admin/auth/user/?username=%00",
        "/admin/auth/group/?q=%00",
        "/admin/axes/accessattempt/?q=%00",
        "/admin/rainbow/run/run%001/change/",
    ]:
        with pytest.raises(urllib.error.HTTPError) as refused:
            session.open(f"{postgres_plane.url}{path}")
        assert refused.value.code == 400, path
        assert "NUL character" in refused.value.read().decode(), path
        clean = path.replace("%00", "")
        try:
            answered = session.open(f"{postgres_plane.url}{clean}").status
        except urllib.error.HTTPError as exc:  # a row that does not exist, a page admins lack
            answered = exc.code
        assert answered in (200, 403, 404), (clean, answered)
