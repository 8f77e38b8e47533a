"""Serving the control plane: Django behind gunicorn, static files through WhiteNoise.

``rainbow web`` configures Django (secret key from ``RAINBOW_SECRET_KEY``, or one generated once
and kept in ``<RAINBOW_HOME>/secret-key``, owner-only like the home), migrates, collects static
files and starts gunicorn.
With the embedded engine a :class:`~rainbow.control.services.execution.LocalRunner` thread in
the main process runs what is submitted; the gunicorn workers only answer requests.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from rainbow import settings as rb_settings
from rainbow.control.django_setup import WebOptions, configure, ensure_migrated
from rainbow.errors import UserError
from rainbow.private import loose, private_folder, tighten

log = logging.getLogger("rainbow.control")


def secret_key(settings: rb_settings.Settings) -> str:
    if settings.web.secret_key:
        return settings.web.secret_key
    path = settings.store.home / "secret-key"
    if path.exists():
        tighten(path)
        return path.read_text().strip()
    private_folder(path.parent)
    key = secrets.token_urlsafe(50)
    # Created with owner-only permissions from the start, never world-readable for a moment.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key)
    return key


def web_options(settings: rb_settings.Settings) -> WebOptions:
    return WebOptions(
        secret_key=secret_key(settings),
        debug=settings.web.debug,
        allowed_hosts=settings.web.allowed_hosts,
        trusted_origins=settings.web.trusted_origins,
        static_root=settings.store.home / "static",
        logs_url=settings.web.logs_url,
        required_approvals=settings.web.required_approvals,
        input_roots=settings.web.input_roots,
        input_protocols=settings.web.input_protocols,
        home=settings.store.home,
        assets_url=settings.execution.assets_url,
        login_failure_limit=settings.web.login_failure_limit,
        login_cooloff_s=settings.web.login_cooloff_s,
        max_request_bytes=settings.web.max_request_bytes,
        max_spec_steps=settings.spec.max_steps,
        max_spec_bytes=settings.spec.max_bytes,
        main_branch=settings.release.main_branch,
    )


def set_up(settings: rb_settings.Settings) -> None:
    """Django configured for serving, the database migrated, static files collected."""
    from django.core.management import call_command
    from django.db import connections

    configure(settings.store.database_url, web=web_options(settings))
    ensure_migrated()
    _warn_if_shared(settings.store.home)
    call_command("collectstatic", interactive=False, verbosity=0)
    # Gunicorn forks its workers from this process: they must open their own connections.
    connections.close_all()


def serve(settings: rb_settings.Settings, host: str, port: int, workers: int = 2) -> None:
    from gunicorn.app.base import BaseApplication

    set_up(settings)
    runner = _start_local_runner(settings)
    settler = Settler()
    settler.start()

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 4)
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 60)

        def load(self) -> Any:
            from django.core.wsgi import get_wsgi_application

            return get_wsgi_application()

    try:
        Server().run()
    finally:
        settler.stop()
        if runner is not None:
            runner.stop()


def _warn_if_shared(home: Path) -> None:
    # Rainbow creates its home owner-only, but leaves one that already exists as it is: the
    # folder may have been picked, and shared, on purpose.
    mode = loose(home)
    if mode is not None:
        log.warning(
            "RAINBOW_HOME %s is open to other users of this machine (mode %o): so are the logs, "
            "assets and run folders in it; make it yours alone with `chmod 700 %s`",
            home,
            mode,
            home,
        )


class Settler:
    """Ends promotions whose smoke runs have all ended, without waiting for someone to look."""

    def __init__(self, every_s: float = 2.0) -> None:
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rainbow-settler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        from django.db import close_old_connections

        from rainbow.control.services.release import settle_all

        while not self._stop.wait(self.every_s):
            try:
                settle_all()
            except Exception:  # the next round tries again; the API settles on reading too
                log.exception("settling promotions failed")
            finally:
                close_old_connections()


def _start_local_runner(settings: rb_settings.Settings) -> Any:
    if settings.web.engine != "local":
        return None
    from rainbow.control.services.execution import LocalRunner
    from rainbow.engine.local import LocalOptions
    from rainbow.sdk.catalog import load_modules

    modules = load_modules(settings.web.modules) if settings.web.modules else {}
    options = LocalOptions(
        workers=2,
        assets_url=settings.execution.assets_url,
        work_root=settings.store.work_root,
        log_file=settings.store.logs_dir / "rainbow.log",
        max_output_bytes=settings.execution.max_output_bytes,
        lease_s=settings.execution.local_lease_s,
    )
    runner = LocalRunner(modules, options, builds_cache=settings.release.cache)
    runner.start()
    return runner


def check_port(port: int) -> int:
    if not 0 < port < 65536:
        raise UserError(f"port {port} is not a TCP port", hint="use a port from 1 to 65535")
    return port
