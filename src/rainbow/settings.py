"""Rainbow's settings: typed, frozen, and read from the environment in this one place.

| variable | default |
| --- | --- |
| ``RAINBOW_HOME`` | ``.rainbow`` in the working directory: the SQLite store, assets, logs |
| ``RAINBOW_DATABASE_URL`` | ``sqlite:///<RAINBOW_HOME>/rainbow.sqlite3``; or ``postgresql://...`` |
| ``RAINBOW_ASSETS_URL`` | ``<RAINBOW_HOME>/assets``; any fsspec URL |
| ``RAINBOW_BROKER_URL`` | ``amqp://guest:guest@127.0.0.1:5672//`` |
| ``RAINBOW_URL`` | unset: the CLI talks to the store directly |
| ``RAINBOW_RETRY_BASE_DELAY`` | ``1.0`` seconds, doubled per attempt (with jitter), capped at 60 |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rainbow.errors import UserError


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    assets_url: str
    broker_url: str
    control_url: str | None
    retry_base_delay: float

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise UserError(
            f"{name}={raw!r} is not a number", hint=f"set {name} to seconds, e.g. {default}"
        ) from None


def redact(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return "(an unparseable URL)"
    return url if password is None else url.replace(f":{password}@", ":***@", 1)


def _absolute_if_local(url: str, base: Path) -> str:
    # A relative folder would mean something else in each module's working directory.
    if "://" in url:
        return url
    return str((base / url).absolute())


def from_env(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Build the settings from environment variables (``os.environ`` by default)."""
    env = os.environ if env is None else env
    base = cwd or Path.cwd()
    home = Path(env.get("RAINBOW_HOME") or base / ".rainbow").absolute()
    return Settings(
        home=home,
        database_url=env.get("RAINBOW_DATABASE_URL") or f"sqlite:///{home / 'rainbow.sqlite3'}",
        assets_url=_absolute_if_local(env.get("RAINBOW_ASSETS_URL") or str(home / "assets"), base),
        broker_url=env.get("RAINBOW_BROKER_URL") or "amqp://guest:guest@127.0.0.1:5672//",
        control_url=env.get("RAINBOW_URL") or None,
        retry_base_delay=_float(env, "RAINBOW_RETRY_BASE_DELAY", 1.0),
    )
