"""What a security review expects of the control plane's answers: throttled logins, a
Content-Security-Policy, HSTS behind TLS, uncached API answers, 401 and 413 in the API's shape."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rainbow import settings as rb_settings
from rainbow.errors import UserError
from tests.control.conftest import Api
from tests.webserver import Plane, serving

PASSWORD = "correct-horse-battery-9"


def log_in(username: str, password: str, address: str = "192.0.2.10") -> Any:
    """The admin's login form, posted from ``address``."""
    from django.test import Client

    client = Client(REMOTE_ADDR=address)
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
    )
    response.client = client
    return response


def logged_in(response: Any) -> bool:
    return response.status_code == 302 and response.url == "/admin/"


def web_settings(tmp_path: Path, **env: str) -> dict[str, Any]:
    """The Django settings ``rainbow web`` would run with, from these environment variables."""
    from rainbow.control.django_setup import _web_settings
    from rainbow.control.web.server import web_options

    settings = rb_settings.from_env({"RAINBOW_SECRET_KEY": "k", **env}, cwd=tmp_path)
    return _web_settings(web_options(settings))


def test_twenty_wrong_passwords_lock_the_login_even_for_the_right_one(
    people: dict[str, Api],
) -> None:
    """After the failure limit the right password is refused too, with a message that says for
    how long and how an admin unlocks it; only that username from that address is locked."""
    for _ in range(20):
        assert not logged_in(log_in("alice", "not-her-password"))
    locked = log_in("alice", PASSWORD)
    assert locked.status_code == 429
    message = locked.content.decode()
    assert "Too many failed logins" in message and "15 minutes" in message
    assert "rainbow manage axes_reset_username" in message
    assert logged_in(log_in("alice", PASSWORD, address="198.51.100.7"))
    assert logged_in(log_in("bob", PASSWORD))


def test_a_lockout_ends_after_the_cooloff_and_a_login_clears_the_count(
    people: dict[str, Api],
) -> None:
    """Failures older than the cool-off no longer count, and a successful login starts the
    count over, so a user's occasional typos never add up to a lockout."""
    from axes.models import AccessAttempt

    limit = rb_settings.DEFAULT_LOGIN_FAILURE_LIMIT
    for _ in range(limit):
        log_in("alice", "typo")
    assert log_in("alice", PASSWORD).status_code == 429
    cooloff = timedelta(seconds=rb_settings.DEFAULT_LOGIN_COOLOFF_S + 1)
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= cooloff
        attempt.save()
    assert logged_in(log_in("alice", PASSWORD))
    for _ in range(limit - 1):
        log_in("alice", "typo")
    assert logged_in(log_in("alice", PASSWORD))
    for _ in range(limit - 1):
        log_in("alice", "typo")
    assert logged_in(log_in("alice", PASSWORD))


def test_a_locked_out_user_keeps_her_api_token_and_her_session(people: dict[str, Api]) -> None:
    """The throttle guards the password form only: tokens and sessions already held still work
    (a token is 256 random bits, nothing to guess)."""
    session = log_in("alice", PASSWORD).client
    for _ in range(20):
        log_in("alice", "wrong")
    assert people["alice"].get("/me").status_code == 200
    assert session.get("/api/me").json()["username"] == "alice"


def test_the_failure_limit_and_cooloff_are_settings(tmp_path: Path) -> None:
    """RAINBOW_LOGIN_FAILURE_LIMIT and RAINBOW_LOGIN_COOLOFF reach the throttle, and the
    lockout message tells the configured wait; zero or junk is refused naming the variable."""
    configured = web_settings(tmp_path, RAINBOW_LOGIN_FAILURE_LIMIT="3", RAINBOW_LOGIN_COOLOFF="60")
    assert configured["AXES_FAILURE_LIMIT"] == 3
    assert configured["AXES_COOLOFF_TIME"] == timedelta(seconds=60)
    assert "for 1 minute after" in configured["AXES_COOLOFF_MESSAGE"]
    defaults = web_settings(tmp_path)
    assert defaults["AXES_FAILURE_LIMIT"] == 10
    assert defaults["AXES_COOLOFF_TIME"] == timedelta(minutes=15)
    assert defaults["AXES_LOCKOUT_PARAMETERS"] == [["username", "ip_address"]]
    for name, value in [("RAINBOW_LOGIN_FAILURE_LIMIT", "0"), ("RAINBOW_LOGIN_COOLOFF", "soon")]:
        with pytest.raises(UserError, match=name):
            rb_settings.from_env({name: value}, cwd=tmp_path)


def test_pages_carry_a_content_security_policy_without_inline_code(
    people: dict[str, Api],
) -> None:
    """The admin and the API docs allow scripts and styles from the server only, no framing,
    no plugins and no foreign form targets."""
    from django.test import Client

    pages = [
        Client().get("/admin/login/"),
        Client().get("/api/docs", HTTP_AUTHORIZATION=f"Bearer {people['alice'].token}"),
    ]
    for page in pages:
        assert page.status_code == 200
        policy = page["Content-Security-Policy"]
        for directive in (
            "default-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ):
            assert directive in policy
        assert "unsafe" not in policy


def test_hsts_only_behind_tls(tmp_path: Path) -> None:
    """An https trusted origin (a TLS proxy in front) turns HSTS on for a year; plain HTTP
    never sends it."""
    behind_tls = web_settings(tmp_path, RAINBOW_TRUSTED_ORIGINS="https://rainbow.example")
    assert behind_tls["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert "SECURE_HSTS_SECONDS" not in web_settings(tmp_path)


def test_api_answers_are_never_stored(people: dict[str, Api]) -> None:
    """Every API answer, refusals and the schema included, says Cache-Control: no-store."""
    answers = [
        people["alice"].get("/me"),
        people["alice"].get("/openapi.json"),
        people["nobody"].get("/runs"),
        people["alice"].get("/runs/no-such-run"),
    ]
    for answer in answers:
        assert "no-store" in answer["Cache-Control"], answer.status_code


def test_a_401_says_what_is_missing_in_the_api_error_shape(people: dict[str, Api]) -> None:
    """No credentials, a bad token and a logged-out session each get their own reason and a
    hint, in the {detail, hint, diagnostics} shape of every refusal, with WWW-Authenticate."""
    from django.test import Client

    nobody = people["nobody"]
    logged_out = Client()
    logged_out.cookies["sessionid"] = "expired"
    answers = {
        "no credentials": nobody.get("/runs"),
        "API token is not valid": Api(Client(), "rbt_not-a-token").get("/runs"),
        "session is not logged in": Api(logged_out, None).get("/me"),
        "needs an API token": nobody.get("/openapi.json"),
    }
    for reason, answer in answers.items():
        assert answer.status_code == 401
        body = answer.json()
        assert set(body) == {"detail", "hint", "diagnostics"}, body
        assert reason in body["detail"] or reason in body["hint"], body
        assert "rainbow token create" in body["hint"]
        assert answer["WWW-Authenticate"].startswith("Bearer")


def test_an_oversize_body_gets_a_json_413(people: dict[str, Api], tmp_path: Path) -> None:
    """A body over RAINBOW_MAX_REQUEST_BYTES gets a 413 naming the limit and the setting, in
    the API's error shape, where Django would answer an HTML 400; one under it goes through."""
    from django.test import override_settings

    alice = people["alice"]
    big = {"pipeline": "room-scan", "environment": "staging", "units": [{"x": "a" * 2000}]}
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        refused = alice.post("/runs", big)
        assert refused.status_code == 413
        body = refused.json()
        assert set(body) == {"detail", "hint", "diagnostics"}
        assert "limit of 1000 bytes" in body["detail"]
        assert "RAINBOW_MAX_REQUEST_BYTES" in body["detail"]
        assert "assets" in body["hint"]
        small = alice.post("/runs", {**big, "units": [{"x": 1}]})
        assert small.status_code == 404  # no such pipeline: the request reached the API
    assert (
        web_settings(tmp_path, RAINBOW_MAX_REQUEST_BYTES="5000", RAINBOW_MAX_SPEC_BYTES="4000")[
            "DATA_UPLOAD_MAX_MEMORY_SIZE"
        ]
        == 5000
    )


class Browser:
    """A cookie-keeping HTTP client that shows redirects instead of following them."""

    def __init__(self, url: str) -> None:
        class Stay(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), Stay()
        )

    def open(
        self, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> tuple[int, Any, str]:
        """Status, headers and body of the answer."""
        data = None if form is None else urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers=headers)
        try:
            answer = self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as refused:  # 3xx, 4xx: still an answer to look at
            answer = refused
        with answer:
            return answer.status, answer.headers, answer.read().decode()

    def log_in(self, username: str, password: str) -> int:
        _, _, form = self.open("/admin/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert csrf, form
        status, _, _ = self.open(
            "/admin/login/?next=/admin/",
            {
                "csrfmiddlewaretoken": csrf[1],
                "username": username,
                "password": password,
                "next": "/admin/",
            },
            Referer=f"{self.url}/admin/login/",
        )
        return status


@pytest.mark.slow
def test_rainbow_web_locks_a_guessed_login_until_an_admin_unlocks_it(plane: Plane) -> None:
    """Across gunicorn's workers: 20 wrong passwords lock the right one out (429) while the
    user's API token keeps working, and `rainbow manage axes_reset_username` unlocks it."""
    plane.rainbow("createuser", "alice", "--role", "researcher", "--password-stdin", stdin=PASSWORD)
    token = plane.rainbow("token", "create", "ci", "--user", "alice").stdout.strip()
    guesser = Browser(plane.url)
    guesses = [guesser.log_in("alice", "not-her-password") for _ in range(20)]
    limit = rb_settings.DEFAULT_LOGIN_FAILURE_LIMIT
    assert guesses == [200] * (limit - 1) + [429] * (21 - limit)  # 200: the form, with an error
    assert Browser(plane.url).log_in("alice", PASSWORD) == 429
    assert plane.call("GET", "/api/me", token) == (200, {"username": "alice", "role": "researcher"})
    plane.rainbow("manage", "axes_reset_username", "alice")
    assert Browser(plane.url).log_in("alice", PASSWORD) == 302


@pytest.mark.slow
def test_rainbow_web_behind_tls_sends_hsts_and_a_content_security_policy(tmp_path: Path) -> None:
    """With an https trusted origin, answers the proxy marks as HTTPS carry HSTS for a year and
    plain HTTP ones none; every page has the policy, every API answer no-store."""
    with serving(tmp_path, RAINBOW_TRUSTED_ORIGINS="https://rainbow.example") as served:
        browser = Browser(served.url)
        _, secure, _ = browser.open("/admin/login/", **{"X-Forwarded-Proto": "https"})
        assert secure["Strict-Transport-Security"] == "max-age=31536000"
        _, plain, _ = browser.open("/admin/login/")
        assert plain["Strict-Transport-Security"] is None
        assert "default-src 'self'" in plain["Content-Security-Policy"]
        status, api, _ = browser.open("/api/runs")
        assert status == 401 and "no-store" in api["Cache-Control"]
