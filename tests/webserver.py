"""A control plane served by `rainbow web` in a subprocess, for tests that need the real server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAINBOW = [sys.executable, "-m", "rainbow"]
PASSWORD = "correct-horse-battery-9"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_rainbow(
    env: dict[str, str], *args: str, expect: int = 0, stdin: str = "", cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """`rainbow ARGS` (from the project's folder unless ``cwd``); it must exit with ``expect``
    and show no traceback of Rainbow's own."""
    done = subprocess.run(
        [*RAINBOW, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == expect, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "src/rainbow/" not in done.stderr
    return done


class Plane:
    """A control plane served by `rainbow web` on its own SQLite store."""

    def __init__(self, home: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "RAINBOW_HOME": str(home),
            "RAINBOW_MODULES": "tests.engine.modules_for_tests",
            "RAINBOW_REQUIRED_APPROVALS": "1",
        }
        self.env.pop("RAINBOW_DATABASE_URL", None)  # a test picks its store
        self.env.pop("RAINBOW_URL", None)

    def rainbow(
        self, *args: str, expect: int = 0, stdin: str = "", **env: str
    ) -> subprocess.CompletedProcess[str]:
        return run_rainbow({**self.env, **env}, *args, expect=expect, stdin=stdin)

    def call(self, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {token}"} if token else {}),
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                kind = response.headers.get("Content-Type", "")
                return response.status, json.loads(raw) if "json" in kind else raw
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw or b"null")
            except ValueError:  # a server error page
                return exc.code, raw.decode(errors="replace")


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    """`rainbow web` on a free port, with its own home and SQLite store."""
    with serving(tmp_path) as served:
        yield served


@pytest.fixture
def postgres_plane(tmp_path: Path, postgres_database: str) -> Iterator[Plane]:
    """`rainbow web` on the session's PostgreSQL schema (emptied after the test)."""
    from django.conf import settings

    with serving(
        tmp_path, RAINBOW_DATABASE_URL=settings.RAINBOW_DATABASE_URLS[postgres_database]
    ) as served:
        yield served


@contextmanager
def serving(tmp_path: Path, **env: str) -> Iterator[Plane]:
    port = free_port()
    served = Plane(tmp_path / "home", port)
    served.env |= env
    log = (tmp_path / "web.log").open("wb")
    server = subprocess.Popen(
        [*RAINBOW, "web", "--port", str(port), "--workers", "1"],
        cwd=ROOT,
        env=served.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        give_up = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{served.url}/admin/login/", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "web.log").read_text()
                assert time.monotonic() < give_up, "the control plane did not start"
                time.sleep(0.2)
        yield served
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
