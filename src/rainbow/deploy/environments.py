"""One virtual environment per artifact, made once and reused: two versions of a module with
conflicting dependencies run side by side on one machine.

An environment lies at ``<RAINBOW_HOME>/builds/envs/<hex>``, named by its artifact's hash. It
holds exactly the artifact's pinned requirements, its wheel and this host's Rainbow, installed
with uv (``--no-deps``: nothing is resolved again on a worker). It is made in a temporary
folder and renamed into place once complete, under a lock, so workers starting together build
it once and a killed build leaves nothing that looks finished. Rainbow runs in it as
``python -m rainbow``: console scripts carry the temporary folder's path.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from rainbow.deploy import artifacts
from rainbow.private import private_folder

READY = ".rainbow-ready"


def python_of(environment: Path) -> Path:
    return environment / "bin" / "python"


def ensure(artifact_folder: Path, artifact_hash: str, cache: Path) -> Path:
    """The environment of a fetched artifact: its folder, made if missing."""
    envs = cache / "envs"
    # The environment holds this host's Rainbow too: another Rainbow gets another environment.
    rainbow = artifacts.rainbow_requirement() + " " + metadata.version("rainbow")
    stamp = hashlib.sha256(rainbow.encode()).hexdigest()[:8]
    environment = envs / f"{artifacts.hex_of(artifact_hash)}-{stamp}"
    if (environment / READY).is_file():
        return environment
    private_folder(envs)
    with open(envs / f"{environment.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (environment / READY).is_file():  # made by whoever held the lock before
            return environment
        shutil.rmtree(environment, ignore_errors=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{environment.name[:12]}-", dir=envs))
        try:
            _make(partial, artifact_folder)
            (partial / READY).write_text(artifact_hash + "\n")
            partial.rename(environment)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return environment


def _make(into: Path, artifact_folder: Path) -> None:
    manifest = artifacts.read_manifest(artifact_folder)
    artifacts.run_tool(
        ["uv", "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(into)],
        "creating the version's environment",
    )
    artifacts.run_tool(
        [
            "uv",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--python",
            str(python_of(into)),
            "-r",
            str(artifact_folder / artifacts.LOCK),
            str(artifact_folder / manifest.wheel),
            artifacts.rainbow_requirement(),
        ],
        f"installing {manifest.project}'s build and its pinned dependencies",
    )
