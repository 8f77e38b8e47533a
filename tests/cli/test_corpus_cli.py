"""`rainbow corpus init|validate|show|register|list`, run as users run them: real processes, a
home of their own, exit 0 or 2 with every problem listed, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.webserver import PASSWORD, ROOT, Plane, run_rainbow

pytestmark = pytest.mark.slow

TERMS = ("--name", "rooms", "--version", "1", "--licence", "cc-by-4.0", "--use", "research")


def rainbow(
    home: Path, *args: str, expect: int = 0, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RAINBOW_HOME": str(home), **env}
    for unset in ("RAINBOW_DATABASE_URL", "RAINBOW_URL", "RAINBOW_TOKEN"):
        if unset not in env:
            environment.pop(unset, None)
    return run_rainbow(environment, *args, expect=expect)


def units(folder: Path, count: int = 2) -> Path:
    for index in range(count):
        unit = folder / f"room-{index}"
        unit.mkdir(parents=True)
        (unit / "unit.json").write_text(json.dumps({"photo": "photo.jpg"}))
        (unit / "photo.jpg").write_bytes(bytes([index]) * 16)
    return folder


def made(tmp_path: Path, home: Path) -> Path:
    folder = units(tmp_path / "corpus")
    rainbow(home, "corpus", "init", str(folder), *TERMS, "--source", "a test", "--made-by", "ada")
    return folder


def test_a_corpus_is_made_checked_shown_registered_and_listed(tmp_path: Path) -> None:
    """init writes corpus.toml; validate, show and show --json agree on its content hash;
    register records it once in the store; list shows it."""
    home = tmp_path / "home"
    folder = units(tmp_path / "corpus")
    wrote = rainbow(
        home, "corpus", "init", str(folder), *TERMS, "--source", "a test", "--made-by", "ada"
    )
    assert "rooms@1, 2 unit(s), 4 file(s)" in wrote.stdout
    assert (folder / "corpus.toml").is_file()
    checked = rainbow(home, "corpus", "validate", str(folder))
    assert "rooms@1 is valid" in checked.stdout
    shown = json.loads(rainbow(home, "corpus", "show", str(folder), "--json").stdout)
    assert shown["content_hash"] in checked.stdout and shown["content_hash"] in wrote.stdout
    assert (shown["licence"], shown["use"], shown["unit_count"]) == ("CC-BY-4.0", "research", 2)
    assert shown["provenance"]["made_by"] == "ada" and shown["units"] == ["room-0", "room-1"]
    text = rainbow(home, "corpus", "show", str(folder)).stdout
    assert "rooms@1  research  CC-BY-4.0" in text and "made by      ada" in text
    first = rainbow(home, "corpus", "register", str(folder))
    assert "registered rooms@1" in first.stdout
    again = rainbow(home, "corpus", "register", str(folder), "--json")
    assert json.loads(again.stdout)["outcome"] == "unchanged"
    (listed,) = json.loads(rainbow(home, "corpus", "list", "--json").stdout)
    assert (listed["name"], listed["content_hash"]) == ("rooms", shown["content_hash"])
    assert listed["registered_by"]
    assert "rooms@1  research  CC-BY-4.0  2 unit(s)" in rainbow(home, "corpus", "list").stdout


def test_validate_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    """A changed file, a missing one and an unlisted unit: three problems with their ids and
    hints in one run, exit 2; register refuses the same corpus."""
    home = tmp_path / "home"
    folder = made(tmp_path, home)
    (folder / "room-0" / "photo.jpg").write_bytes(b"retouched")
    (folder / "room-1" / "photo.jpg").unlink()
    units(tmp_path / "more", 1)
    (tmp_path / "more" / "room-0").rename(folder / "room-9")
    failed = rainbow(home, "corpus", "validate", str(folder), expect=2)
    assert failed.stderr.count("error RB-E093") == 2 and failed.stderr.count("error RB-E094") == 1
    assert failed.stderr.count("hint:") == 3
    refused = rainbow(home, "corpus", "register", str(folder), expect=2)
    assert "RB-E093" in refused.stderr
    assert rainbow(home, "corpus", "list").stderr.startswith("no corpus is registered")


def test_init_refusals_name_their_id_and_what_to_do(tmp_path: Path) -> None:
    """A second init (RB-E096), a made-up licence (RB-E091) and a folder of no units (RB-E095)
    exit 2 saying what to do."""
    home = tmp_path / "home"
    folder = made(tmp_path, home)
    init = ("corpus", "init", str(folder), *TERMS, "--source", "s")
    again = rainbow(home, *init, expect=2)
    assert "error RB-E096" in again.stderr and "--force" in again.stderr
    licence = rainbow(
        home, *init[:-2], "--licence", "Made-Up", "--source", "s", "--force", expect=2
    )
    assert "RB-E091" in licence.stderr and "spdx.org" in licence.stderr
    (tmp_path / "empty").mkdir()
    empty = rainbow(
        home, "corpus", "init", str(tmp_path / "empty"), *TERMS, "--source", "s", expect=2
    )
    assert "error RB-E095" in empty.stderr


def test_the_maker_defaults_to_the_git_committer(tmp_path: Path) -> None:
    """Without --made-by, the manifest names who git would record as committer now."""
    home = tmp_path / "home"
    folder = units(tmp_path / "corpus")
    committer = {"GIT_COMMITTER_NAME": "Ada Lovelace", "GIT_COMMITTER_EMAIL": "ada@example.com"}
    rainbow(home, "corpus", "init", str(folder), *TERMS, "--source", "s", **committer)
    shown = json.loads(rainbow(home, "corpus", "show", str(folder), "--json").stdout)
    assert shown["provenance"]["made_by"] == "Ada Lovelace <ada@example.com>"


def test_a_folder_without_a_manifest_is_shown_unversioned_with_a_note(tmp_path: Path) -> None:
    """show says the folder has no manifest and hashes it as found; validate wants one."""
    home = tmp_path / "home"
    folder = units(tmp_path / "plain")
    shown = rainbow(home, "corpus", "show", str(folder))
    assert "plain@unversioned" in shown.stdout and "has no manifest" in shown.stderr
    as_json = json.loads(rainbow(home, "corpus", "show", str(folder), "--json").stdout)
    assert (as_json["version"], as_json["manifest"]) == ("unversioned", False)
    missing = rainbow(home, "corpus", "validate", str(folder), expect=2)
    assert "error RB-E095" in missing.stderr and "rainbow corpus init" in missing.stderr


def test_a_corpus_at_a_url_is_checked_and_shown_through_fsspec(tmp_path: Path) -> None:
    """validate and show read a file:// URL; a URL without a manifest is refused (RB-E095)."""
    home = tmp_path / "home"
    folder = made(tmp_path, home)
    checked = rainbow(home, "corpus", "validate", f"file://{folder}")
    assert "rooms@1 is valid" in checked.stdout
    shown = json.loads(rainbow(home, "corpus", "show", f"file://{folder}", "--json").stdout)
    assert shown["name"] == "rooms"
    plain = units(tmp_path / "plain")
    refused = rainbow(home, "corpus", "validate", f"file://{plain}", expect=2)
    assert "error RB-E095" in refused.stderr and "needs a manifest" in refused.stderr


def test_a_changed_corpus_under_a_registered_version_is_refused(tmp_path: Path) -> None:
    """Registering other files as the same version exits 2 with RB-E097 and the hint to bump
    the version; the new version registers."""
    home = tmp_path / "home"
    folder = made(tmp_path, home)
    rainbow(home, "corpus", "register", str(folder))
    (folder / "room-0" / "photo.jpg").write_bytes(b"new")
    init = ("corpus", "init", str(folder), *TERMS, "--source", "s", "--force")
    rainbow(home, *init)
    refused = rainbow(home, "corpus", "register", str(folder), expect=2)
    assert "error RB-E097" in refused.stderr and "new version" in refused.stderr
    rainbow(home, *init[:6], "2", *init[7:])
    assert "registered rooms@2" in rainbow(home, "corpus", "register", str(folder)).stdout


def test_register_and_list_go_through_the_control_plane(plane: Plane, tmp_path: Path) -> None:
    """With RAINBOW_URL and a researcher's token, register and list use the API."""
    plane.rainbow("createuser", "alice", "--password-stdin", stdin=f"{PASSWORD}\n")
    token = plane.rainbow("token", "create", "cli", "--user", "alice").stdout.strip()
    remote = {"RAINBOW_URL": plane.url, "RAINBOW_TOKEN": token}
    home = tmp_path / "cli-home"
    folder = made(tmp_path, home)
    assert "registered rooms@1" in rainbow(home, "corpus", "register", str(folder), **remote).stdout
    (listed,) = json.loads(rainbow(home, "corpus", "list", "--json", **remote).stdout)
    assert (listed["name"], listed["registered_by"]) == ("rooms", "alice")
    status, answer = plane.call("GET", "/api/corpora/rooms", token)
    assert status == 200 and answer["versions"][0]["content_hash"] == listed["content_hash"]
    assert rainbow(home, "corpus", "list", "--json").stdout.strip() == "[]"  # not the local store


def test_the_room_scan_generator_writes_a_manifest_and_can_run_again(tmp_path: Path) -> None:
    """The example's corpus comes with a production CC0 manifest; running the generator over
    it again rewrites the manifest, and the corpus validates."""
    out = tmp_path / "rooms"
    generate = [sys.executable, "-m", "examples.room_scan.corpus", str(out), "--count", "2"]
    for version in ("1", "2"):
        subprocess.run(
            [*generate, "--seed", "7", "--version", version],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    home = tmp_path / "home"
    shown = json.loads(rainbow(home, "corpus", "show", str(out), "--json").stdout)
    assert (shown["name"], shown["version"], shown["licence"], shown["use"]) == (
        "room-scan",
        "2",
        "CC0-1.0",
        "production",
    )
    assert "--seed 7" in shown["provenance"]["source"]
    assert "is valid" in rainbow(home, "corpus", "validate", str(out)).stdout
