"""Which commit (and branch) a piece of code is, read from the git checkout holding it."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT_S = 10


def code_state(path: Path, *, whole_tree: bool = False) -> tuple[str, bool]:
    """The commit of the checkout holding ``path`` and whether that file's folder (with
    ``whole_tree``, the whole checkout: what the commit stands for) has changes not
    committed; ``("", True)`` outside git."""
    folder = path.resolve()
    folder = folder if folder.is_dir() else folder.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
        if head.returncode != 0:
            return "", True
        status = subprocess.run(
            ["git", "status", "--porcelain", *([] if whole_tree else ["--", "."])],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "", True
    return head.stdout.strip(), bool(status.stdout.strip()) or status.returncode != 0


def branch_of(path: Path) -> str:
    """The branch checked out where ``path`` is; empty on a detached head or outside git."""
    folder = path.resolve()
    folder = folder if folder.is_dir() else folder.parent
    try:
        found = subprocess.run(
            ["git", "symbolic-ref", "--quiet", "--short", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return found.stdout.strip() if found.returncode == 0 else ""
