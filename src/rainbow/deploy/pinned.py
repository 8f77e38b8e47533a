"""The released builds a pipeline's steps pin, ready for the local engine to run.

The control plane's embedded engine (and so a promotion's smoke runs) and ``rainbow run`` run a
released version from its own build and environment, the same ones ``rainbow worker NAME@X.Y``
serves, so what runs on a laptop is what runs on the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from rainbow.deploy import environments
from rainbow.deploy.registry import Registry
from rainbow.deploy.serving import prepare, retired_refusal
from rainbow.engine.local import ReleasedCode
from rainbow.errors import PlatformError, UserError

Pin = tuple[str, str]


def released_builds(
    registry: Registry,
    pins: Iterable[Pin],
    cache: Path,
    *,
    say: Callable[[str], None] = lambda line: None,
) -> dict[Pin, ReleasedCode]:
    """The build of each pin the registry has one of, fetched and installed under ``cache``.

    Pins the registry does not know, or knows without a build (a worker of local code announced
    them), are left out for local code to stand for. A retired pin, or a build that cannot be
    fetched or installed, raises, saying which pin and why.
    """
    builds: dict[Pin, ReleasedCode] = {}
    for module, version in sorted(set(pins)):
        found = registry.released(module, version)
        if found is None or not found.artifact_hash:
            continue
        if found.retired:
            raise retired_refusal(found)
        say(f"running {found.name} from its build of commit {found.commit[:12]}")
        try:
            served = prepare(found, cache)
        except (PlatformError, UserError) as exc:
            raise UserError(
                f"the build of {found.name} (commit {found.commit[:12]}) cannot run here: {exc}",
                code="RB-E085",
                hint=getattr(exc, "hint", None)
                or "make its artifact reachable from here, or release the version again",
            ) from None
        builds[(module, version)] = ReleasedCode(
            python=str(environments.python_of(served.environment)),
            commit=found.commit,
            artifact=found.artifact_hash,
            cache=found.cache,
        )
    return builds
