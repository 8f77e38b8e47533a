"""The distributed tests' cluster (RabbitMQ vhost, PostgreSQL, `rainbow` processes), and one
module project released in three builds for every test here to serve or run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.gitrepo import AUTHOR, commit, git, new_repo
from tests.distributed.conftest import Cluster, broker_url, cluster

__all__ = ["broker_url", "cluster"]

PYPROJECT = """[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "rainbow-module-greet"
version = "0.0.0"
requires-python = ">=3.11"
dependencies = ["rainbow>=0.1,<1", "six=={six}"]

[project.entry-points."rainbow.modules"]
greet = "greet:greet"
"""
MODULE = """from typing import TypedDict

import six

import rainbow as rb


class Greeting(TypedDict):
    text: str
    six: str


@rb.module(name="greet", retries=0, timeout=60)
def greet(ctx: rb.Context, who: str, pause: float = 0.0{extra}) -> Greeting:
    import time

    time.sleep(pause)
    return {{"text": "{word} " + who, "six": six.__version__}}
"""


def project_files(word: str, six: str = "1.16.0", extra: str = "") -> dict[str, str]:
    return {
        "pyproject.toml": PYPROJECT.format(six=six),
        "greet/__init__.py": MODULE.format(word=word, extra=extra),
    }


def rainbow(cluster: Cluster | dict[str, str], *args: str, cwd: Path, check: bool = True) -> Any:
    env = cluster.env if isinstance(cluster, Cluster) else cluster
    done = subprocess.run(
        [sys.executable, "-m", "rainbow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check:
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


@dataclass(frozen=True)
class Built:
    repo: Path
    home: Path
    """Where the artifacts and the versions' environments were made, once for the session."""
    releases: list[dict[str, Any]]
    """What `rainbow release --json` said, in order: 1.0, its hot fix, latest."""


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """greet@latest (six 1.17.0, "hello") and greet@1.0 (six 1.16.0, "hi", hot-fixed once to
    "hi there"), released into a store of the session's own: each test registers them again in
    its cluster's registry and reuses the artifacts and environments."""
    base = tmp_path_factory.mktemp("greet")
    home = base / "home"
    env = {**os.environ, **AUTHOR, "RAINBOW_HOME": str(home)}
    env.pop("RAINBOW_DATABASE_URL", None)
    repo = new_repo(base / "greet")
    releases = []
    commit(repo, project_files("hi"))
    git(repo, "tag", "1.0")
    releases += json.loads(rainbow(env, "release", "--json", cwd=repo).stdout)
    git(repo, "checkout", "-q", "release-1.0")
    commit(repo, project_files("hi there"), "hot fix")
    releases += json.loads(rainbow(env, "release", "--json", cwd=repo).stdout)
    git(repo, "checkout", "-q", "main")
    commit(repo, project_files("hello", six="1.17.0"))
    releases += json.loads(rainbow(env, "release", "--json", cwd=repo).stdout)
    return Built(repo, home, releases)


def register_builds(built: Built, alias: str = "default") -> None:
    """greet@1.0 (at its hot fix) and greet@latest in the registry of the database ``alias``,
    as `rainbow release` recorded them in the builds' own store."""
    from rainbow.control.models import Module, ModuleVersion

    module = Module.objects.using(alias).create(name="greet")
    for body in (built.releases[1], built.releases[2]):
        ModuleVersion.objects.using(alias).create(
            module=module,
            version=body["version"],
            commit=body["commit"],
            interface=body["interface"],
            artifact_url=body["artifact_url"],
            artifact_hash=body["artifact_hash"],
        )
