"""What `rainbow release` releases is read from real git repositories, and every state that
names no release is refused with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from rainbow.deploy import gitstate
from rainbow.errors import UserError
from rainbow.vcs import code_state
from tests.deploy.gitrepo import commit, git, new_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = new_repo(tmp_path / "module")
    commit(path, {"pyproject.toml": "[project]\nname = 'x'\n"})
    return path


def refused(project: Path, code: str, **kwargs: str) -> UserError:
    with pytest.raises(UserError) as caught:
        gitstate.read(project, **kwargs)
    assert caught.value.code == code
    assert caught.value.hint
    return caught.value


def test_main_releases_latest_with_the_committer(repo: Path) -> None:
    target = gitstate.read(repo)
    assert (target.kind, target.version, target.ref) == ("latest", "latest", "main")
    assert target.commit == git(repo, "rev-parse", "HEAD")
    assert target.committer == "Ada Lovelace <ada@example.com>"
    assert target.subdir == ""


def test_the_main_branch_name_is_configurable(repo: Path) -> None:
    git(repo, "branch", "-m", "trunk")
    assert gitstate.read(repo, main_branch="trunk").kind == "latest"
    assert gitstate.read(repo).kind == "branch"


@pytest.mark.parametrize("tag", ["1.0", "v1.0"])
def test_a_tag_releases_its_version_and_wins_over_main(repo: Path, tag: str) -> None:
    git(repo, "tag", tag)
    target = gitstate.read(repo)
    assert (target.kind, target.version, target.ref) == ("release", "1.0", tag)
    assert target.new_branch == "release-1.0"
    assert gitstate.create_branch(target, push=False) == f"created branch release-1.0 at {tag}"
    assert git(repo, "rev-parse", "release-1.0") == target.commit
    assert gitstate.read(repo).new_branch == ""  # the branch exists now


def test_commits_on_the_release_branch_are_hot_fixes(repo: Path) -> None:
    git(repo, "tag", "1.0")
    tagged = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "release-1.0")
    fix = commit(repo, {"fix.txt": "fixed\n"})
    target = gitstate.read(repo)
    assert (target.kind, target.version, target.commit, target.tag_commit) == (
        "hotfix",
        "1.0",
        fix,
        tagged,
    )


def test_another_branch_is_a_branch_build(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature/Faster-Edges")
    target = gitstate.read(repo)
    assert target.kind == "branch"
    assert target.version.startswith("branch-feature-faster-")
    assert len(target.version) <= 32
    assert gitstate.branch_version("fix-x") == "branch-fix-x"
    long = gitstate.branch_version("a" * 80)
    assert len(long) <= 32 and long != gitstate.branch_version("a" * 81)


def test_a_project_in_a_sub_folder_is_released_from_there(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "mono")
    commit(repo, {"modules/edges/pyproject.toml": "[project]\nname = 'e'\n", "other.txt": "x"})
    (repo / "other.txt").write_text("changed elsewhere\n")  # not the project's: not dirty
    target = gitstate.read(repo / "modules" / "edges")
    assert (target.subdir, target.root) == ("modules/edges", repo)


def test_outside_git_or_before_a_commit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "loose").mkdir()
    assert "not in a git repository" in refused(tmp_path / "loose", "RB-E060").message
    empty = new_repo(tmp_path / "empty")
    assert "no commit" in refused(empty, "RB-E060").message


def test_a_dirty_tree_is_refused_naming_the_files(repo: Path) -> None:
    (repo / "pyproject.toml").write_text("changed\n")
    (repo / "new.py").write_text("untracked\n")
    problem = refused(repo, "RB-E061")
    assert "pyproject.toml" in problem.message and "new.py" in problem.message
    assert "commit or stash" in (problem.hint or "")


@pytest.mark.parametrize("tag", ["1.0.0", "v1", "2"])
def test_a_tag_that_is_not_x_y_is_refused(repo: Path, tag: str) -> None:
    git(repo, "tag", tag)
    problem = refused(repo, "RB-E062")
    assert f"tag {tag} is not a release version X.Y" in problem.message
    assert "release-X.Y" in (problem.hint or "")


def test_an_unrelated_tag_on_main_is_ignored(repo: Path) -> None:
    git(repo, "tag", "demo-for-bob")
    assert gitstate.read(repo).kind == "latest"


def test_two_release_tags_on_one_commit_are_refused(repo: Path) -> None:
    git(repo, "tag", "1.0")
    git(repo, "tag", "1.1")
    assert "1.0, 1.1" in refused(repo, "RB-E062").message


def test_a_detached_head_needs_a_tag_or_the_branch_ci_names(repo: Path) -> None:
    commit(repo, {"b.txt": "b\n"})
    git(repo, "checkout", "-q", "--detach", "HEAD")
    problem = refused(repo, "RB-E063")
    assert "--branch" in (problem.hint or "")
    assert gitstate.read(repo, branch="main").kind == "latest"


def test_a_release_branch_without_its_tag_is_refused(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "release-2.0")
    assert "has no tag 2.0" in refused(repo, "RB-E064").message


def test_a_release_branch_that_does_not_contain_its_tag_is_refused(repo: Path) -> None:
    commit(repo, {"later.txt": "later\n"})
    git(repo, "tag", "3.0")
    git(repo, "checkout", "-q", "-b", "release-3.0", "HEAD~1")
    commit(repo, {"fix.txt": "fix\n"})
    assert "does not contain tag 3.0" in refused(repo, "RB-E064").message


def test_code_state_says_commit_and_whether_the_folder_changed(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    assert code_state(repo / "pyproject.toml") == (head, False)
    (repo / "pyproject.toml").write_text("edited\n")
    assert code_state(repo / "pyproject.toml") == (head, True)
    assert code_state(Path("/")) == ("", True)


def test_push_sends_the_new_release_branch_to_the_remote(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "tag", "2.0")
    done = gitstate.create_branch(gitstate.read(repo), push=True)
    assert done == "created branch release-2.0 at 2.0 and pushed release-2.0 to origin"
    assert git(remote, "rev-parse", "release-2.0") == git(repo, "rev-parse", "HEAD")


def test_branch_names_only_a_detached_checkout(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    problem = refused(repo, "RB-E063", branch="main")
    assert "--branch main names another branch than the one checked out (feature)" in (
        problem.message
    )


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    assert "is not a folder" in refused(tmp_path / "nowhere", "RB-E060").message
