"""Git, as the templates run it: a failure is an exception carrying git's own message."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rainbow.errors import PlatformError, UserError


class GitFailed(PlatformError):
    """A git command failed; callers that expect it to (no repository) say what it means."""


def run_git(args: list[str], where: Path, env: dict[str, str] | None = None) -> str:
    """Git's standard output, run in ``where``."""
    if shutil.which("git") is None:
        raise UserError("git is not installed", hint="install git: module projects live in git")
    done = subprocess.run(
        ["git", *args], cwd=where, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise GitFailed(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout
