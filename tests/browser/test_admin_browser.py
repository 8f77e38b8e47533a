"""The admin in a real browser (Debian's Chromium driven by Playwright) against `rainbow web`:
log in, open a run and see its timeline, approve and promote a pipeline, find the audit entry.

Screenshots of the main pages go to ``$RAINBOW_SCREENSHOTS`` (the docs keep a set) or to the
test's temporary folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _service_missing
from tests.webserver import PASSWORD, Plane

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _service_missing(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RAINBOW_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def released_pipeline(plane: Plane) -> dict[str, Any]:
    """Users in each role, the test modules and pair-v11 registered, smoke units set, one run
    finished on the control plane's local engine."""
    tokens = {}
    for name, role in [("alice", "researcher"), ("bob", "approver")]:
        plane.rainbow("createuser", name, "--role", role, "--password-stdin", stdin=PASSWORD)
        tokens[name] = plane.rainbow("token", "create", "web", "--user", name).stdout.strip()
    alice = {"RAINBOW_URL": plane.url, "RAINBOW_TOKEN": tokens["alice"]}
    plane.rainbow(
        "module", "register", "tests/engine/modules_for_tests.py", "--version", "1.1", **alice
    )
    registered = plane.rainbow(
        "pipeline", "register", "tests/distributed/pipelines.py:pair_v11", **alice
    )
    version = registered.stdout.split("sha256:")[1][:12]
    status, _ = plane.call(
        "PUT", "/api/pipelines/pair-v11/smoke-units", tokens["bob"], {"units": [{"x": 2}]}
    )
    assert status == 200
    body = {"pipeline": "pair-v11", "environment": "staging", "version": version}
    status, submitted = plane.call(
        "POST", "/api/runs", tokens["alice"], {**body, "units": [{"x": 4}]}
    )
    assert status == 201, submitted
    (run_id,) = submitted["run_ids"]
    give_up = time.monotonic() + 60
    while plane.call("GET", f"/api/runs/{run_id}", tokens["alice"])[1]["status"] != "succeeded":
        assert time.monotonic() < give_up, "the run did not finish"
        time.sleep(0.3)
    return {"version": version, "run_id": run_id}


def log_in(page: Any, plane: Plane, username: str) -> None:
    page.goto(f"{plane.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def act_on_version(page: Any, plane: Plane, action: str) -> str:
    page.goto(f"{plane.url}/admin/rainbow/pipelineversion/")
    page.check("input[name=_selected_action]")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    return str(page.inner_text("ul.messagelist"))


def test_log_in_see_a_runs_timeline_approve_promote_and_find_the_audit_entry(
    plane: Plane, chromium: Any, shots: Path
) -> None:
    made = released_pipeline(plane)
    page = chromium.new_page(viewport={"width": 1280, "height": 900})

    log_in(page, plane, "alice")
    page.goto(f"{plane.url}/admin/rainbow/run/")
    page.click(f"text={made['run_id']}")
    page.wait_for_selector("svg.rainbow-timeline")
    timeline = page.locator("svg.rainbow-timeline")
    assert timeline.locator("rect[data-status=succeeded]").count() == 2
    page.screenshot(path=str(shots / "run.png"), full_page=True)
    refused = act_on_version(page, plane, "approve")
    assert "cannot approve pipeline versions" in refused

    page.context.clear_cookies()
    log_in(page, plane, "bob")
    assert "done" in act_on_version(page, plane, "approve")
    assert "done" in act_on_version(page, plane, "promote_to_prod")
    page.goto(f"{plane.url}/admin/rainbow/pipelineversion/")
    page.click(f"text=pair-v11@{made['version']}")
    page.wait_for_selector("svg .graph")
    page.screenshot(path=str(shots / "pipeline-version.png"), full_page=True)

    give_up = time.monotonic() + 60
    while True:
        page.goto(f"{plane.url}/admin/rainbow/auditentry/")
        if page.locator("td.field-action", has_text="default.move").count():
            break
        assert time.monotonic() < give_up, "the promotion never moved the default"
        time.sleep(1)
    row = page.locator("tr", has=page.locator("td.field-action", has_text="default.move"))
    assert "bob" in row.inner_text() and "pair-v11 in prod" in row.inner_text()
    page.screenshot(path=str(shots / "audit.png"), full_page=True)

    page.goto(f"{plane.url}/admin/rainbow/pipeline/")
    page.click("text=pair-v11")
    assert "prod: pair-v11@" in page.inner_text("div.field-defaults")
    page.screenshot(path=str(shots / "pipeline.png"), full_page=True)
