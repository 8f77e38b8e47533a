"""An artifact is stored whole and fetched only as released: a killed write is repaired, a
changed file or manifest is refused, and a manifest cannot name files outside its folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rainbow.deploy import artifacts
from rainbow.errors import PlatformError


def made(
    tmp_path: Path, *, wheel: bytes = b"wheel bytes"
) -> tuple[artifacts.Manifest, dict[str, Path]]:
    folder = tmp_path / "built"
    folder.mkdir()
    files = {"m-0.0.0-py3-none-any.whl": folder / "m.whl", artifacts.LOCK: folder / "lock"}
    files["m-0.0.0-py3-none-any.whl"].write_bytes(wheel)
    files[artifacts.LOCK].write_bytes(b"six==1.16.0\n")
    manifest = artifacts.Manifest(
        project="m",
        modules={"m": "m:m"},
        files={n: artifacts.digest(p.read_bytes()) for n, p in files.items()},
        python="3.11",
        commit="a" * 40,
    )
    return manifest, files


def test_an_artifact_comes_back_as_it_was_stored(tmp_path: Path) -> None:
    manifest, files = made(tmp_path)
    stored = artifacts.store(manifest, files, str(tmp_path / "store"))
    assert stored.hash == artifacts.digest(artifacts.canonical(manifest))
    assert stored.url.endswith(f"/m/{artifacts.hex_of(stored.hash)}")
    folder = artifacts.fetch(stored.url, stored.hash, tmp_path / "cache")
    assert artifacts.read_manifest(folder) == manifest
    assert (folder / "m-0.0.0-py3-none-any.whl").read_bytes() == b"wheel bytes"
    assert not [p for p in (tmp_path / "store" / "m").iterdir() if p.name.startswith(".")]


def test_a_manifest_a_killed_write_left_is_written_again(tmp_path: Path) -> None:
    manifest, files = made(tmp_path)
    stored = artifacts.store(manifest, files, str(tmp_path / "store"))
    (Path(stored.url) / artifacts.MANIFEST).write_bytes(b"")  # cut short
    again = artifacts.store(manifest, files, str(tmp_path / "store"))
    folder = artifacts.fetch(again.url, again.hash, tmp_path / "cache")
    assert artifacts.read_manifest(folder) == manifest


def test_a_changed_file_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    manifest, files = made(tmp_path)
    stored = artifacts.store(manifest, files, str(tmp_path / "store"))
    (Path(stored.url) / artifacts.LOCK).write_bytes(b"six==9.9\n")
    with pytest.raises(PlatformError, match="changed after release"):
        artifacts.fetch(stored.url, stored.hash, tmp_path / "cache")
    assert list((tmp_path / "cache" / "artifacts").iterdir()) == []


def test_another_manifest_than_the_recorded_one_is_refused(tmp_path: Path) -> None:
    manifest, files = made(tmp_path)
    stored = artifacts.store(manifest, files, str(tmp_path / "store"))
    other = json.loads((Path(stored.url) / artifacts.MANIFEST).read_text()) | {"commit": "b" * 40}
    (Path(stored.url) / artifacts.MANIFEST).write_text(json.dumps(other))
    with pytest.raises(PlatformError, match="not the one the registry recorded"):
        artifacts.fetch(stored.url, stored.hash, tmp_path / "cache")


@pytest.mark.parametrize("name", ["..", "../escape.whl", ".hidden", "a/b.whl", ""])
def test_a_manifest_naming_a_file_outside_its_folder_is_refused(tmp_path: Path, name: str) -> None:
    manifest, files = made(tmp_path)
    bad = artifacts.Manifest(
        manifest.project,
        manifest.modules,
        {**manifest.files, name: "sha256:" + "0" * 64},
        manifest.python,
        manifest.commit,
    )
    stored = artifacts.store(bad, files, str(tmp_path / "store"))
    with pytest.raises(PlatformError, match="names a file it may not"):
        artifacts.fetch(stored.url, stored.hash, tmp_path / "cache")


def test_a_hash_that_is_not_one_is_refused_before_any_path_is_made(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="is not an artifact's hash"):
        artifacts.fetch(str(tmp_path), "sha256:../../etc", tmp_path / "cache")
