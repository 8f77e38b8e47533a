"""One grammar of module versions (the spec's), one shape of a run on the wire, and refusals that
keep their diagnostic id and HTTP status."""

from __future__ import annotations

import dataclasses
import io
import json
import urllib.error
from typing import Any

import pytest

from rainbow.cli.remote import ControlPlane, RemoteError, RemoteStore, _refusal
from rainbow.control.web.answers import AttemptOut, RunOut, StepOut
from rainbow.engine.records import AttemptView, RunSummary, StepView
from tests.control.conftest import Api


@pytest.mark.parametrize("version", ["1", "1.2.3.4", "v1.2", "1." + "2" * 40])
def test_a_module_version_outside_the_specs_grammar_is_refused_saying_what_a_version_is(
    registered: dict[str, Any], people: dict[str, Api], version: str
) -> None:
    """No version is registered that no pipeline could pin."""
    answer = people["alice"].post(
        "/modules/add/versions", {"version": version, "interface": registered["interface"]}
    )

    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"][-1] == "version"
    assert f"{version!r} is not a module version" in error["msg"]
    assert "`latest`, X.Y, X.Y.Z or a branch build" in error["msg"]


@pytest.mark.parametrize("version", ["latest", "1.2", "1.2.3"])
def test_a_module_version_in_the_specs_grammar_is_registered(
    registered: dict[str, Any], people: dict[str, Api], version: str
) -> None:
    answer = people["alice"].post(
        "/modules/add/versions", {"version": version, "interface": registered["interface"]}
    )

    assert answer.status_code in (200, 201)
    assert answer.json()["version"] == version


def test_the_registry_itself_refuses_a_version_outside_the_grammar(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """Callers other than the API (the admin, `rainbow module register` on the database)."""
    from django.contrib.auth.models import User

    from rainbow.control.services import registry
    from rainbow.control.services.refusals import Invalid

    with pytest.raises(Invalid, match="'1' is not a module version"):
        registry.register_module_version(
            "add", "1", registered["interface"], by=User.objects.get(username="alice")
        )


def test_a_refusal_with_a_diagnostic_id_carries_it_in_the_problem_body(
    people: dict[str, Api],
) -> None:
    answer = people["alice"].get("/runs/nope")

    assert answer.status_code == 404
    assert answer.json() == {
        "detail": "no run nope",
        "hint": "list runs: GET /api/runs",
        "diagnostics": [],
        "code": "RB-E050",
    }


def test_a_refusal_without_one_has_no_code(people: dict[str, Api]) -> None:
    assert "code" not in people["alice"].get("/modules/nope").json()


@pytest.mark.parametrize(
    ("answer", "view"), [(AttemptOut, AttemptView), (StepOut, StepView), (RunOut, RunSummary)]
)
def test_the_answers_carry_the_engines_views_field_for_field(answer: Any, view: Any) -> None:
    """A field added to a view reaches the API and the CLI, or this fails. A run's answer adds
    who submitted it and where; its summary adds the lease, which the API does not show."""
    answered = set(answer.model_fields)
    viewed = {field.name for field in dataclasses.fields(view)}
    if view is RunSummary:
        assert answered - viewed == {"environment", "submitted_by"}
        assert viewed - answered == {"owner", "lease_until"}
    else:
        assert answered == viewed


class Refusing(ControlPlane):
    """A control plane that answers every call with one HTTP refusal."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:  # no URL or token to check
        self.status, self.body = status, body

    def call(self, method: str, path: str, body: Any = None) -> Any:
        raw = io.BytesIO(json.dumps(self.body).encode())
        raise _refusal(urllib.error.HTTPError(path, self.status, "refused", {}, raw))  # type: ignore[arg-type]


def test_the_clients_refusals_keep_their_http_status_and_diagnostic_id() -> None:
    plane = Refusing(409, {"detail": "already ended", "hint": None, "code": "RB-E099"})

    with pytest.raises(RemoteError) as refused:
        RemoteStore(plane).get_run("r1")

    assert (refused.value.status, refused.value.code) == (409, "RB-E099")


def test_a_run_the_control_plane_does_not_have_is_none_for_the_client() -> None:
    """Told by the status, not by a message's text."""
    plane = Refusing(404, {"detail": "no run r1", "code": "RB-E050"})

    assert RemoteStore(plane).get_run("r1") is None
