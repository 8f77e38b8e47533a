"""Rainbow's project templates: new module projects, and template upgrades later (copier).

``rainbow new module`` copies the newest version of the module template; ``rainbow module
upgrade`` applies what changed in the template since, leaving the changes in the project's git
checkout for review (:mod:`rainbow.templates.snapshots` says how the versions are kept).
"""

from __future__ import annotations

import importlib.metadata
import keyword
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rainbow.errors import PlatformError, UserError
from rainbow.spec.models import NAME_PATTERN
from rainbow.templates.git import GitFailed, run_git
from rainbow.templates.snapshots import SOURCE, snapshot_versions, with_template

Kind = Literal["python", "command"]

MODULE_TEMPLATE = Path(__file__).with_name("module")
"""The snapshots of the module template shipped with this Rainbow."""
ANSWERS = ".copier-answers.yml"
PROJECT_NAME_MAX_LENGTH = 40
"""Shorter than module names may be (200): the generated code names the package in lines that
must stay within ruff's line length, and a project's name is typed in pins and queue names."""
RESERVED = frozenset({"rainbow", "pytest"})
"""Packages the generated project imports, which a package of the same name would hide."""

_NAME_HINT = (
    "use lower case letters, digits, '-' and '_', starting with a letter, at most "
    f"{PROJECT_NAME_MAX_LENGTH} characters, e.g. room-segment"
)
_CONFLICT_MARKERS = ("<<<<<<< before updating", ">>>>>>> after updating")


@dataclass(frozen=True)
class Created:
    """A new module project."""

    path: Path
    name: str
    package: str
    kind: Kind
    version: str


@dataclass(frozen=True)
class Upgraded:
    """A project brought to the newest template version; ``changed`` lists what to review."""

    path: Path
    from_version: str
    to_version: str
    changed: tuple[str, ...]


def package_of(name: str) -> str:
    """The Python package a module project of this name holds; refuses names that cannot be."""

    def refuse(why: str) -> UserError:
        return UserError(
            f"{name!r} cannot name a module project: {why}", code="RB-E070", hint=_NAME_HINT
        )

    if not re.fullmatch(NAME_PATTERN, name):
        raise refuse("it is not a module name")
    if len(name) > PROJECT_NAME_MAX_LENGTH:
        raise refuse(f"it is longer than {PROJECT_NAME_MAX_LENGTH} characters")
    package = name.replace("-", "_")
    if not package.isidentifier():
        raise refuse(f"its package {package!r} would start with a digit")
    if keyword.iskeyword(package):
        raise refuse(f"{package!r} is a Python keyword")
    if package in sys.stdlib_module_names:
        raise refuse(f"a package {package!r} would hide Python's own module {package}")
    if package in RESERVED:
        raise refuse(f"a package {package!r} would hide the {package} the project imports")
    return package


def new_module(
    name: str, folder: Path, *, kind: Kind = "python", snapshots: Path = MODULE_TEMPLATE
) -> Created:
    """Make a module project in ``folder``, which must be absent or empty."""
    package = package_of(name)
    target = folder.absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(
            f"{folder} already exists and is not an empty folder",
            code="RB-E071",
            hint="choose another folder with --dir, or empty this one",
        )
    import copier

    answers = {"name": name, "kind": kind, "rainbow_requirement": rainbow_requirement()}

    def copy(version: str) -> None:
        copier.run_copy(
            SOURCE,
            target,
            data=answers,
            vcs_ref=version,
            defaults=True,
            quiet=True,
            settings=copier.Settings(),
        )

    return Created(target, name, package, kind, with_template(snapshots, copy))


def upgrade_module(folder: Path, *, snapshots: Path = MODULE_TEMPLATE) -> Upgraded:
    """Apply the template's changes since ``folder`` was made or last upgraded.

    Needs a clean git checkout, since the changes are left in it for review. Raises a
    ``UserError`` naming the files where a template change met a change of the project's.
    """
    project = folder.absolute()
    current = _recorded_version(project)
    versions = snapshot_versions(snapshots)
    if current not in versions:
        raise _unknown_version(project, current, versions)
    _require_clean_checkout(project)
    rejects_before = _rejects(project)
    import copier

    def update(version: str) -> None:
        copier.run_update(
            project,
            data={"rainbow_requirement": rainbow_requirement()},
            vcs_ref=version,
            defaults=True,
            overwrite=True,
            conflict="inline",
            quiet=True,
            settings=copier.Settings(),
        )

    latest = with_template(snapshots, update)
    conflicted = sorted(set(_unmerged(project)) | (_rejects(project) - rejects_before))
    if conflicted:
        raise UserError(
            f"the upgrade of {folder} from template {current} to {latest} conflicts with the "
            f"project's own changes in: {', '.join(conflicted)}",
            code="RB-E074",
            hint=f"in each file keep what you want between `{_CONFLICT_MARKERS[0]}` and "
            f"`{_CONFLICT_MARKERS[1]}` (apply a .rej file's hunks by hand, then delete it), "
            "then `git add` the files and commit; `git reset --hard && git clean -fd` "
            "abandons the upgrade",
        )
    return Upgraded(project, current, latest, tuple(_changed(project)))


def rainbow_requirement() -> str:
    """The dependency on the running Rainbow's minor version and later, up to its next major.

    PyPI's ``rainbow`` is another project (2.x); the bound keeps it out while Rainbow is 0.x.
    """
    version = importlib.metadata.version("rainbow")
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None:
        raise PlatformError(f"Rainbow's version {version!r} is not X.Y…")
    major, minor = int(found[1]), int(found[2])
    return f"rainbow>={major}.{minor},<{major + 1}"


def _recorded_version(project: Path) -> str:
    answers_file = project / ANSWERS
    if not answers_file.is_file():
        raise _not_a_project(project, f"it has no {ANSWERS}")
    import yaml

    try:
        answers: Any = yaml.safe_load(answers_file.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _not_a_project(project, f"its {ANSWERS} cannot be read: {exc}") from None
    if not isinstance(answers, dict) or answers.get("_src_path") != SOURCE:
        source = answers.get("_src_path") if isinstance(answers, dict) else None
        raise _not_a_project(project, f"its {ANSWERS} names another template ({source!r})")
    return str(answers.get("_commit"))


def _not_a_project(project: Path, why: str) -> UserError:
    return UserError(
        f"{project} is not a module project made by `rainbow new module`: {why}",
        code="RB-E072",
        hint="give the project's folder with --dir; `rainbow new module NAME` starts one",
    )


def _unknown_version(project: Path, current: str, versions: list[str]) -> UserError:
    if re.fullmatch(r"v\d+", current) and int(current[1:]) > int(versions[-1][1:]):
        return UserError(
            f"{project} was made from module template {current}, newer than this Rainbow's "
            f"newest ({versions[-1]})",
            code="RB-E075",
            hint="upgrade Rainbow to the version that made or last upgraded the project",
        )
    return _not_a_project(project, f"its template version {current!r} is not one Rainbow made")


def _require_clean_checkout(project: Path) -> None:
    try:
        status = run_git(["status", "--porcelain", "--", "."], project)
    except GitFailed:
        raise UserError(
            f"{project} is not in a git repository",
            code="RB-E073",
            hint="commit the project first (git init && git add -A && git commit): the upgrade "
            "leaves its changes for review in git",
        ) from None
    dirty = [line[3:] for line in status.splitlines()]
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise UserError(
            f"{project} has uncommitted changes ({shown}); an upgrade could not be told apart "
            "from them",
            code="RB-E073",
            hint="commit or stash first",
        )


def _unmerged(project: Path) -> list[str]:
    listing = run_git(["ls-files", "--unmerged", "-z", "--", "."], project)
    return [entry.split("\t", 1)[1] for entry in listing.split("\0") if "\t" in entry]


def _rejects(project: Path) -> set[str]:
    """``.rej`` files, ignored ones too: copier leaves one where a hunk did not apply."""
    listing = run_git(["ls-files", "--others", "-z", "--", "*.rej"], project)
    return {path for path in listing.split("\0") if path}


def _changed(project: Path) -> list[str]:
    status = run_git(["status", "--porcelain", "--untracked-files=all", "--", "."], project)
    return [line[3:] for line in status.splitlines()]
