"""`rainbow web` as users start it (gunicorn, static files), and the CLI through its API."""

from __future__ import annotations

import functools
import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.webserver import PASSWORD, Plane

pytestmark = pytest.mark.slow


def test_the_control_plane_serves_the_admin_its_static_files_and_a_guarded_api(
    plane: Plane,
) -> None:
    with urllib.request.urlopen(f"{plane.url}/admin/login/") as page:
        assert "Rainbow control plane" in page.read().decode()
        assert page.headers["X-Frame-Options"] == "DENY"
    with urllib.request.urlopen(f"{plane.url}/static/admin/css/base.css") as css:
        assert css.status == 200 and "text/css" in css.headers["Content-Type"]
        assert "max-age" in css.headers.get("Cache-Control", "")
    assert plane.call("GET", "/api/openapi.json", None)[0] == 401
    with urllib.request.urlopen(f"{plane.url}/static/ninja/swagger-ui-bundle.js") as bundled:
        assert bundled.status == 200  # the API docs page needs no CDN
    assert plane.call("GET", "/api/runs", "rbt_not-a-token")[0] == 401


def test_users_tokens_registration_and_a_run_from_the_command_line(plane: Plane) -> None:
    weak = plane.rainbow("createuser", "eve", "--password-stdin", stdin="123\n", expect=2)
    assert "password refused" in weak.stderr
    plane.rainbow("createuser", "alice", "--password-stdin", stdin=f"{PASSWORD}\n")
    token = plane.rainbow("token", "create", "cli", "--user", "alice").stdout.strip()
    remote = {"RAINBOW_URL": plane.url, "RAINBOW_TOKEN": token}
    plane.rainbow(
        "module", "register", "tests/engine/modules_for_tests.py", "--version", "1.1", **remote
    )
    registered = plane.rainbow(
        "pipeline", "register", "tests/distributed/pipelines.py:pair_v11", **remote
    )
    assert "registered pair-v11 sha256:" in " ".join(registered.stdout.split())
    broken = plane.rainbow(
        "pipeline", "register", "tests/distributed/pipelines.py:pair_latest", expect=2, **remote
    )
    assert "RB-E017" in broken.stderr and "add@latest" in broken.stderr
    refused = plane.rainbow(
        "pipeline",
        "register",
        "tests/distributed/pipelines.py:pair_v11",
        expect=2,
        RAINBOW_URL=plane.url,
        RAINBOW_TOKEN="rbt_revoked",
    )
    assert "refused RAINBOW_TOKEN" in refused.stderr
    status, pipeline = plane.call("GET", "/api/pipelines/pair-v11", token)
    version = pipeline["versions"][0]["spec_hash"].removeprefix("sha256:")[:12]
    body = {"pipeline": "pair-v11", "environment": "staging", "version": version}
    status, submitted = plane.call("POST", "/api/runs", token, {**body, "units": [{"x": 4}]})
    assert status == 201, submitted
    (run_id,) = submitted["run_ids"]
    give_up = time.monotonic() + 60
    while (run := plane.call("GET", f"/api/runs/{run_id}", token)[1])["status"] != "succeeded":
        assert run["status"] in ("pending", "running"), run
        assert time.monotonic() < give_up, run
        time.sleep(0.3)
    assert run["outputs"] == {"result": 6}
    listed = plane.rainbow("runs", "--json", **remote).stdout
    assert json.loads(listed)["run_id"] == run_id
    shown = json.loads(plane.rainbow("show", run_id, "--json", **remote).stdout)
    assert shown["status"] == "succeeded" and len(shown["steps"]) == 2
    missing = plane.rainbow("show", "nope", expect=2, **remote)
    assert "no run 'nope'" in missing.stderr


def test_a_release_through_the_gates_from_the_command_line(plane: Plane, tmp_path: Path) -> None:
    for name, role in [("alice", "researcher"), ("bob", "approver")]:
        plane.rainbow("createuser", name, "--role", role, "--password-stdin", stdin=PASSWORD)
    alice, bob = (
        {
            "RAINBOW_URL": plane.url,
            "RAINBOW_TOKEN": plane.rainbow("token", "create", "cli", "--user", name).stdout.strip(),
        }
        for name in ("alice", "bob")
    )
    plane.rainbow(
        "module", "register", "tests/engine/modules_for_tests.py", "--version", "1.1", **alice
    )
    registered = plane.rainbow(
        "pipeline", "register", "tests/distributed/pipelines.py:pair_v11", **alice
    )
    version = registered.stdout.split("sha256:")[1][:12]
    own = plane.rainbow("pipeline", "approve", "pair-v11", version, expect=2, **alice)
    assert "needs the approver role" in own.stderr
    plane.rainbow("pipeline", "approve", "pair-v11", version, **bob)
    no_smoke = plane.rainbow(
        "pipeline", "promote", "pair-v11", version, "--env", "prod", expect=2, **bob
    )
    assert "no smoke units" in no_smoke.stderr
    unit = tmp_path / "unit.json"
    unit.write_text('{"x": 1}')
    plane.rainbow("pipeline", "smoke-units", "pair-v11", "--input", str(unit), **bob)
    promoted = plane.rainbow("pipeline", "promote", "pair-v11", version, "--env", "prod", **bob)
    assert "promoted pair-v11" in promoted.stdout
    submitted = plane.rainbow(
        "submit", "pair-v11", "--env", "prod", "-i", str(unit), "--wait", **alice
    )
    assert "succeeded" in submitted.stderr
    unit.write_text('{"y": 1}')
    misfit = plane.rainbow(
        "submit", "pair-v11", "--env", "prod", "-i", str(unit), expect=2, **alice
    )
    assert "RB-E040" in misfit.stderr and "missing pipeline input 'x'" in misfit.stderr
    gone = plane.rainbow("pipeline", "rollback", "pair-v11", "--env", "prod", expect=2, **bob)
    assert "nothing to roll back to" in gone.stderr
    local = plane.rainbow("pipeline", "approve", "pair-v11", version, expect=2)
    assert "needs RAINBOW_URL" in local.stderr


def test_createuser_recreates_a_role_group_deleted_by_hand(plane: Plane) -> None:
    plane.rainbow(
        "manage",
        "shell",
        "-c",
        "from django.contrib.auth.models import Group; "
        "Group.objects.filter(name='approver').delete()",
    )
    done = plane.rainbow(
        "createuser", "zed", "--role", "approver", "--password-stdin", stdin=PASSWORD
    )
    assert "zed has the approver role" in done.stdout


def test_racing_requests_on_postgresql_get_answers_not_errors(postgres_plane: Plane) -> None:
    """The same approval and the same module registration sent 6 times at once: one wins, the
    others are told why (409 / 200), none fails with a 500."""
    from concurrent.futures import ThreadPoolExecutor

    tokens = {}
    for name, role in [("alice", "researcher"), ("bob", "approver")]:
        postgres_plane.rainbow(
            "createuser", name, "--role", role, "--password-stdin", stdin=PASSWORD
        )
        tokens[name] = postgres_plane.rainbow("token", "create", "t", "--user", name).stdout.strip()
    remote = {"RAINBOW_URL": postgres_plane.url, "RAINBOW_TOKEN": tokens["alice"]}
    postgres_plane.rainbow(
        "module", "register", "tests/engine/modules_for_tests.py", "--version", "1.1", **remote
    )
    registered = postgres_plane.rainbow(
        "pipeline", "register", "tests/distributed/pipelines.py:pair_v11", **remote
    )
    version = registered.stdout.split("sha256:")[1][:12]
    _, module = postgres_plane.call("GET", "/api/modules/add", tokens["alice"])
    interface = module["versions"][0]["interface"]
    approve = f"/api/pipelines/pair-v11/versions/{version}/approve"
    register = "/api/modules/add/versions"
    again = {"version": "2.0", "interface": interface}
    for method, path, token, body, expected in [
        ("POST", approve, tokens["bob"], {}, [200] + [409] * 5),
        ("POST", register, tokens["alice"], again, [200] * 5 + [201]),
    ]:
        request = functools.partial(postgres_plane.call, method, path, token, body)
        with ThreadPoolExecutor(6) as pool:
            answers = [pool.submit(request) for _ in range(6)]
            assert sorted(a.result()[0] for a in answers) == expected, path
