"""`rainbow new module` makes projects that lint, test and install as made; upgrades apply
template changes and refuse what they cannot do safely.

One project of each kind is made, committed and installed (with Rainbow, editable, into one
fresh venv made by uv) once for this file; the upgrade tests make their own small projects.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from rainbow.errors import UserError
from rainbow.templates import MODULE_TEMPLATE, SOURCE, new_module, package_of, upgrade_module
from tests.webserver import RAINBOW

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"python": "word-count", "command": "edge-count"}
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Researcher",
    "GIT_AUTHOR_EMAIL": "researcher@example.com",
    "GIT_COMMITTER_NAME": "Researcher",
    "GIT_COMMITTER_EMAIL": "researcher@example.com",
}


def run(
    argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env={**os.environ, **GIT_IDENTITY, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == expect, (
        f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done


def rainbow(cwd: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    done = run([*RAINBOW, *args], cwd, {"RAINBOW_HOME": str(cwd / ".rainbow")}, expect)
    assert "Traceback" not in done.stderr
    return done


def commit(project: Path, message: str = "work") -> None:
    """Put the project in git, if it is not yet, and commit all of it."""
    run(["git", "init", "--quiet"], project)
    run(["git", "add", "--all"], project)
    run(["git", "commit", "--quiet", "--message", message], project)


def uv() -> str:
    found = shutil.which(
        "uv", path=os.pathsep.join([str(Path(sys.executable).parent), str(ROOT / ".tools" / "bin")])
    ) or shutil.which("uv")
    assert found, "uv is needed to install the generated projects (make installs it)"
    return found


@dataclass(frozen=True)
class Project:
    path: Path
    name: str
    kind: str
    venv: Path

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        path = f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
        return run(
            [self.venv / "bin" / tool, *args],
            self.path,
            {"PATH": path, "VIRTUAL_ENV": str(self.venv)},
        )


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    """One committed project of each kind, installed with Rainbow into one fresh venv."""
    where = tmp_path_factory.mktemp("projects")
    for kind, name in KINDS.items():
        rainbow(where, "new", "module", name, *(["--command"] if kind == "command" else []))
        commit(where / name, "New module")
    venv = where / "venv"
    env = {"UV_PYTHON_DOWNLOADS": "never"}
    run([uv(), "venv", "--quiet", "--python", sys.executable, venv], where, env)
    editables = [arg for name in KINDS.values() for arg in ("-e", f"{where / name}[dev]")]
    run(
        [
            uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            venv / "bin" / "python",
            "-e",
            ROOT,
            *editables,
        ],
        where,
        env,
    )
    return {kind: Project(where / name, name, kind, venv) for kind, name in KINDS.items()}


@pytest.fixture(params=list(KINDS))
def project(request: pytest.FixtureRequest, projects: dict[str, Project]) -> Project:
    return projects[request.param]


def test_a_new_project_has_the_template_files(project: Project) -> None:
    """The project records its template version and pins Rainbow away from PyPI's namesake."""
    package = project.name.replace("-", "_")
    answers = (project.path / ".copier-answers.yml").read_text()
    assert "_commit: v2\n" in answers and f"_src_path: {SOURCE}\n" in answers
    pyproject = (project.path / "pyproject.toml").read_text()
    assert 'dependencies = ["rainbow>=0.1,<1"]' in pyproject
    assert f'{project.name} = "{package}.module:{package}"' in pyproject
    assert os.access(project.path / "ci.sh", os.X_OK)
    run(["bash", "-n", "ci.sh"], project.path)
    dockerfile = (project.path / "Dockerfile").read_text()
    assert dockerfile.startswith("# The ") and "FROM python:3.11-slim" in dockerfile
    assert f'CMD ["rainbow", "worker", "{project.name}@latest"]' in dockerfile
    assert (project.path / ".buildkite" / "pipeline.yml").is_file()
    units = sorted(
        p.relative_to(project.path).as_posix() for p in (project.path / "units").rglob("*.json")
    )
    assert units == ["units/blank.json", "units/pangram/unit.json"]
    program = project.path / "src" / package / f"{project.name}.cpp"
    assert program.is_file() == (project.kind == "command")


def test_pre_commit_passes_on_a_new_project(project: Project) -> None:
    """`pre-commit run --all-files` (ruff check --fix, ruff format, no rejects) changes nothing.

    Its hook environments live in pre-commit's shared cache, so only a first run installs ruff.
    """
    done = project.run("pre-commit", "run", "--all-files", "--show-diff-on-failure")
    assert "Failed" not in done.stdout
    assert run(["git", "status", "--porcelain"], project.path).stdout == ""


def test_the_tests_of_a_new_project_pass(project: Project) -> None:
    """`pytest` in a fresh clone passes: the module runs on every canned unit."""
    done = project.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert "4 passed" in done.stdout


def test_the_functional_test_ci_runs_passes_on_a_new_project(
    project: Project, tmp_path: Path
) -> None:
    """What ci.sh runs: `rainbow evaluate module:NAME --corpus units`, here against figures
    saved to a file (CI keeps them in the control plane): the module on its own canned units,
    found by its installed entry point, nothing regressed."""
    env = {"PATH": f"{project.venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env["RAINBOW_HOME"] = str(tmp_path / "home")
    ci = (project.path / "ci.sh").read_text()
    assert f'rainbow evaluate "module:{project.name}" --corpus units' in ci
    evaluate = [project.venv / "bin" / "rainbow", "evaluate", f"module:{project.name}"]
    evaluate += ["--corpus", "units"]
    if project.kind == "command":  # in CI, its tests have built the program by now
        package = project.name.replace("-", "_")
        run([project.venv / "bin" / "python", "-m", f"{package}.build"], project.path, env)
    baseline = tmp_path / "baseline.json"
    run([*evaluate, "--save-baseline", baseline], project.path, env)
    done = run([*evaluate, "--baseline", baseline, "--json"], project.path, env)
    rows = json.loads(done.stdout)["rows"]
    assert {row["verdict"] for row in rows} == {"unchanged"}
    assert any(row["key"] == "run:failed_units" for row in rows)


def test_a_project_made_from_the_first_template_upgrades_to_the_functional_test(
    tmp_path: Path, snapshots: Path
) -> None:
    """Template v2 adds `rainbow evaluate` to CI and the README: a v1 project gets both."""
    made = new_module("segment", tmp_path / "segment", snapshots=snapshots)
    commit(made.path)
    shutil.copytree(MODULE_TEMPLATE / "v2", snapshots / "v2")
    done = upgrade_module(made.path, snapshots=snapshots)
    assert (done.from_version, done.to_version) == ("v1", "v2")
    assert set(done.changed) == {".copier-answers.yml", "README.md", "ci.sh"}
    assert 'rainbow evaluate "module:segment" --corpus units' in (made.path / "ci.sh").read_text()
    assert "## Compare with main" in (made.path / "README.md").read_text()


def test_the_installed_module_is_found_by_its_entry_point(project: Project) -> None:
    """Installed, the project declares its module in the rainbow.modules entry point group."""
    code = (
        "from importlib.metadata import entry_points\n"
        f"module = entry_points(group='rainbow.modules')[{project.name!r}].load()\n"
        "print(type(module).__name__, module.name)\n"
    )
    kind = "PythonModule" if project.kind == "python" else "CommandModule"
    assert project.run("python", "-c", code).stdout.split() == [kind, project.name]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Segment", "it is not a module name"),
        ("room segment", "it is not a module name"),
        ("3d-mesh", "would start with a digit"),
        ("class", "is a Python keyword"),
        ("json", "would hide Python's own module json"),
        ("rainbow", "would hide the rainbow the project imports"),
        ("a" * 41, "longer than 40 characters"),
    ],
)
def test_a_name_that_cannot_name_a_project_is_refused(name: str, why: str) -> None:
    """The name follows Rainbow's grammar and makes a package that hides nothing it imports."""
    with pytest.raises(UserError) as refused:
        package_of(name)
    assert refused.value.code == "RB-E070" and why in refused.value.message
    assert (refused.value.hint or "").startswith("use lower case letters")


def test_the_cli_refuses_a_bad_name_and_makes_nothing(tmp_path: Path) -> None:
    """`rainbow new module` shows the refusal with its id and hint, and exits 2."""
    done = rainbow(tmp_path, "new", "module", "3d-mesh", expect=2)
    assert "error RB-E070: '3d-mesh' cannot name a module project" in done.stderr
    assert "hint: use lower case letters" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    """--dir must be absent or empty: nothing of the user's is overwritten."""
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    done = rainbow(tmp_path, "new", "module", "segment", "--dir", "taken", expect=2)
    assert "error RB-E071: taken already exists and is not an empty folder" in done.stderr
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]


def test_upgrade_refuses_a_project_with_uncommitted_changes(tmp_path: Path) -> None:
    """Copier cannot tell its changes from uncommitted ones: the upgrade says to commit first."""
    project = new_module("segment", tmp_path / "segment").path
    done = rainbow(tmp_path, "module", "upgrade", "--dir", "segment", expect=2)
    assert "error RB-E073:" in done.stderr and "is not in a git repository" in done.stderr
    commit(project)
    (project / "README.md").write_text("mine\n")
    done = rainbow(project, "module", "upgrade", expect=2)
    assert "error RB-E073:" in done.stderr and "uncommitted changes (README.md)" in done.stderr
    assert "hint: commit or stash first" in done.stderr


def test_upgrade_refuses_a_folder_rainbow_did_not_make(tmp_path: Path) -> None:
    """A folder without Rainbow's answers file is not a module project."""
    done = rainbow(tmp_path, "module", "upgrade", expect=2)
    assert "error RB-E072:" in done.stderr and "has no .copier-answers.yml" in done.stderr


def test_upgrade_at_the_newest_template_changes_nothing(tmp_path: Path) -> None:
    """A project already at the newest template version is left as it is."""
    commit(new_module("segment", tmp_path / "segment").path)
    done = rainbow(tmp_path / "segment", "module", "upgrade")
    assert "is up to date with template v2" in done.stdout
    assert run(["git", "status", "--porcelain"], tmp_path / "segment").stdout == ""


@pytest.fixture
def snapshots(tmp_path: Path) -> Path:
    """A template root holding the shipped v1; tests add a v2 after making their project."""
    root = tmp_path / "templates"
    shutil.copytree(MODULE_TEMPLATE / "v1", root / "v1")
    return root


def make_v2(snapshots: Path) -> None:
    """v2 retitles the README and ignores log files."""
    v2 = snapshots / "v2"
    shutil.copytree(snapshots / "v1", v2)
    readme = v2 / "README.md.jinja"
    readme.write_text(readme.read_text().replace("# {{ name }}\n", "# The {{ name }} module\n", 1))
    with (v2 / ".gitignore.jinja").open("a") as ignore:
        ignore.write("*.log\n")


def test_upgrade_applies_template_changes_beside_the_projects_own(
    tmp_path: Path, snapshots: Path
) -> None:
    """Template changes to lines the user did not touch are applied; the user's stay."""
    made = new_module("segment", tmp_path / "segment", snapshots=snapshots)
    module = made.path / "src" / "segment" / "module.py"
    module.write_text(module.read_text() + "\n# tuned by hand\n")
    commit(made.path)
    make_v2(snapshots)
    done = upgrade_module(made.path, snapshots=snapshots)
    assert (done.from_version, done.to_version) == ("v1", "v2")
    assert set(done.changed) == {".copier-answers.yml", ".gitignore", "README.md"}
    assert (made.path / "README.md").read_text().startswith("# The segment module\n")
    assert (made.path / ".gitignore").read_text().endswith("*.log\n")
    assert module.read_text().endswith("# tuned by hand\n")
    assert "_commit: v2\n" in (made.path / ".copier-answers.yml").read_text()


def test_upgrade_names_the_files_where_template_and_project_changed_the_same_lines(
    tmp_path: Path, snapshots: Path
) -> None:
    """A conflict is never a success: the files are named, marked and left unmerged."""
    made = new_module("segment", tmp_path / "segment", snapshots=snapshots)
    readme = made.path / "README.md"
    readme.write_text(readme.read_text().replace("# segment\n", "# Segment, by the CV team\n", 1))
    commit(made.path)
    make_v2(snapshots)
    with pytest.raises(UserError) as refused:
        upgrade_module(made.path, snapshots=snapshots)
    assert refused.value.code == "RB-E074"
    assert refused.value.message.endswith("conflicts with the project's own changes in: README.md")
    assert "from template v1 to v2" in refused.value.message
    assert "git reset --hard && git clean -fd" in (refused.value.hint or "")
    text = readme.read_text()
    assert "<<<<<<< before updating\n# Segment, by the CV team\n" in text
    assert "# The segment module\n>>>>>>> after updating" in text
    unmerged = run(["git", "ls-files", "--unmerged"], made.path).stdout
    assert "README.md" in unmerged


def test_upgrade_refuses_a_project_made_by_a_newer_template(
    tmp_path: Path, snapshots: Path
) -> None:
    """A project from a newer Rainbow's template is not downgraded."""
    make_v2(snapshots)
    made = new_module("segment", tmp_path / "segment", snapshots=snapshots)
    commit(made.path)
    shutil.rmtree(snapshots / "v2")
    with pytest.raises(UserError) as refused:
        upgrade_module(made.path, snapshots=snapshots)
    assert refused.value.code == "RB-E075"
    assert (
        "made from module template v2, newer than this Rainbow's newest (v1)"
        in refused.value.message
    )
