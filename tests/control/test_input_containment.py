"""Asset inputs the control plane accepts: whichever way a location reaches a filesystem, a run
reads only the input roots, the asset store and allowed remote stores, never Rainbow's own files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec.core
import pytest
from django.test import override_settings

from rainbow import settings as rb_settings
from rainbow.control.services.containment import _layers
from rainbow.dsl.compiler import compile_pipeline
from rainbow.errors import UserError
from rainbow.spec.canonical import spec_to_dict
from tests.control import input_modules
from tests.control.conftest import Api, RecordingExecutor, interface_of, register
from tests.webserver import PASSWORD, Plane, serving

DEPTH = len(Path.home().parts)
BYPASSES = [
    "/etc/passwd",
    "file:///etc/passwd",
    "local:///etc/shadow",
    "local:/etc/passwd",
    "local://etc/passwd",
    f"local://{Path.home()}{'/..' * DEPTH}/etc/passwd",
    "simplecache::file:///etc/passwd",
    "filecache::/etc/passwd",
    "blockcache::local:///etc/passwd",
    "simplecache::local:/etc/passwd",
    "zip://passwd::file:///etc/passwd.zip",
    "tar://passwd::file:///etc/passwd.tar",
    "dir://passwd::file:///etc",
    "reference::s3://bucket/references.json",
    "memory://passwd",
    "https://169.254.169.254/latest/meta-data/",
    "s3://bucket/key::file:///etc/passwd",
]
"""Each reads /etc (or what a server can reach that a researcher should not) through fsspec."""


@pytest.fixture
def peek(people: dict[str, Api]) -> str:
    """peek@1.0 (it reads its input asset) registered, and the peek pipeline over it: its
    version."""
    response = people["alice"].post(
        "/modules/peek/versions", {"version": "1.0", "interface": interface_of(input_modules.peek)}
    )
    assert response.status_code == 201, response.content
    return register(people["alice"], _peek_spec())


def _peek_spec() -> dict[str, Any]:
    spec, _ = compile_pipeline(input_modules.peek_pipeline)
    return spec_to_dict(spec)


def submit(api: Api, version: str, location: Any) -> Any:
    body = {"pipeline": "peek", "environment": "staging", "version": version}
    return api.post("/runs", {**body, "units": [{"photo": location}]})


def assert_refused(response: Any, *words: str) -> None:
    assert response.status_code == 403, response.content
    answer = response.json()
    assert [(d["code"], d["where"]) for d in answer["diagnostics"]] == [
        ("RB-E046", "units[0].photo")
    ]
    for word in ("input 'photo'", *words):
        assert word in answer["detail"], answer["detail"]
    assert answer["hint"]


@pytest.mark.parametrize("location", BYPASSES)
def test_every_way_fsspec_reaches_a_server_file_is_refused(
    people: dict[str, Api], peek: str, executor: RecordingExecutor, location: str
) -> None:
    """A path or URL that would open a server file outside the roots, directly or through a
    cache, an archive, a wrapper or an unlisted protocol, is a 403 naming the unit and input, and
    nothing runs; smoke units are refused the same way."""
    from rainbow.control.models import Pipeline, Run

    assert_refused(submit(people["alice"], peek, location), "work unit 0", location)
    smoke = people["bob"].put("/pipelines/peek/smoke-units", {"units": [{"photo": location}]})
    assert_refused(smoke, "smoke unit 0")
    assert Run.objects.count() == 0
    assert Pipeline.objects.get(name="peek").smoke_units == []


def test_remote_object_stores_are_accepted_unreached(people: dict[str, Api], peek: str) -> None:
    """s3, gs and az URLs are accepted by default: the store's credentials limit what they read,
    and the control plane does not need to reach them to accept the submission."""
    for location in ("s3://bucket/photo.jpg", "gs://bucket/photo.jpg", "az://box/photo.jpg"):
        assert submit(people["alice"], peek, location).status_code == 201


def test_configured_protocols_are_accepted_and_wrappers_only_around_contained_files(
    people: dict[str, Api], peek: str, tmp_path: Path
) -> None:
    """RAINBOW_INPUT_PROTOCOLS adds protocols; a listed cache or archive wraps what is allowed,
    and never opens a local file outside the roots; a wrapper that can reach files its URL does
    not name stays refused even when listed."""
    inside = tmp_path / "photo.jpg"
    inside.write_bytes(b"jpg")
    listed = (*rb_settings.DEFAULT_INPUT_PROTOCOLS, "memory", "simplecache", "zip", "reference")
    alice = people["alice"]
    assert_refused(submit(alice, peek, "memory://photo.jpg"), "memory://")
    with override_settings(RAINBOW_INPUT_PROTOCOLS=listed):
        for location in (
            "memory://photo.jpg",
            "simplecache::s3://bucket/photo.jpg",
            f"simplecache::file://{inside}",
            "zip://photo.jpg::s3://bucket/photos.zip",
        ):
            assert submit(alice, peek, location).status_code == 201, location
        assert_refused(submit(alice, peek, "simplecache::file:///etc/passwd"), "outside")
        assert_refused(submit(alice, peek, "zip://passwd::file:///etc/p.zip"), "outside")
        assert_refused(submit(alice, peek, "zip://photo.jpg"), "none is given")
        refused = submit(alice, peek, "reference::s3://bucket/references.json")
        assert_refused(refused, "files its URL does not name")


def test_a_symlink_out_of_a_root_is_refused(
    people: dict[str, Api], peek: str, tmp_path: Path
) -> None:
    """Paths are judged by what they resolve to: a symlink under a root that points out of the
    roots is refused without saying where it leads, one that stays inside is accepted."""
    (tmp_path / "real.jpg").write_bytes(b"jpg")
    (tmp_path / "inside.jpg").symlink_to(tmp_path / "real.jpg")
    (tmp_path / "escape.jpg").symlink_to("/etc/passwd")
    (tmp_path / "folder").symlink_to("/etc")
    alice = people["alice"]
    assert submit(alice, peek, str(tmp_path / "inside.jpg")).status_code == 201
    for escape in (
        str(tmp_path / "escape.jpg"),
        str(tmp_path / "folder" / "passwd"),
        f"local://{tmp_path}/escape.jpg",
        "/proc/self/fd/0",
    ):
        refused = submit(alice, peek, escape)
        assert_refused(refused, "outside the folders")
        # Where a link leads is never told: /proc/self/fd/N would map the server's files.
        assert "/etc" not in refused.json()["detail"] and "/dev" not in refused.json()["detail"]


def test_rainbows_own_files_are_refused_even_inside_a_root(
    people: dict[str, Api], peek: str, tmp_path: Path
) -> None:
    """With RAINBOW_HOME inside the roots, its secret key, the SQLite store with its -wal and
    -shm files, logs, static files and work folders are still refused, as is the store the
    server actually uses (wherever it lies); other files in the home are fit inputs."""
    from django.conf import settings

    home = tmp_path / "home"
    own = [
        "secret-key",
        "rainbow.sqlite3",
        "rainbow.sqlite3-wal",
        "rainbow.sqlite3-shm",
        "logs/rainbow.log",
        "static/admin/css/base.css",
        "work/run-1/step/1/in/photo.jpg",
    ]
    for name in [*own, "corpus/photo.jpg"]:
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text("secret")
    store = Path(settings.DATABASES["default"]["NAME"])
    assert store.is_relative_to(tmp_path.parent.parent)  # inside the session's input root
    alice = people["alice"]
    with override_settings(RAINBOW_HOME=home, RAINBOW_INPUT_ROOTS=(str(home),)):
        for name in own:
            assert_refused(submit(alice, peek, str(home / name)), "Rainbow's own files")
        assert_refused(submit(alice, peek, f"file://{home}/./secret-key"), "Rainbow's own")
        assert submit(alice, peek, str(home / "corpus" / "photo.jpg")).status_code == 201
    for side in ("", "-wal", "-shm"):
        if Path(f"{store}{side}").exists():
            assert_refused(submit(alice, peek, f"{store}{side}"), "Rainbow's own files")


def test_outputs_in_the_asset_store_are_inputs_whatever_the_roots(
    people: dict[str, Api], peek: str, tmp_path: Path
) -> None:
    """What runs wrote to the asset store feeds later runs: a local store outside the roots,
    or a store on a protocol not otherwise allowed, is readable, but only below its URL."""
    assets = tmp_path / "assets"
    (assets / "run-1" / "step" / "1").mkdir(parents=True)
    output = assets / "run-1" / "step" / "1" / "mask.png"
    output.write_bytes(b"png")
    alice = people["alice"]
    for url in (str(assets), f"local://{assets}"):
        with override_settings(RAINBOW_ASSETS_URL=url, RAINBOW_INPUT_ROOTS=()):
            assert submit(alice, peek, str(output)).status_code == 201
            assert_refused(submit(alice, peek, str(tmp_path / "other.png")), f"read ({assets})")
    with override_settings(RAINBOW_ASSETS_URL="memory://rainbow-assets"):
        accepted = submit(alice, peek, "memory://rainbow-assets/run-1/step/1/mask.png")
        assert accepted.status_code == 201
        assert_refused(submit(alice, peek, "memory://rainbow-assets/../passwd"), "memory://")
        assert_refused(submit(alice, peek, "memory://elsewhere/passwd"), "memory://")


def test_a_refusal_tells_nothing_of_whether_the_file_exists(
    people: dict[str, Api], peek: str
) -> None:
    """A path outside the roots is refused as such before its existence is checked, so the
    answers do not map the server's files."""
    for location in ("/etc/passwd", "/etc/no-such-file", "no-such-file"):
        assert_refused(submit(people["alice"], peek, location), "outside")


def test_asset_values_in_the_spec_are_held_to_the_same_rule(
    people: dict[str, Api], peek: str, executor: RecordingExecutor
) -> None:
    """A registered spec whose step literal (an ``any`` input takes an asset) or input default
    names a server file runs nothing: its runs are refused naming the step or input."""
    from rainbow.control.models import Run

    alice = people["alice"]
    sniff = {"version": "1.0", "interface": interface_of(input_modules.sniff)}
    assert alice.post("/modules/sniff/versions", sniff).status_code == 201
    spec, _ = compile_pipeline(input_modules.sniff_literal)
    version = register(alice, spec_to_dict(spec))
    body = {"pipeline": "sniff-literal", "environment": "staging", "version": version}
    refused = alice.post("/runs", {**body, "units": [{}]})
    assert refused.status_code == 403, refused.content
    detail = refused.json()["detail"]
    assert "step 'sniff' input 'thing' (a literal) reads /etc/passwd: outside" in detail
    assert refused.json()["diagnostics"][0]["where"] == "$.steps[0].inputs.thing"
    default = _peek_spec()
    default.pop("spec_hash")
    default["inputs"]["photo"] = {"type": "asset", "required": False}
    default["inputs"]["photo"]["default"] = {"$asset": "local:///etc/shadow"}
    default["name"] = "peek-default"
    version = register(alice, default)
    body = {"pipeline": "peek-default", "environment": "staging", "version": version}
    refused = alice.post("/runs", {**body, "units": [{}]})
    assert refused.status_code == 403, refused.content
    assert "input 'photo' (its default) reads local:///etc/shadow" in refused.json()["detail"]
    assert Run.objects.count() == 0


def test_an_admin_promotion_checks_stored_smoke_units_again(
    people: dict[str, Api], peek: str, executor: RecordingExecutor
) -> None:
    """Smoke units stored before this rule (or by hand) are checked when a promotion from the
    admin submits them: the admin shows the refusal and nothing runs."""
    from django.test import Client

    from rainbow.control.models import Pipeline, PipelineVersion, Promotion, Run

    for approver in ("bob", "carol"):
        approve = f"/pipelines/peek/versions/{peek}/approve"
        assert people[approver].post(approve).status_code == 200
    Pipeline.objects.filter(name="peek").update(smoke_units=[{"photo": "local:///etc/passwd"}])
    browser = Client()
    assert browser.login(username="bob", password="correct-horse-battery-9")
    page = browser.post(
        "/admin/rainbow/pipelineversion/",
        {"action": "promote_to_staging", "_selected_action": [PipelineVersion.objects.get().pk]},
        follow=True,
    ).content.decode()
    assert "smoke unit 0 input &#x27;photo&#x27; reads local:///etc/passwd" in page
    assert Promotion.objects.count() == 0 and Run.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "simplecache::file:///etc/passwd",
        "blockcache::filecache::local:///etc/passwd",
        "zip://passwd::file:///etc/passwd.zip",
        "tar://a/b::simplecache::memory://x.tar",
        "local:/etc/passwd",
        "simplecache::local://relative/passwd",
        "dir://passwd::file:///etc",
        "memory",
        "::/etc/passwd",
    ],
)
def test_the_layers_judged_are_the_layers_fsspec_opens(url: str) -> None:
    """The policy splits a URL into the same layers, with the same protocols, as fsspec's own
    parser, which the workers use to open it (fsspec's needs every layer's package installed)."""
    opened = fsspec.core._un_chain(url, {})
    assert [protocol for protocol, _ in _layers(url)] == [protocol for _, protocol, _ in opened]


def test_input_protocols_come_from_the_environment_checked() -> None:
    """RAINBOW_INPUT_PROTOCOLS replaces the default list; a local protocol or a URL in it is a
    UserError saying what to set instead."""
    assert rb_settings.from_env({}).web.input_protocols == rb_settings.DEFAULT_INPUT_PROTOCOLS
    read = rb_settings.from_env({"RAINBOW_INPUT_PROTOCOLS": "s3, https"})
    assert read.web.input_protocols == ("s3", "https")
    with pytest.raises(UserError, match="governed by RAINBOW_INPUT_ROOTS"):
        rb_settings.from_env({"RAINBOW_INPUT_PROTOCOLS": "s3,file"})
    with pytest.raises(UserError, match="not a protocol name"):
        rb_settings.from_env({"RAINBOW_INPUT_PROTOCOLS": "s3://"})


# The served control plane, on SQLite and on PostgreSQL ----------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Plane]:
    """`rainbow web` with its default roots (its home and assets), running peek itself."""
    env = {"RAINBOW_MODULES": "tests.engine.modules_for_tests,tests.control.input_modules"}
    if request.param == "postgresql":
        from django.conf import settings

        alias = request.getfixturevalue("postgres_database")
        env["RAINBOW_DATABASE_URL"] = settings.RAINBOW_DATABASE_URLS[alias]
    with serving(tmp_path, **env) as plane:
        yield plane


@pytest.mark.slow
def test_a_served_control_plane_hands_no_server_file_to_a_run(served: Plane) -> None:
    """Through the real server and the CLI: every bypass is refused, a file in the home is read
    by its module, and afterwards every file Rainbow itself wrote into its home (store, key,
    logs, static files, work folders) is refused as an input."""
    served.rainbow("createuser", "rosa", "--role", "approver", "--password-stdin", stdin=PASSWORD)
    token = served.rainbow("token", "create", "cli", "--user", "rosa").stdout.strip()
    home = Path(served.env["RAINBOW_HOME"])
    interface = {"version": "1.0", "interface": interface_of(input_modules.peek)}
    assert served.call("POST", "/api/modules/peek/versions", token, interface)[0] == 201
    status, registered = served.call("POST", "/api/pipelines", token, {"spec": _peek_spec()})
    assert status == 201, registered
    version = registered["version"]["spec_hash"].removeprefix("sha256:")[:12]

    def submitted(location: str) -> tuple[int, Any]:
        body = {"pipeline": "peek", "environment": "staging", "version": version}
        return served.call("POST", "/api/runs", token, {**body, "units": [{"photo": location}]})

    for location in BYPASSES:
        status, answer = submitted(location)
        assert status == 403, (location, answer)
        assert answer["diagnostics"][0]["code"] == "RB-E046", (location, answer)
    photo = home / "corpus" / "photo.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"a photo of a room")
    (home / "corpus" / "escape.jpg").symlink_to("/etc/passwd")
    assert submitted(str(home / "corpus" / "escape.jpg"))[0] == 403
    status, answer = submitted(str(photo))
    assert status == 201, answer
    (run_id,) = answer["run_ids"]
    give_up = time.monotonic() + 60
    while (run := served.call("GET", f"/api/runs/{run_id}", token)[1])["status"] != "succeeded":
        assert run["status"] in ("pending", "running"), run
        assert time.monotonic() < give_up, run
        time.sleep(0.3)
    assert run["outputs"] == {"head": "a photo of a room"}
    own = sorted(set(home.iterdir()) - {home / "corpus", home / "assets"})
    for entry in own:
        sample = next((p for p in sorted(entry.rglob("*")) if p.is_file()), entry)
        status, answer = submitted(str(sample))
        assert status == 403 and "Rainbow's own files" in answer["detail"], (sample, answer)
    written = {entry.name for entry in own}
    assert {"secret-key", "logs", "static"} <= written
    if "RAINBOW_DATABASE_URL" not in served.env:
        assert {"rainbow.sqlite3", "rainbow.sqlite3-wal", "rainbow.sqlite3-shm"} <= written
    unit = home / "corpus" / "unit.json"
    unit.write_text('{"photo": "simplecache::file:///etc/passwd"}')
    remote = {"RAINBOW_URL": served.url, "RAINBOW_TOKEN": token}
    refused = served.rainbow(
        "submit",
        "peek",
        "--env",
        "staging",
        "--version",
        version,
        "-i",
        str(unit),
        expect=2,
        **remote,
    )
    assert "RB-E046" in refused.stderr and "simplecache://" in refused.stderr
    assert "RAINBOW_INPUT_PROTOCOLS" in refused.stderr
    assert os.path.exists(home / "secret-key")
