"""What a versioned worker asks the registry (the control plane, or the store itself)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ReleasedVersion:
    """A module version as the registry holds it now."""

    module: str
    version: str
    status: str
    """``live``, ``draining`` or ``retired``."""
    reason: str
    commit: str
    artifact_url: str
    artifact_hash: str
    """Empty when the version was registered without a build (by a worker of local code)."""
    cache: bool = True
    """Its interface's ``cache``: False when its steps' outputs must never be reused."""

    @property
    def retired(self) -> bool:
        return self.status == "retired"

    @property
    def name(self) -> str:
        return f"{self.module}@{self.version}"


class Registry(Protocol):
    def released(self, module: str, version: str) -> ReleasedVersion | None:
        """The version as recorded, or None when it is not registered."""
        ...

    def reconnect(self) -> None:
        """Drop a connection that failed, so the next question opens a new one."""
        ...
