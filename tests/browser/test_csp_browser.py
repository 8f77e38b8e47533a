"""Under the Content-Security-Policy, the pages still work in a real browser: Chromium reports
no violation on the admin, a run's timeline, a pipeline version's DAG, or the API docs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_admin_browser import chromium, log_in, released_pipeline
from tests.webserver import Plane

pytestmark = pytest.mark.slow

__all__ = ["chromium"]  # the fixture, imported for this module's test

WATCH_VIOLATIONS = """
window.rainbowViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.rainbowViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def test_no_page_breaks_the_content_security_policy(plane: Plane, chromium: Any) -> None:
    """The login page, the admin index, a run (its Gantt chart), a pipeline version (its DAG)
    and Swagger UI render under the policy without a single violation."""
    made = released_pipeline(plane)
    page = chromium.new_page()
    page.add_init_script(WATCH_VIOLATIONS)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    seen: dict[str, list[str]] = {}

    def visit(url: str, ready: str) -> None:
        page.goto(f"{plane.url}{url}")
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        seen[url] = page.evaluate("window.rainbowViolations")

    visit("/admin/login/", "#id_username")
    log_in(page, plane, "alice")
    visit("/admin/", "#user-tools")
    visit(f"/admin/rainbow/run/{made['run_id']}/change/", "svg.rainbow-timeline")
    page.goto(f"{plane.url}/admin/rainbow/pipelineversion/")
    page.click(f"text=pair-v11@{made['version']}")
    page.wait_for_selector("svg .graph")
    seen["pipeline version"] = page.evaluate("window.rainbowViolations")
    visit("/api/docs", ".opblock")
    assert page.locator(".opblock").count() >= 15  # Swagger UI drew every operation
    assert all(not violations for violations in seen.values()), seen
    assert not [line for line in console if "Content Security Policy" in line], console
