"""A released module version's artifact: immutable, content-addressed, in an fsspec store.

An artifact is a folder ``<RAINBOW_ARTIFACTS_URL>/<module>/<hex>/`` holding the module
project's wheel (built from the commit, never from the working tree; a command module's
program is built first and travels inside the wheel), ``requirements.txt`` (every dependency
but Rainbow, pinned by uv), and ``manifest.json`` naming both with their sha256. ``<hex>`` is
the sha256 of the manifest's canonical JSON, so the address is the content: the same commit
built twice gives the same wheel (its timestamps come from the commit, SOURCE_DATE_EPOCH), and
a worker checks every file against the manifest before using it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import fsspec

from rainbow.deploy.gitstate import Target
from rainbow.errors import PlatformError, UserError
from rainbow.private import private_folder
from rainbow.sdk.catalog import ENTRY_POINT_GROUP

MANIFEST = "manifest.json"
LOCK = "requirements.txt"
MANIFEST_SCHEMA = 1
BUILD_TIMEOUT_S = 900
COMMAND_CONFIG = "rainbow-module.toml"
UV_ENV = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,200}")
ARTIFACT_HASH = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Manifest:
    project: str
    """The distribution's name, e.g. ``rainbow-module-segment``."""
    modules: Mapping[str, str]
    """Module name → ``package.module:attribute``: the project's ``rainbow.modules`` entry
    points. A project usually holds one module; several version together."""
    files: Mapping[str, str]
    """File name → ``sha256:<hex>``."""
    python: str
    """The ``major.minor`` the lock was resolved for."""
    commit: str

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": MANIFEST_SCHEMA,
            "project": self.project,
            "modules": dict(sorted(self.modules.items())),
            "files": dict(sorted(self.files.items())),
            "python": self.python,
            "commit": self.commit,
        }

    @property
    def wheel(self) -> str:
        return next(name for name in self.files if name.endswith(".whl"))

    @classmethod
    def parse(cls, data: bytes, where: str) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("schema") != MANIFEST_SCHEMA:
                raise ValueError(f"schema {raw.get('schema')!r}, this Rainbow reads 1")
            manifest = cls(
                project=str(raw["project"]),
                modules={str(k): str(v) for k, v in raw["modules"].items()},
                files={str(k): str(v) for k, v in raw["files"].items()},
                python=str(raw["python"]),
                commit=str(raw["commit"]),
            )
            _ = manifest.wheel
        except (ValueError, KeyError, TypeError, AttributeError, StopIteration) as exc:
            raise PlatformError(
                f"the artifact manifest at {where} is not readable: {exc}"
            ) from None
        return manifest


@dataclass(frozen=True)
class Artifact:
    manifest: Manifest
    hash: str
    """``sha256:<hex>`` of the manifest's canonical JSON: the artifact's address."""
    url: str
    """The folder in the artifact store."""


def canonical(manifest: Manifest) -> bytes:
    return json.dumps(manifest.to_json(), sort_keys=True, separators=(",", ":")).encode()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_of(artifact_hash: str) -> str:
    return artifact_hash.removeprefix("sha256:")


def build(target: Target, work: Path) -> tuple[Manifest, dict[str, Path]]:
    """Build the artifact of ``target``'s commit in ``work``: its manifest and files."""
    source = work / "source"
    _export(target, source)
    config = _project_config(source)
    _build_commands(source)
    dist = work / "dist"
    epoch = str(int(target.committed_at.timestamp()))
    run_tool(
        ["uv", "build", "--wheel", "--out-dir", str(dist), str(source)],
        "building the module's wheel",
        env={"SOURCE_DATE_EPOCH": epoch},
    )
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        raise PlatformError(f"uv build made {len(wheels)} wheels in {dist}, expected one")
    project, modules = _entry_points(wheels[0], config)
    lock = work / LOCK
    _lock(source, lock, target.committed_at)
    files = {wheels[0].name: wheels[0], LOCK: lock}
    manifest = Manifest(
        project=project,
        modules=modules,
        files={name: digest(path.read_bytes()) for name, path in files.items()},
        python=f"{sys.version_info.major}.{sys.version_info.minor}",
        commit=target.commit,
    )
    return manifest, files


def store(manifest: Manifest, files: Mapping[str, Path], artifacts_url: str) -> Artifact:
    """Put an artifact into the store; an address whose manifest is already there and whole
    is not written again (its files were written before it)."""
    body = canonical(manifest)
    address = digest(body)
    url = f"{artifacts_url.rstrip('/')}/{manifest.project}/{hex_of(address)}"
    try:
        fs, root = fsspec.core.url_to_fs(url)
        target = f"{root}/{MANIFEST}"
        if not fs.exists(target) or fs.cat_file(target) != body:
            fs.makedirs(root, exist_ok=True)
            for name, path in files.items():
                fs.put_file(str(path), f"{root}/{name}")
            # The manifest goes last, whole (written aside, then moved): a folder with one is
            # complete, and a killed write leaves none.
            partial = f"{root}/.{MANIFEST}.{uuid.uuid4().hex[:8]}"
            with fs.open(partial, "wb") as out:
                out.write(body)
            fs.mv(partial, target)
    except OSError as exc:
        raise UserError(
            f"cannot write the artifact to {url}: {exc}",
            code="RB-E067",
            hint="check RAINBOW_ARTIFACTS_URL points at a store this process may write",
        ) from None
    return Artifact(manifest, address, url)


def fetch(url: str, expected_hash: str, cache: Path) -> Path:
    """The artifact's files in a local folder under ``cache``, each checked against the
    manifest, and the manifest against the hash the registry recorded."""
    if not ARTIFACT_HASH.fullmatch(expected_hash):
        raise PlatformError(f"{expected_hash[:80]!r} is not an artifact's hash (sha256:<64 hex>)")
    folder = cache / "artifacts" / hex_of(expected_hash)
    if (folder / MANIFEST).is_file():
        return folder
    private_folder(cache / "artifacts")
    partial = Path(tempfile.mkdtemp(prefix=f".{hex_of(expected_hash)[:12]}-", dir=folder.parent))
    try:
        fs, root = fsspec.core.url_to_fs(url)
        with fs.open(f"{root}/{MANIFEST}", "rb") as file:
            raw = file.read()
        if digest(raw) != expected_hash:
            raise PlatformError(
                f"the artifact at {url} is not the one the registry recorded: its manifest "
                f"hashes to {digest(raw)}, not {expected_hash}; it was changed after release"
            )
        manifest = Manifest.parse(raw, url)
        for name, want in manifest.files.items():
            if not FILE_NAME.fullmatch(name):
                raise PlatformError(f"the artifact at {url} names a file it may not: {name!r}")
            fs.get_file(f"{root}/{name}", str(partial / name))
            got = digest((partial / name).read_bytes())
            if got != want:
                raise PlatformError(
                    f"{name} in the artifact at {url} hashes to {got}, not {want} as its "
                    "manifest says; it was changed after release"
                )
        (partial / MANIFEST).write_bytes(raw)
        os.replace(partial, folder)
    except FileNotFoundError:
        raise PlatformError(
            f"the artifact at {url} is missing; RAINBOW_ARTIFACTS_URL may point elsewhere "
            "than where it was released"
        ) from None
    except OSError as exc:
        if (folder / MANIFEST).is_file():  # another worker fetched it first
            return folder
        raise PlatformError(f"cannot fetch the artifact at {url}: {exc}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def read_manifest(folder: Path) -> Manifest:
    return Manifest.parse((folder / MANIFEST).read_bytes(), str(folder))


def rainbow_requirement() -> str:
    """How an environment gets this very Rainbow: the source tree it is imported from, or the
    file it was installed from (PyPI's ``rainbow`` is another project, so never by name)."""
    import rainbow

    tree = Path(rainbow.__file__).resolve().parents[2]
    if _is_rainbow_project(tree / "pyproject.toml"):
        return f"rainbow @ {tree.as_uri()}"
    for dist in metadata.distributions(name="rainbow"):
        raw = dist.read_text("direct_url.json")
        url = json.loads(raw).get("url", "") if raw else ""
        if url.startswith("file://"):
            return f"rainbow @ {url}"
    raise UserError(
        "this Rainbow was not installed from a local source or wheel, so environments for "
        "released versions cannot install it",
        code="RB-E067",
        hint="install Rainbow from its source folder or a wheel file (uv pip install PATH)",
    )


def _is_rainbow_project(pyproject: Path) -> bool:
    try:
        return tomllib.loads(pyproject.read_text()).get("project", {}).get("name") == "rainbow"
    except (OSError, tomllib.TOMLDecodeError):
        return False


def _export(target: Target, into: Path) -> None:
    """The project's files at the commit (``git archive``), never the working tree's."""
    tree = f"{target.commit}:{target.subdir}" if target.subdir else target.commit
    done = subprocess.run(
        ["git", "archive", "--format=tar", tree],
        cwd=target.root,
        capture_output=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise PlatformError(f"git archive {tree} failed: {done.stderr.decode()[:500]}")
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(into, filter="data")


def _project_config(source: Path) -> dict[str, Any]:
    path = source / "pyproject.toml"
    if not path.is_file():
        raise UserError(
            "the module project has no pyproject.toml at the released commit",
            code="RB-E065",
            hint="run rainbow release in the project's folder (see `rainbow new module`)",
        )
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(
            f"pyproject.toml is not valid TOML: {exc}", code="RB-E065", hint="fix it and commit"
        ) from None


def _build_commands(source: Path) -> None:
    """Run each command module's ``build`` in its folder, so its program is in the wheel."""
    for config in sorted(source.rglob(COMMAND_CONFIG)):
        try:
            argv = tomllib.loads(config.read_text()).get("module", {}).get("build", [])
        except tomllib.TOMLDecodeError as exc:
            raise UserError(
                f"{config.relative_to(source)} is not valid TOML: {exc}",
                code="RB-E065",
                hint="fix it and commit",
            ) from None
        if argv:
            where = config.parent.relative_to(source).as_posix()
            run_tool(
                [str(a) for a in argv], f"building the command module in {where}", cwd=config.parent
            )


def _entry_points(wheel: Path, config: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    with zipfile.ZipFile(wheel) as archive:
        infos = {n.split("/")[0] for n in archive.namelist() if ".dist-info/" in n}
        dist = metadata.PathDistribution(zipfile.Path(archive, f"{sorted(infos)[0]}/"))
        points = {p.name: p.value for p in dist.entry_points.select(group=ENTRY_POINT_GROUP)}
        project = dist.metadata["Name"] or config.get("project", {}).get("name", wheel.name)
    if not points:
        raise UserError(
            f"project {project} declares no module in the entry point group {ENTRY_POINT_GROUP}",
            code="RB-E065",
            hint=f'add to pyproject.toml: [project.entry-points."{ENTRY_POINT_GROUP}"] '
            'NAME = "package.module:function" (`rainbow new module` writes it)',
        )
    return str(project), points


def _lock(source: Path, lock: Path, committed_at: datetime) -> None:
    """Pin every dependency of the project, resolved together with this Rainbow's own, and
    leave Rainbow itself out: each worker host installs its own Rainbow. Only what the index
    held when the commit was made counts, so building one commit again locks the same
    versions (and makes the same artifact), whenever it runs."""
    with tempfile.TemporaryDirectory() as scratch:
        overrides = Path(scratch) / "overrides.txt"
        overrides.write_text(rainbow_requirement() + "\n")
        run_tool(
            [
                "uv",
                "pip",
                "compile",
                str(source / "pyproject.toml"),
                "--override",
                str(overrides),
                "--no-header",
                "--no-annotate",
                "--no-emit-package",
                "rainbow",
                "--exclude-newer",
                committed_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "--python",
                sys.executable,
                "--output-file",
                str(lock),
                "--quiet",
            ],
            "locking the module's dependencies",
        )


def uv() -> str:
    """The uv beside this Python (Rainbow's own environment installs it), else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise UserError(
            "uv is not installed: releases and versioned workers build with it",
            code="RB-E067",
            hint="install it in Rainbow's environment (uv pip install uv, or pip install uv)",
        )
    return found


def run_tool(
    argv: list[str],
    doing: str,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    if argv[0] == "uv":
        argv = [uv(), *argv[1:]]
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env={**os.environ, **UV_ENV, **(env or {})},
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise UserError(
            f"{doing}: {argv[0]} is not installed", code="RB-E066", hint=f"install {argv[0]}"
        ) from None
    except subprocess.TimeoutExpired:
        raise UserError(
            f"{doing} took over {BUILD_TIMEOUT_S} s: {' '.join(argv)}",
            code="RB-E066",
            hint="run the command by hand to see where it hangs",
        ) from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise UserError(
            f"{doing} failed (exit {done.returncode}): {' '.join(argv)}\n{tail}",
            code="RB-E066",
            hint="fix the project so that this command passes on a clean checkout, commit, "
            "and release again",
        )
