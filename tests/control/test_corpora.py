"""Corpus versions in the control plane: registered once by their content hash, through the API
or straight into the store, audited, listed, and refused when a version would change."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rainbow.evaluate import corpus
from rainbow.evaluate.corpus import Registration
from tests.control.conftest import Api

MADE_AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def registration(folder: Path, *, seed: str = "a", **terms: Any) -> Registration:
    """A corpus of two units made in ``folder`` (its bytes from ``seed``), as registered."""
    for name in ("one", "two"):
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "unit.json").write_text(json.dumps({"photo": "photo.jpg"}))
        (folder / name / "photo.jpg").write_text(f"{seed}-{name}")
    given = {
        "name": "rooms",
        "version": "1",
        "licence": "CC-BY-4.0",
        "use": "research",
        "source": "made in a test",
        "made_by": "tests",
        "made_at": MADE_AT,
    }
    return Registration.of(corpus.init(folder, **{**given, **terms}, force=True))


def body(registered: Registration) -> dict[str, Any]:
    return registered.model_dump(mode="json")


@pytest.fixture(params=["sqlite_database", "postgres_database"])
def alias(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def test_a_researcher_registers_a_corpus_version_once(
    people: dict[str, Api], tmp_path: Path
) -> None:
    """The first POST creates the version (201), the same content again is unchanged (200);
    both answer the recorded version, and the registration is audited."""
    alice = people["alice"]
    sent = registration(tmp_path / "c")
    created = alice.post("/corpora", body(sent))
    assert created.status_code == 201, created.content
    answer = created.json()
    assert answer["outcome"] == "created"
    assert answer["version"] | {"registered_at": None} == {
        "name": "rooms",
        "version": "1",
        "content_hash": sent.content_hash,
        "licence": "CC-BY-4.0",
        "use": "research",
        "description": "",
        "provenance": {
            "source": "made in a test",
            "made_by": "tests",
            "made_at": "2026-12-07T12:00:00Z",
        },
        "unit_count": 2,
        "registered_by": "alice",
        "registered_at": None,
    }
    again = alice.post("/corpora", body(sent))
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    (entry,) = alice.get("/audit?action=corpus.register").json()["items"]
    assert (entry["actor"], entry["target"]) == ("alice", "rooms@1")
    assert entry["detail"]["content_hash"] == sent.content_hash


def test_the_units_are_kept_with_the_version(people: dict[str, Api], tmp_path: Path) -> None:
    """The row keeps the manifest as sent, units included."""
    from rainbow.control.models import CorpusVersion

    sent = registration(tmp_path / "c")
    assert people["alice"].post("/corpora", body(sent)).status_code == 201
    kept = CorpusVersion.objects.get().manifest
    assert [unit["name"] for unit in kept["units"]] == ["one", "two"]
    assert kept["corpus"]["licence"] == "CC-BY-4.0"


def test_a_registration_without_its_units_is_kept_without_them(
    people: dict[str, Api], tmp_path: Path
) -> None:
    """A corpus too large to send its units registers by hash and count alone."""
    from rainbow.control.models import CorpusVersion

    sent = registration(tmp_path / "c").model_copy(update={"units": None})
    assert people["alice"].post("/corpora", body(sent)).status_code == 201
    row = CorpusVersion.objects.get()
    assert "units" not in row.manifest and row.unit_count == 2


def test_corpora_are_listed_and_shown_by_name(people: dict[str, Api], tmp_path: Path) -> None:
    """GET /api/corpora pages every version; GET /api/corpora/NAME its versions, newest first;
    an unknown name is a 404 with a hint; a filter by use keeps only that use."""
    alice = people["alice"]
    for version, seed in (("1", "a"), ("2", "b")):
        sent = registration(tmp_path / version, seed=seed, version=version)
        assert alice.post("/corpora", body(sent)).status_code == 201
    other = registration(tmp_path / "k", seed="k", name="kitchens", use="production")
    assert alice.post("/corpora", body(other)).status_code == 201
    page = people["bob"].get("/corpora").json()
    assert page["count"] == 3
    assert [(r["name"], r["version"]) for r in page["items"]] == [
        ("kitchens", "1"),
        ("rooms", "2"),
        ("rooms", "1"),
    ]
    assert [r["name"] for r in alice.get("/corpora?use=production").json()["items"]] == ["kitchens"]
    shown = alice.get("/corpora/rooms").json()
    assert (shown["name"], [v["version"] for v in shown["versions"]]) == ("rooms", ["2", "1"])
    missing = alice.get("/corpora/nothing")
    assert missing.status_code == 404 and "rainbow corpus register" in missing.json()["hint"]


def test_a_version_never_changes_what_it_holds(people: dict[str, Api], tmp_path: Path) -> None:
    """Other files, another licence or another use under a registered name and version are
    409 RB-E097 saying to bump the version; the same units under a second name are 409 too."""
    alice = people["alice"]
    assert alice.post("/corpora", body(registration(tmp_path / "c"))).status_code == 201
    for changed in (
        registration(tmp_path / "files", seed="b"),
        registration(tmp_path / "licence", licence="MIT"),
        registration(tmp_path / "use", use="production"),
    ):
        refused = alice.post("/corpora", body(changed))
        assert refused.status_code == 409, refused.content
        assert refused.json()["code"] == "RB-E097"
        assert "new version" in refused.json()["hint"]
    twin = alice.post("/corpora", body(registration(tmp_path / "twin", version="2")))
    assert twin.status_code == 409 and "registered already as rooms@1" in twin.json()["detail"]
    assert len(alice.get("/corpora").json()["items"]) == 1


def test_units_that_disagree_with_their_hash_are_refused(
    people: dict[str, Api], tmp_path: Path
) -> None:
    """Units that do not hash to the content hash sent are a 422 with RB-E093 diagnostics."""
    sent = body(registration(tmp_path / "c"))
    sent["content_hash"] = "sha256:" + "0" * 64
    refused = people["alice"].post("/corpora", sent)
    assert refused.status_code == 422
    assert refused.json()["code"] == "RB-E093"
    assert [d["code"] for d in refused.json()["diagnostics"]] == ["RB-E093"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (("corpus", "licence"), "Made-Up-1.0"),
        (("corpus", "use"), "anything"),
        (("corpus", "name"), "Rooms!"),
        (("corpus", "description"), "nul \x00 here"),
        (("provenance", "made_at"), "2026-12-07T12:00:00"),
        (("units",), [{"name": "../up", "files": {"../up.json": "sha256:" + "0" * 64}}]),
        (("unit_count",), 0),
    ],
)
def test_a_registration_the_rules_refuse_is_a_4xx(
    people: dict[str, Api], tmp_path: Path, field: tuple[str, ...], value: Any
) -> None:
    """A bad licence, use, name, storable text, naive moment, unsafe path or count is refused
    before anything is recorded."""
    from rainbow.control.models import CorpusVersion

    sent = body(registration(tmp_path / "c"))
    inner = sent
    for key in field[:-1]:
        inner = inner[key]
    inner[field[-1]] = value
    response = people["alice"].post("/corpora", sent)
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["detail"]
    assert not CorpusVersion.objects.exists()


def test_without_a_role_nothing_is_registered_or_read(
    people: dict[str, Api], tmp_path: Path
) -> None:
    """A user in no role is a 401 for every corpus endpoint."""
    from django.contrib.auth.models import User

    from rainbow.control.services import tokens

    _, token = tokens.issue(User.objects.create_user("nemo"), "t")
    nemo = Api(people["alice"].client, token)
    assert nemo.post("/corpora", body(registration(tmp_path / "c"))).status_code == 401
    assert nemo.get("/corpora").status_code == 401
    assert people["nobody"].get("/corpora/rooms").status_code == 401


def test_the_store_registers_the_same_way_on_each_database(alias: str, tmp_path: Path) -> None:
    """Without a control plane: created, then unchanged, then refused for other content, on
    SQLite and PostgreSQL, audited under the name the CLI gives."""
    from rainbow.control.models import AuditEntry, CorpusVersion
    from rainbow.control.services import corpora
    from rainbow.control.services.refusals import Conflict

    sent = registration(tmp_path / "c")
    first = corpora.register(sent, by=None, actor_name="ada", using=alias)
    assert (first.outcome, first.row.registered_by_name) == ("created", "ada")
    assert corpora.register(sent, by=None, actor_name="ada", using=alias).outcome == "unchanged"
    with pytest.raises(Conflict) as caught:
        corpora.register(registration(tmp_path / "d", seed="z"), by=None, using=alias)
    assert caught.value.code == "RB-E097" and caught.value.hint
    (entry,) = AuditEntry.objects.using(alias).filter(action="corpus.register")
    assert (entry.actor_name, entry.target) == ("ada", "rooms@1")
    assert [str(row) for row in corpora.versions(using=alias)] == ["rooms@1"]
    assert CorpusVersion.objects.using(alias).get().unit_count == 2


def test_the_database_holds_each_name_version_and_content_once(alias: str) -> None:
    """The unique constraints stand behind the service's rules, whoever writes."""
    from django.db import IntegrityError, transaction

    from rainbow.control.models import CorpusVersion

    rows = CorpusVersion.objects.using(alias)
    fields = {"licence": "MIT", "use": "research", "unit_count": 1, "registered_by_name": "t"}
    rows.create(name="c", version="1", content_hash="sha256:" + "1" * 64, **fields)
    for clash in (
        {"version": "1", "content_hash": "sha256:" + "2" * 64},
        {"version": "2", "content_hash": "sha256:" + "1" * 64},
    ):
        with pytest.raises(IntegrityError), transaction.atomic(using=alias):
            rows.create(name="c", **clash, **fields)


def test_the_admin_lists_corpus_versions_read_only(people: dict[str, Api], tmp_path: Path) -> None:
    """Admins see the list and a version's page; nobody may add, change or delete one."""
    from django.test import Client

    from rainbow.control.models import CorpusVersion

    assert people["alice"].post("/corpora", body(registration(tmp_path / "c"))).status_code == 201
    client = Client()
    assert client.login(username="dana", password="correct-horse-battery-9")
    listing = client.get("/admin/rainbow/corpusversion/")
    assert listing.status_code == 200 and "rooms@1" in listing.content.decode()
    row = CorpusVersion.objects.get()
    page = client.get(f"/admin/rainbow/corpusversion/{row.pk}/change/")
    assert page.status_code == 200 and row.content_hash in page.content.decode()
    assert client.get("/admin/rainbow/corpusversion/add/").status_code == 403
