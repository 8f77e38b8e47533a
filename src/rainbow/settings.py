"""Rainbow's settings: typed, frozen, and read from the environment in this one place.

| variable | default |
| --- | --- |
| ``RAINBOW_HOME`` | ``.rainbow`` in the working directory: the SQLite store, assets, logs |
| ``RAINBOW_DATABASE_URL`` | ``sqlite:///<RAINBOW_HOME>/rainbow.sqlite3``; or ``postgresql://...`` |
| ``RAINBOW_ASSETS_URL`` | ``<RAINBOW_HOME>/assets``; any fsspec URL |
| ``RAINBOW_BROKER_URL`` | ``amqp://guest:guest@127.0.0.1:5672//`` |
| ``RAINBOW_URL`` | unset: the CLI talks to the store directly |
| ``RAINBOW_RETRY_BASE_DELAY`` | ``1.0`` seconds, doubled per attempt (with jitter), capped at 60 |
| ``RAINBOW_TOKEN`` | unset: the API token the CLI sends to ``RAINBOW_URL`` |
| ``RAINBOW_SECRET_KEY`` | unset: ``rainbow web`` generates one into ``<RAINBOW_HOME>/secret-key`` |
| ``RAINBOW_DEBUG`` | ``0``; ``1`` only in development (Django's debug pages) |
| ``RAINBOW_ALLOWED_HOSTS`` | ``localhost,127.0.0.1,[::1]``: host names the control plane answers |
| ``RAINBOW_TRUSTED_ORIGINS`` | unset: ``https://…`` origins of a TLS proxy in front |
| ``RAINBOW_INPUT_ROOTS`` | ``<RAINBOW_HOME>`` and local assets: where submitted paths may point |
| ``RAINBOW_REQUIRED_APPROVALS`` | ``2``: approvals a system-default pipeline version needs |
| ``RAINBOW_LOGS_URL`` | unset: a URL template with ``{run_id}`` linking a run to its logs |
| ``RAINBOW_ENGINE`` | ``local``: where the control plane runs what is submitted (or ``celery``) |
| ``RAINBOW_MODULES`` | unset: module code (import paths or files, comma-separated) for the |
| | control plane's local engine |
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
    api_token: str | None = None
    secret_key: str | None = None
    debug: bool = False
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")
    trusted_origins: tuple[str, ...] = ()
    input_roots: tuple[str, ...] = ()
    required_approvals: int = 2
    logs_url: str | None = None
    engine: str = "local"
    modules: tuple[str, ...] = ()

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


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserError(
            f"{name}={raw!r} is not a whole number", hint=f"set {name} to e.g. {default}"
        ) from None


def _at_least_one(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise UserError(
            f"{name}={value} would switch the approval gate off",
            hint=f"set {name} to 1 or more (the default is {default})",
        )
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "0").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise UserError(f"{name}={raw!r} is not a yes/no value", hint=f"set {name} to 1 or 0")


def _words(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    return tuple(word.strip() for word in raw.split(",") if word.strip())


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name) or choices[0]
    if raw not in choices:
        raise UserError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


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
    assets_url = _absolute_if_local(env.get("RAINBOW_ASSETS_URL") or str(home / "assets"), base)
    local_assets = () if "://" in assets_url else (assets_url,)
    return Settings(
        home=home,
        database_url=env.get("RAINBOW_DATABASE_URL") or f"sqlite:///{home / 'rainbow.sqlite3'}",
        assets_url=assets_url,
        broker_url=env.get("RAINBOW_BROKER_URL") or "amqp://guest:guest@127.0.0.1:5672//",
        control_url=env.get("RAINBOW_URL") or None,
        retry_base_delay=_float(env, "RAINBOW_RETRY_BASE_DELAY", 1.0),
        api_token=env.get("RAINBOW_TOKEN") or None,
        secret_key=env.get("RAINBOW_SECRET_KEY") or None,
        debug=_flag(env, "RAINBOW_DEBUG"),
        allowed_hosts=_words(env, "RAINBOW_ALLOWED_HOSTS") or Settings.allowed_hosts,
        trusted_origins=_words(env, "RAINBOW_TRUSTED_ORIGINS") or (),
        input_roots=tuple(
            _absolute_if_local(root, base)
            for root in _words(env, "RAINBOW_INPUT_ROOTS") or (str(home), *local_assets)
        ),
        required_approvals=_at_least_one(env, "RAINBOW_REQUIRED_APPROVALS", 2),
        logs_url=env.get("RAINBOW_LOGS_URL") or None,
        engine=_choice(env, "RAINBOW_ENGINE", ("local", "celery")),
        modules=_words(env, "RAINBOW_MODULES") or (),
    )
