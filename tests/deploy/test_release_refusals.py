"""`rainbow release` refuses a project it cannot release, saying what to do, and records
nothing then; on real git repositories in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.deploy.gitrepo import AUTHOR, commit, new_repo
from tests.webserver import run_rainbow

pytestmark = pytest.mark.slow

PYPROJECT = """[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "rainbow-module-{name}"
version = "0.0.0"
requires-python = ">=3.11"
dependencies = ["rainbow>=0.1,<1"]
{entry_points}
"""
MODULE = """import rainbow as rb
{imports}

@rb.module(name="{name}")
def {name}(ctx: rb.Context, x: int) -> dict:
    return {{"x": x}}
"""


def project(tmp_path: Path, name: str, *, entry: bool = True, imports: str = "") -> Path:
    points = f'[project.entry-points."rainbow.modules"]\n{name} = "{name}:{name}"' if entry else ""
    repo = new_repo(tmp_path / name)
    commit(
        repo,
        {
            "pyproject.toml": PYPROJECT.format(name=name, entry_points=points),
            f"{name}/__init__.py": MODULE.format(name=name, imports=imports),
        },
    )
    return repo


def release(repo: Path, tmp_path: Path, expect: int, **env: str) -> str:
    done = run_rainbow(
        {
            **{k: v for k, v in os.environ.items() if not k.startswith("RAINBOW_")},
            **AUTHOR,
            "RAINBOW_HOME": str(tmp_path / "home"),
            **env,
        },
        "release",
        expect=expect,
        cwd=repo,
    )
    return done.stderr


def nothing_registered(tmp_path: Path) -> None:
    done = run_rainbow(
        {**os.environ, "RAINBOW_HOME": str(tmp_path / "home")}, "module", "list", cwd=tmp_path
    )
    assert "latest" not in done.stdout


def test_a_project_without_a_module_entry_point_is_refused(tmp_path: Path) -> None:
    said = release(project(tmp_path, "bare", entry=False), tmp_path, 2)
    assert "error RB-E065: project rainbow-module-bare declares no module" in said
    assert 'entry-points."rainbow.modules"' in said


def test_a_module_needing_an_undeclared_dependency_is_refused(tmp_path: Path) -> None:
    said = release(project(tmp_path, "needy", imports="import pytest_timeout"), tmp_path, 2)
    assert "error RB-E065: the built project does not load in its own environment" in said
    assert "pytest_timeout" in said
    nothing_registered(tmp_path)


def test_a_command_module_whose_build_fails_is_refused_with_its_output(tmp_path: Path) -> None:
    repo = project(tmp_path, "broken")
    commit(
        repo,
        {
            "broken/rainbow-module.toml": '[module]\nname = "cmd"\ncommand = ["./cmd"]\n'
            'build = ["cc", "-o", "cmd", "cmd.c"]\n',
            "broken/cmd.c": "int main( { return 0; }\n",
        },
    )
    said = release(repo, tmp_path, 2)
    assert "error RB-E066: building the command module in broken failed" in said
    assert "cmd.c" in said  # the compiler's own message
    nothing_registered(tmp_path)


def test_an_artifact_store_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store should be\n")
    said = release(
        project(tmp_path, "stored"), tmp_path, 2, RAINBOW_ARTIFACTS_URL=str(blocker / "store")
    )
    assert "error RB-E067: cannot write the artifact to" in said
    assert "RAINBOW_ARTIFACTS_URL" in said
