"""The supervisor keeps its worker on the current build until a new one is ready, rides out a
registry that fails, and stops the worker when the version is retired."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rainbow.deploy import serving
from rainbow.deploy.registry import ReleasedVersion
from rainbow.errors import PlatformError

CURRENT = ReleasedVersion("greet", "1.0", "live", "", "a" * 40, "/store/a", "sha256:" + "a" * 64)
MOVED = replace(
    CURRENT, commit="b" * 40, artifact_url="/store/b", artifact_hash="sha256:" + "b" * 64
)


class Answers:
    """The registry's answers, one per question, the last repeated."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.reconnects = 0

    def released(self, module: str, version: str) -> ReleasedVersion | None:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    def reconnect(self) -> None:
        self.reconnects += 1


def supervise(monkeypatch: pytest.MonkeyPatch, registry: Answers, *, new_build_fails: bool) -> Any:
    started: list[subprocess.Popen[bytes]] = []
    said: list[str] = []

    def prepare(found: ReleasedVersion, cache: Path) -> serving.Served:
        if found.artifact_hash != CURRENT.artifact_hash and new_build_fails:
            raise PlatformError("the artifact at /store/b is missing")
        return serving.Served(found, Path("/env"), Path("/artifact"))

    def start(self: serving.Supervisor, served: serving.Served) -> subprocess.Popen[bytes]:
        started.append(subprocess.Popen(["sleep", "60"]))
        return started[-1]

    monkeypatch.setattr(serving, "prepare", prepare)
    monkeypatch.setattr(serving.Supervisor, "_start", start)
    supervisor = serving.Supervisor(
        registry, CURRENT, Path("/cache"), poll_s=0.01, worker_args=[], say=said.append
    )
    return supervisor.run(), started, said, supervisor


def test_a_new_build_that_cannot_be_made_leaves_the_old_worker_serving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    retired = replace(CURRENT, status="retired", reason="done")
    registry = Answers(MOVED, MOVED, OSError("registry away"), MOVED, retired)
    code, started, said, _ = supervise(monkeypatch, registry, new_build_fails=True)
    assert code == 0
    assert len(started) == 1  # never stopped for a build it could not serve
    assert started[0].returncode == -15  # SIGTERM: the warm stop, only at retirement
    assert said[-1] == "stopped serving greet@1.0: retired: done"
    assert not any("moved to commit" in line for line in said)
    assert registry.reconnects == 1


def test_a_moved_version_is_served_on_its_new_build(monkeypatch: pytest.MonkeyPatch) -> None:
    retired = replace(MOVED, status="retired", reason="done")
    registry = Answers(MOVED, retired)
    code, started, said, supervisor = supervise(monkeypatch, registry, new_build_fails=False)
    assert code == 0
    assert len(started) == 2 and all(p.returncode == -15 for p in started)
    assert any(f"moved to commit {'b' * 12}" in line for line in said)
    assert supervisor.current == MOVED
