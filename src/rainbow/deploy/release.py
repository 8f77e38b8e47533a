"""Build what a commit releases: the git state read, the artifact built and stored, fetched
back and installed into its environment, and the interface that build declares."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rainbow.deploy import artifacts, environments, gitstate
from rainbow.errors import UserError
from rainbow.settings import ReleaseSettings

DESCRIBE_TIMEOUT_S = 300


@dataclass(frozen=True)
class Built:
    target: gitstate.Target
    artifact: artifacts.Artifact
    interfaces: dict[str, dict[str, Any]]
    """Module name → the interface that build declares."""
    environment: Path


def build_release(project: Path, settings: ReleaseSettings, *, branch: str | None) -> Built:
    target = gitstate.read(project, main_branch=settings.main_branch, branch=branch)
    with tempfile.TemporaryDirectory(prefix="rainbow-release-") as work:
        manifest, files = artifacts.build(target, Path(work))
        artifact = artifacts.store(manifest, files, settings.artifacts_url)
    # What workers will run is what comes back from the store, so that is what is checked.
    folder = artifacts.fetch(artifact.url, artifact.hash, settings.cache)
    environment = environments.ensure(folder, artifact.hash, settings.cache)
    interfaces = describe(environment, sorted(manifest.modules))
    return Built(target, artifact, interfaces, environment)


def describe(environment: Path, modules: list[str]) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        # Only the environment's code: not the folder we run in (-P), not an outer PYTHONPATH.
        [str(environments.python_of(environment)), "-P", "-m", "rainbow.deploy.describe", *modules],
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=DESCRIBE_TIMEOUT_S,
        check=False,
    )
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = {"error": (done.stderr or done.stdout).strip()[-2000:], "hint": ""}
    if "interfaces" not in answer:
        raise UserError(
            f"the built project does not load in its own environment: {answer['error']}",
            code="RB-E065",
            hint=answer.get("hint")
            or "its package must import with only its declared "
            "dependencies: add what is missing to pyproject.toml's dependencies",
        )
    interfaces: dict[str, dict[str, Any]] = answer["interfaces"]
    return interfaces
