"""The template's versions, shipped whole as snapshot folders, and the git repository copier
runs from.

Copier's update replays the template version a project was made from, to tell the template's
changes from the project's own, so it needs that version's files; a template inside a package
has no history. Each version therefore ships as a folder (``module/v1``, ``module/v2``, …), and
every run builds a throwaway git repository of them: one commit per snapshot, in order, tagged
with its name. A project records the stable source :data:`SOURCE` (``_src_path``) and its
version (``_commit: v1``) in ``.copier-answers.yml``. Copier 9 updates only from the source an
answers file records, so copier runs in a scratch folder in which that relative path is the
throwaway repository.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from rainbow.errors import PlatformError, UserError
from rainbow.templates.git import run_git

SOURCE = "rainbow-templates/module"
"""What a project's ``_src_path`` says: resolved against the scratch folder copier runs in."""

_FIXED_DATE = "2000-01-01T00:00:00Z"


def snapshot_versions(snapshots: Path) -> list[str]:
    """The template versions in ``snapshots`` (folders ``v1``, ``v2``, …), oldest first."""
    found = [p.name for p in snapshots.iterdir() if p.is_dir() and re.fullmatch(r"v\d+", p.name)]
    if not found:
        raise PlatformError(f"no template snapshots (v1, v2, …) in {snapshots}")
    return sorted(found, key=lambda version: int(version[1:]))


def with_template(snapshots: Path, run: Callable[[str], None]) -> str:
    """Call ``run(newest version)`` in a scratch folder where :data:`SOURCE` is the template;
    return that version."""
    with tempfile.TemporaryDirectory(prefix="rainbow-template-") as scratch:
        versions = _template_repository(snapshots, Path(scratch) / SOURCE)
        # Copier changes the working directory itself while it runs, so this is no new
        # constraint on the process; the CLI runs one command at a time.
        with contextlib.chdir(scratch), _copier_refusals():
            run(versions[-1])
    return versions[-1]


def _template_repository(snapshots: Path, repository: Path) -> list[str]:
    versions = snapshot_versions(snapshots)
    repository.mkdir(parents=True)
    _git(repository, "init", "--quiet")
    for version in versions:
        for entry in repository.iterdir():
            if entry.name == ".git":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        shutil.copytree(
            snapshots / version,
            repository,
            symlinks=True,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        # --force: the user's ignore rules must not drop a template file.
        _git(repository, "add", "--all", "--force")
        _git(repository, "commit", "--quiet", "--allow-empty", "--message", f"template {version}")
        _git(repository, "tag", version)
    return versions


def _git(where: Path, *args: str) -> str:
    """Git on the template repository, deaf to the user's configuration and hooks, with fixed
    authors and dates: the same snapshots always make the same commits."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
    }
    env |= {
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Rainbow",
        "GIT_AUTHOR_EMAIL": "rainbow@localhost",
        "GIT_AUTHOR_DATE": _FIXED_DATE,
        "GIT_COMMITTER_NAME": "Rainbow",
        "GIT_COMMITTER_EMAIL": "rainbow@localhost",
        "GIT_COMMITTER_DATE": _FIXED_DATE,
    }
    config = ["-c", "core.excludesFile=", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"]
    return run_git([*config, *args], where, env)


@contextlib.contextmanager
def _copier_refusals() -> Iterator[None]:
    from copier.errors import UserMessageError

    try:
        yield
    except UserMessageError as exc:
        raise UserError(f"copier refused: {exc}") from None
