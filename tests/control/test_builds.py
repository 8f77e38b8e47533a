"""Released builds in the registry: latest moves, a release is made once, hot fixes keep the
contract, nothing is released into a retired version; through the service and the API."""

from __future__ import annotations

from typing import Any

import pytest

from rainbow.errors import UserError
from tests.control.conftest import Api, interface_of
from tests.engine import modules_for_tests

ADD = interface_of(modules_for_tests.add)


def release(kind: str, version: str, commit: str, interface: dict[str, Any] | None = None) -> Any:
    from rainbow.control.services.builds import Release, record_release

    return record_release(
        Release(
            module="add",
            version=version,
            kind=kind,
            commit=commit,
            ref={"latest": "main", "release": version, "hotfix": f"release-{version}"}.get(
                kind, "feature"
            ),
            artifact_url=f"/artifacts/add/{commit}",
            artifact_hash="sha256:" + (commit * 64)[:64],
            interface=interface or ADD,
            released_by="Ada <ada@example.com>",
        ),
        by=None,
    )


def refusal(code: str, *args: Any) -> UserError:
    with pytest.raises(UserError) as caught:
        release(*args)
    assert caught.value.code == code, caught.value
    assert caught.value.hint
    return caught.value


def with_input(name: str, *, default: bool) -> dict[str, Any]:
    port = {"type": "integer", "required": not default, "default": 0 if default else None}
    return {**ADD, "inputs": {**ADD["inputs"], name: port}}


def test_latest_moves_in_place_and_keeps_its_history(sqlite_database: str) -> None:
    from rainbow.control.models import AuditEntry
    from rainbow.control.services.builds import history

    assert release("latest", "latest", "a1").outcome == "created"
    assert release("latest", "latest", "a1").outcome == "unchanged"
    moved = release("latest", "latest", "b2")
    assert (moved.outcome, moved.row.commit) == ("moved", "b2")
    assert [(b.label, b.commit) for b in history(moved.row)] == [("latest", "a1"), ("latest", "b2")]
    assert AuditEntry.objects.filter(action="module.latest").count() == 2


def test_a_release_is_made_once_and_its_tag_cannot_move(sqlite_database: str) -> None:
    assert release("release", "1.0", "a1").outcome == "created"
    assert release("release", "1.0", "a1").outcome == "unchanged"
    problem = refusal("RB-E068", "release", "1.0", "b2")
    assert "never moves by a tag" in problem.message


def test_hot_fixes_are_numbered_and_the_tag_released_again_changes_nothing(
    sqlite_database: str,
) -> None:
    from rainbow.control.services.builds import history

    release("release", "1.0", "a1")
    first = release("hotfix", "1.0", "c3")
    second = release("hotfix", "1.0", "d4", with_input("bias", default=True))
    assert (first.label, second.label) == ("1.0.1", "1.0.2")
    assert second.row.commit == "d4"
    again = release("release", "1.0", "a1")  # CI re-runs the tag's build
    assert (again.outcome, again.label, again.row.commit) == ("unchanged", "1.0.2", "d4")
    assert [b.label for b in history(second.row)] == ["1.0", "1.0.1", "1.0.2"]


@pytest.mark.parametrize(
    ("interface", "change"),
    [
        ({**ADD, "inputs": {"value": ADD["inputs"]["value"]}}, "input 'other' was removed"),
        (
            {**ADD, "inputs": {**ADD["inputs"], "value": {"type": "string", "required": False}}},
            "input 'value' changed type integer → string",
        ),
        (
            {**ADD, "inputs": {**ADD["inputs"], "value": {"type": "integer", "required": True}}},
            "input 'value' lost its default",
        ),
        (with_input("scale", default=False), "new input 'scale' has no default"),
        ({**ADD, "outputs": {"value": ADD["outputs"]["value"]}}, "output 'started' was removed"),
    ],
)
def test_a_hot_fix_that_breaks_the_interface_is_refused_naming_the_pins(
    people: dict[str, Api], interface: dict[str, Any], change: str
) -> None:
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.spec.canonical import spec_to_dict
    from tests.control.conftest import register
    from tests.distributed import pipelines

    release("release", "1.1", "a1")
    spec, _ = compile_pipeline(pipelines.pair_v11)
    register(people["alice"], spec_to_dict(spec))
    problem = refusal("RB-E069", "hotfix", "1.1", "e5", interface)
    assert change in problem.message
    assert f"Pipelines pinning add@1.1: {spec.name} {spec.spec_hash[:19]}" in problem.message


def test_a_hot_fix_needs_its_release_first(sqlite_database: str) -> None:
    assert "never released" in refusal("RB-E083", "hotfix", "2.0", "a1").message


def test_nothing_is_released_into_a_retired_version(sqlite_database: str) -> None:
    from rainbow.control.services.builds import set_status

    release("release", "1.0", "a1")
    set_status("add", "1.0", "retired", reason="wrong maths", by=None, actor_name="ops")
    assert "wrong maths" in refusal("RB-E083", "hotfix", "1.0", "b2").message


def test_retiring_keeps_the_reason_and_is_audited(sqlite_database: str) -> None:
    from rainbow.control.models import AuditEntry
    from rainbow.control.services.builds import released, set_status

    release("release", "1.0", "a1")
    set_status("add", "1.0", "retired", reason="superseded by 2.0", by=None, actor_name="ops")
    found = released("add", "1.0")
    assert found is not None and found.retired and found.reason == "superseded by 2.0"
    entry = AuditEntry.objects.get(action="module.retired")
    assert (entry.actor_name, entry.detail["reason"]) == ("ops", "superseded by 2.0")


def test_the_api_records_releases_and_shows_the_history(people: dict[str, Api]) -> None:
    body = {
        "version": "1.0",
        "kind": "release",
        "commit": "a" * 40,
        "ref": "1.0",
        "artifact_url": "s3://bucket/add/aa",
        "artifact_hash": "sha256:" + "a" * 64,
        "interface": ADD,
        "released_by": "Ada <ada@example.com>",
    }
    created = people["alice"].post("/modules/add/releases", body)
    assert created.status_code == 201, created.content
    assert created.json()["label"] == "1.0"
    again = people["alice"].post("/modules/add/releases", body)
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    moved = people["alice"].post("/modules/add/releases", {**body, "commit": "b" * 40})
    assert moved.status_code == 409 and moved.json()["code"] == "RB-E068"
    shown = people["alice"].get("/modules/add/versions/1.0").json()
    assert shown["artifact_hash"] == body["artifact_hash"]
    assert [b["label"] for b in shown["builds"]] == ["1.0"]
    assert people["nobody"].post("/modules/add/releases", body).status_code == 401
    bad = people["alice"].post("/modules/add/releases", {**body, "artifact_hash": "md5:x"})
    assert bad.status_code == 422


def test_only_admins_retire_through_the_api_with_the_reason(people: dict[str, Api]) -> None:
    release("release", "1.0", "a1")
    path = "/modules/add/versions/1.0/status"
    body = {"status": "retired", "reason": "broken on night photos"}
    assert people["alice"].post(path, body).status_code == 403
    answer = people["dana"].post(path, body)
    assert answer.status_code == 200, answer.content
    assert answer.json()["status_reason"] == "broken on night photos"


def test_the_admin_shows_a_versions_artifact_and_history(people: dict[str, Api]) -> None:
    from rainbow.control.models import ModuleVersion
    from tests.control.test_admin import browser

    release("release", "1.0", "a1")
    release("hotfix", "1.0", "b2")
    row = ModuleVersion.objects.get(version="1.0")
    page = browser("alice").get(f"/admin/rainbow/moduleversion/{row.pk}/change/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "1.0: a1 from 1.0, by Ada &lt;ada@example.com&gt;" in text
    assert "1.0.1: b2 from release-1.0" in text
    assert row.artifact_hash in text


def test_only_one_off_pipelines_may_pin_a_branch_build(people: dict[str, Api]) -> None:
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.spec.canonical import spec_to_dict
    from tests.distributed import pipelines

    release("branch", "branch-faster", "a1")
    spec, _ = compile_pipeline(pipelines.pair_v11)
    data = spec_to_dict(spec)
    for step in data["steps"]:
        step["version"] = "branch-faster"
    data.pop("spec_hash")
    refused = people["alice"].post("/pipelines", {"spec": data, "kind": "system-default"})
    assert refused.status_code == 422
    assert "only one-off pipelines may" in refused.json()["detail"]
    accepted = people["alice"].post("/pipelines", {"spec": data, "kind": "one-off"})
    assert accepted.status_code == 201, accepted.content


@pytest.mark.parametrize(
    ("kind", "version"),
    [("latest", "1.0"), ("release", "latest"), ("hotfix", "branch-x"), ("branch", "2.0")],
)
def test_a_release_kind_must_fit_its_version(sqlite_database: str, kind: str, version: str) -> None:
    with pytest.raises(UserError, match=f"a {kind} release cannot be version"):
        release(kind, version, "a1")


def test_a_version_never_released_with_a_build_cannot_be_hot_fixed(sqlite_database: str) -> None:
    from rainbow.control.services.registry import register_module_version

    register_module_version("add", "3.0", ADD, by=None)  # a worker of local code announced it
    assert "registered without a release" in refusal("RB-E083", "hotfix", "3.0", "b2").message


def test_an_older_commit_released_again_does_not_move_the_version_back(
    sqlite_database: str,
) -> None:
    release("latest", "latest", "a1")
    release("latest", "latest", "b2")
    again = release("latest", "latest", "a1")  # a CI job of the first commit, re-run
    assert (again.outcome, again.row.commit) == ("unchanged", "b2")


def test_the_modules_of_one_build_are_recorded_all_or_none(sqlite_database: str) -> None:
    from rainbow.control.models import ModuleVersion
    from rainbow.control.services.builds import Release, record_releases

    release("release", "1.0", "a1")

    def of(module: str) -> Release:
        interface = {**ADD, "name": module}
        return Release(
            module, "1.0", "release", "b2", "1.0", "/a/b2", "sha256:" + "b" * 64, interface, "Ada"
        )

    with pytest.raises(UserError) as caught:
        record_releases([of("sub"), of("add")], by=None)  # add@1.0 exists at a1: refused
    assert caught.value.code == "RB-E068"
    assert not ModuleVersion.objects.filter(module__name="sub").exists()
