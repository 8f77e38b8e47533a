"""Approvals count toward promotion only while their approver may still approve, on SQLite and
PostgreSQL, and the admin and the API show the count the gate uses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.control.conftest import Api, register

SMOKE = {"units": [{"x": 1}]}


@pytest.fixture(params=["sqlite_database", "postgres_database"])
def alias(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def approved_by_everyone(alias: str) -> Any:
    """A version approved by bob and carol (approvers), dana (admin) and eve (a superuser in no
    group); then carol is demoted to researcher and dana deactivated."""
    from django.contrib.auth.models import Group, User

    from rainbow.control.models import Approval, Pipeline, PipelineVersion

    users = User.objects.db_manager(alias)
    groups = Group.objects.using(alias)
    people = {}
    for name, role in [("bob", "approver"), ("carol", "approver"), ("dana", "admin")]:
        people[name] = users.create_user(name)
        people[name].groups.set([groups.get(name=role)])
    people["eve"] = users.create_superuser("eve")
    pipeline = Pipeline.objects.using(alias).create(name="pair-v11")
    version = PipelineVersion.objects.using(alias).create(
        pipeline=pipeline, spec_hash="sha256:" + "ab" * 32, spec={}
    )
    for user in people.values():
        Approval.objects.using(alias).create(version=version, approver=user)
    people["carol"].groups.set([groups.get(name="researcher")])
    people["dana"].is_active = False
    people["dana"].save(update_fields=["is_active"])
    return version


def test_the_gate_counts_only_approvers_who_may_still_approve(alias: str) -> None:
    """A demoted approver's and a deactivated admin's approvals stay on record but do not count;
    an approver's, and a superuser's without any group, do."""
    from rainbow.control.services.release import counting

    version = approved_by_everyone(alias)
    counted = version.approvals.filter(counting()).values_list("approver__username", flat=True)
    assert sorted(counted) == ["bob", "eve"]
    assert version.approvals.count() == 4


def test_the_admin_and_the_api_show_the_count_the_gate_uses(alias: str) -> None:
    """The admin's approvals column and the API's `approvals` hold the counted approvals; the
    API lists the others as `lapsed_approvals`; each in a constant number of queries."""
    from django.contrib.admin.sites import site
    from django.db import connections
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from rainbow.control.models import PipelineVersion
    from rainbow.control.web.api import pipelines

    version = approved_by_everyone(alias)
    listing = site._registry[PipelineVersion].get_queryset(RequestFactory().get("/"))
    (row,) = listing.using(alias)
    assert row.approval_count == 2
    with CaptureQueriesContext(connections[alias]) as queries:
        (shown,) = pipelines._versions().using(alias).filter(pk=version.pk)
        out = pipelines._summary(shown, {})
    assert (out.approvals, out.lapsed_approvals) == (["bob", "eve"], ["carol", "dana"])
    assert len(queries) == 2


def test_promotion_is_refused_once_an_approver_is_demoted(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """Two approvals, then one approver loses the role: promoting is a 409 saying one approval
    no longer counts, until a current approver approves."""
    from django.contrib.auth.models import Group, User

    bob = people["bob"]
    version = register(people["alice"], registered["spec"])
    path = f"/pipelines/pair-v11/versions/{version}"
    for approver in ("bob", "carol"):
        assert people[approver].post(f"{path}/approve").status_code == 200
    assert bob.put("/pipelines/pair-v11/smoke-units", SMOKE).status_code == 200
    User.objects.get(username="carol").groups.set([Group.objects.get(name="researcher")])
    refused = bob.post(f"{path}/promote", {"environment": "prod"})
    assert refused.status_code == 409
    assert "has 1 of the 2 approvals" in refused.json()["detail"]
    assert "1 more from approvers who no longer hold the approver role" in refused.json()["detail"]
    shown = bob.get(path).json()
    assert (shown["approvals"], shown["lapsed_approvals"]) == (["bob"], ["carol"])
    assert people["dana"].post(f"{path}/approve").status_code == 200
    assert bob.post(f"{path}/promote", {"environment": "prod"}).status_code == 202
