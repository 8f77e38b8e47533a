"""Serve a released version: ``rainbow worker NAME@VERSION``.

The process started is a small supervisor. It asks the registry for the version, fetches its
artifact, makes (or reuses) its environment, and starts the real worker in that environment
(``python -m rainbow worker NAME@VERSION --build FOLDER``). Then it asks the registry again
every ``RAINBOW_REGISTRY_POLL`` seconds:

- the version moved to another build (``latest`` followed main, a hot fix of X.Y): the worker
  gets SIGTERM, Celery's warm shutdown, so it finishes and acks what it holds and takes nothing
  new; a worker on the new build starts once it has exited. Nothing is lost or repeated: what
  it did not take stays in the queue for the next one.
- the version was retired: the same warm stop, and the supervisor ends.

SIGTERM or Ctrl-C to the supervisor stops the worker the same way. A worker that exits on its
own ends the supervisor with its exit status, for the process manager above to judge.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from rainbow.deploy import artifacts, environments
from rainbow.deploy.registry import Registry, ReleasedVersion
from rainbow.errors import PlatformError, UserError

log = logging.getLogger("rainbow.serving")
STOP_GRACE_S = 24 * 3600.0
"""How long a warm stop may take: the held attempts run to their own timeouts."""


@dataclass(frozen=True)
class Served:
    version: ReleasedVersion
    environment: Path
    artifact_folder: Path


def require_servable(registry: Registry, module: str, version: str) -> ReleasedVersion:
    found = registry.released(module, version)
    if found is None:
        raise UserError(
            f"{module}@{version} is not released",
            code="RB-E080",
            hint="release it with `rainbow release` in the module's project (on main for "
            "latest, at a tag X.Y for X.Y); to serve code you are working on, run "
            f"`rainbow worker FILE_OR_IMPORT:{module} --version latest`",
        )
    if found.retired:
        raise retired_refusal(found)
    if not found.artifact_hash:
        raise UserError(
            f"{module}@{version} is registered without a build (a worker of local code "
            "announced it), so there is no artifact to serve",
            code="RB-E080",
            hint="release it with `rainbow release`, or keep serving it from its code with "
            f"`rainbow worker FILE_OR_IMPORT:{module} --version {version}`",
        )
    return found


def retired_refusal(found: ReleasedVersion) -> UserError:
    return UserError(
        f"{found.name} is retired: {found.reason or 'no reason was given'}",
        code="RB-E082",
        hint=f"pin a live version of {found.module} (`rainbow module list {found.module}`); "
        f"an admin can bring it back with `rainbow module live {found.name}`",
    )


def prepare(found: ReleasedVersion, cache: Path) -> Served:
    folder = artifacts.fetch(found.artifact_url, found.artifact_hash, cache)
    python_version_check(found, folder)
    return Served(found, environments.ensure(folder, found.artifact_hash, cache), folder)


class Supervisor:
    """Keeps one worker process on the version's current build until it is retired."""

    def __init__(
        self,
        registry: Registry,
        found: ReleasedVersion,
        cache: Path,
        *,
        poll_s: float,
        worker_args: Sequence[str],
        say: Callable[[str], None],
    ) -> None:
        self.registry = registry
        self.current = found
        self.cache = cache
        self.poll_s = poll_s
        self.worker_args = list(worker_args)
        self.say = say
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            served = prepare(self.current, self.cache)
            while True:
                self.say(
                    f"serving {self.current.name} from commit {self.current.commit[:12]}, "
                    f"build {self.current.artifact_hash[:19]}"
                )
                self._child = self._start(served)
                outcome = self._watch(self._child)
                if isinstance(outcome, int):
                    return outcome
                served = outcome
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, served: Served) -> subprocess.Popen[bytes]:
        argv = [
            str(environments.python_of(served.environment)),
            # -P: the current folder is not put first on sys.path, or a checkout there (the
            # module's own repository, say) would run instead of the build.
            "-P",
            "-m",
            "rainbow",
            "worker",
            self.current.name,
            "--build",
            str(served.artifact_folder),
            *self.worker_args,
        ]
        # The version's environment is all it runs on: a PYTHONPATH from outside would put
        # other code before it.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["RAINBOW_SUPERVISOR_PID"] = str(os.getpid())
        return subprocess.Popen(argv, env=env)

    def _watch(self, child: subprocess.Popen[bytes]) -> int | Served:
        """The supervisor's exit status, or the new build to start a worker on."""
        while True:
            if self._stopping.wait(self.poll_s):
                return self._stop(child, "stopping")
            code = child.poll()
            if code is not None:
                return code
            try:
                now = self.registry.released(self.current.module, self.current.version)
            except Exception as exc:  # the registry is away or answers nonsense: keep serving
                log.warning("could not read the registry: %s", exc)
                self.registry.reconnect()
                continue
            if now is None or now.retired:
                reason = now.reason if now else "it is no longer registered"
                self._stop(child, f"{self.current.name} was retired ({reason})")
                self.say(f"stopped serving {self.current.name}: retired: {reason}")
                return 0
            if now.artifact_hash and now.artifact_hash != self.current.artifact_hash:
                try:  # ready before the old worker stops: a build that fails leaves it serving
                    served = prepare(now, self.cache)
                except (PlatformError, UserError) as exc:
                    log.error("cannot serve %s's new build yet: %s", now.name, exc)
                    continue
                self._stop(
                    child,
                    f"{self.current.name} moved to commit {now.commit[:12]}: finishing what "
                    "the worker holds, then serving the new build",
                )
                self.current = now
                return served

    def _stop(self, child: subprocess.Popen[bytes], why: str) -> int:
        self.say(why)
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            return child.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping.set()


def python_version_check(found: ReleasedVersion, folder: Path) -> None:
    """An artifact locked for another Python may not install here: say so before uv does."""
    manifest = artifacts.read_manifest(folder)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if manifest.python != here:
        raise UserError(
            f"{found.name} was built for Python {manifest.python}, this worker runs {here}",
            code="RB-E067",
            hint=f"run the worker with Python {manifest.python}",
        )
