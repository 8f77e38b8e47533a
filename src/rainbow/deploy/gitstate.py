"""What ``rainbow release`` releases, read from git: researchers push to main or push a tag.

- HEAD on the main branch: ``NAME@latest``, updated in place.
- HEAD at a tag ``X.Y`` (or ``vX.Y``): ``NAME@X.Y``, a new instance; the branch ``release-X.Y``
  is created at the tag for hot fixes. A tag wins over the branch HEAD is on.
- HEAD on ``release-X.Y`` past the tag: a hot fix of ``X.Y``, moved in place.
- HEAD on any other branch: a branch build ``NAME@branch-<branch>`` for one-off pipelines.

Everything else is refused with what to do: a dirty tree, a tag that is not X.Y, a detached
HEAD that none of the above names.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from rainbow.errors import UserError
from rainbow.spec.models import BRANCH_PREFIX, VERSION_MAX_LENGTH

Kind = Literal["latest", "release", "hotfix", "branch"]
RELEASE_TAG = re.compile(r"^v?(?P<version>\d+\.\d+)$")
VERSION_LIKE_TAG = re.compile(r"^v?\d")
RELEASE_BRANCH = re.compile(r"^release-(?P<version>\d+\.\d+)$")
SHOWN_PATHS = 5
GIT_TIMEOUT_S = 60


@dataclass(frozen=True)
class Target:
    """One release: which version a commit becomes, and who made it."""

    kind: Kind
    version: str
    commit: str
    ref: str
    """The branch or tag released: ``main``, ``1.0``, ``release-1.0``, ``feature/x``."""
    committer: str
    committed_at: datetime
    root: Path
    """The repository's top folder."""
    subdir: str
    """The project's folder inside the repository (``""`` at its top)."""
    tag_commit: str = ""
    """For releases and hot fixes: the commit the X.Y tag names."""
    new_branch: str = ""
    """``release-X.Y`` when releasing a tag whose branch does not exist yet."""


def git(root: Path, *args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise UserError(
            "git is not installed: rainbow release reads the version from git",
            code="RB-E060",
            hint="install git",
        ) from None
    if check and done.returncode != 0:
        raise UserError(
            f"git {' '.join(args)} failed in {root}: {done.stderr.strip()[:500]}",
            code="RB-E060",
            hint="check the repository is readable (git status)",
        )
    return done.stdout.rstrip("\n") if done.returncode == 0 else ""


def read(project: Path, *, main_branch: str = "main", branch: str | None = None) -> Target:
    """The release ``project``'s git state makes; ``branch`` names the branch a detached
    checkout is on (CI systems check out a commit and say the branch in a variable)."""
    project = project.resolve()
    if not project.is_dir():
        raise UserError(
            f"{project} is not a folder", code="RB-E060", hint="give the module project's folder"
        )
    top = git(project, "rev-parse", "--show-toplevel", check=False)
    if not top:
        raise UserError(
            f"{project} is not in a git repository: a release is a commit",
            code="RB-E060",
            hint="git init, commit the module project, then release from main or a tag",
        )
    root = Path(top)
    subdir = project.relative_to(root).as_posix() if project != root else ""
    commit = git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    if not commit:
        raise UserError(
            f"the repository at {root} has no commit yet",
            code="RB-E060",
            hint="commit the module project first",
        )
    _refuse_dirty(root, subdir)
    committer, committed = git(root, "log", "-1", "--format=%cn <%ce>%n%cI", "HEAD").split("\n")
    when = datetime.fromisoformat(committed)
    base = Target("latest", "latest", commit, "", committer, when, root, subdir)
    tag = _release_tag(root, commit)
    if tag is not None:
        version = RELEASE_TAG.fullmatch(tag)["version"]  # type: ignore[index]
        release_branch = f"release-{version}"
        # A fresh CI clone has the branch only as a remote one: never make it again at the tag.
        exists = git(
            root,
            "for-each-ref",
            f"refs/heads/{release_branch}",
            f"refs/remotes/*/{release_branch}",
            check=False,
        )
        return replace(
            base,
            kind="release",
            version=version,
            ref=tag,
            tag_commit=commit,
            new_branch="" if exists else release_branch,
        )
    checked_out = git(root, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    if branch and checked_out and branch != checked_out:
        raise UserError(
            f"--branch {branch} names another branch than the one checked out ({checked_out})",
            code="RB-E063",
            hint="--branch is for a detached checkout (CI); on a branch, drop it",
        )
    current = checked_out or branch
    if not current:
        raise UserError(
            f"HEAD ({commit[:12]}) is detached and carries no X.Y tag: nothing says what it "
            "releases",
            code="RB-E063",
            hint="check out main, a release-X.Y branch or a tag X.Y; in CI pass --branch NAME "
            "with the branch the build is for",
        )
    if current == main_branch:
        return replace(base, ref=current)
    matched = RELEASE_BRANCH.fullmatch(current)
    if matched:
        version = matched["version"]
        tag_commit = _tag_commit(root, version)
        if not tag_commit:
            raise UserError(
                f"branch {current} has no tag {version} to hot-fix",
                code="RB-E064",
                hint=f"release {version} first: tag its commit {version} and run rainbow "
                "release there; the branch is created for you",
            )
        if not _is_ancestor(root, tag_commit, commit):
            raise UserError(
                f"branch {current} does not contain tag {version} ({tag_commit[:12]})",
                code="RB-E064",
                hint=f"hot fixes are commits on top of {version}: branch from the tag",
            )
        return replace(base, kind="hotfix", version=version, ref=current, tag_commit=tag_commit)
    return replace(base, kind="branch", version=branch_version(current), ref=current)


def branch_version(branch: str) -> str:
    """``branch-`` and the branch's name made a version: lower-case, ``[a-z0-9-]``, and cut
    with a short hash of the whole name when too long, so two branches never share one."""
    slug = re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-") or "x"
    room = VERSION_MAX_LENGTH - len(BRANCH_PREFIX)
    if len(slug) > room or slug != branch:
        digest = hashlib.sha256(branch.encode()).hexdigest()[:6]
        slug = f"{slug[: room - len(digest) - 1].rstrip('-')}-{digest}"
    return f"{BRANCH_PREFIX}{slug}"


def create_branch(target: Target, *, push: bool) -> str:
    """Create ``release-X.Y`` at the tag when missing, and with ``push`` make sure the first
    remote has it (a push that failed before is made again); says what was done."""
    if target.kind != "release":
        return ""
    branch, done = f"release-{target.version}", []
    if target.new_branch:
        git(target.root, "branch", branch, target.tag_commit)
        done.append(f"created branch {branch} at {target.ref}")
    remote = git(target.root, "remote", check=False).split("\n")[0] if push else ""
    if remote and not git(target.root, "ls-remote", "--heads", remote, branch, check=False):
        pushed = subprocess.run(
            ["git", "push", remote, f"refs/heads/{branch}:refs/heads/{branch}"],
            cwd=target.root,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
        if pushed.returncode != 0:
            raise UserError(
                f"could not push {branch} to {remote}: {pushed.stderr.strip()[:500]}",
                code="RB-E060",
                hint="the release is recorded; fix the remote's access and run rainbow "
                "release --push again to push the branch",
            )
        done.append(f"pushed {branch} to {remote}")
    return " and ".join(done)


def _is_ancestor(root: Path, ancestor: str, commit: str) -> bool:
    done = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ancestor, commit],
        cwd=root,
        capture_output=True,
        timeout=GIT_TIMEOUT_S,
        check=False,
    )
    return done.returncode == 0


def _refuse_dirty(root: Path, subdir: str) -> None:
    status = git(root, "status", "--porcelain", "--untracked-files=normal", "--", subdir or ".")
    if status:
        paths = [line[3:] for line in status.split("\n")]
        shown = ", ".join(paths[:SHOWN_PATHS]) + (" …" if len(paths) > SHOWN_PATHS else "")
        raise UserError(
            f"the working tree has changes not committed: {shown}",
            code="RB-E061",
            hint="a release is built from a commit: commit or stash them (ignore build "
            "outputs in .gitignore), then release again",
        )


def _release_tag(root: Path, commit: str) -> str | None:
    tags = [t for t in git(root, "tag", "--points-at", commit).split("\n") if t]
    releases = [t for t in tags if RELEASE_TAG.fullmatch(t)]
    wrong = [t for t in tags if VERSION_LIKE_TAG.match(t) and not RELEASE_TAG.fullmatch(t)]
    if len(releases) > 1:
        raise UserError(
            f"HEAD carries several release tags: {', '.join(sorted(releases))}",
            code="RB-E062",
            hint="one commit is one release: delete all but one tag (git tag -d)",
        )
    if not releases and wrong:
        raise UserError(
            f"tag {wrong[0]} is not a release version X.Y",
            code="RB-E062",
            hint="tag releases X.Y or vX.Y (1.0, v2.3); a hot fix is a commit on branch "
            "release-X.Y, released from there as X.Y.1, X.Y.2, …",
        )
    return releases[0] if releases else None


def _tag_commit(root: Path, version: str) -> str:
    for name in (version, f"v{version}"):
        found = git(
            root, "rev-parse", "-q", "--verify", f"refs/tags/{name}^{{commit}}", check=False
        )
        if found:
            return found
    return ""
