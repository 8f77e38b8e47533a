"""Rainbow's home and its own files are for their owner only: the SQLite store holds session keys
and password hashes, the home logs, assets and work folders."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from rainbow import settings as rb_settings
from tests.webserver import ROOT, serving

# Holds the store open, as a running engine does, while it reports the modes of its files.
OPEN_AND_REPORT = """
import os, stat, sys
from pathlib import Path
from rainbow.control.django_setup import open_store
open_store(sys.argv[1])
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT 1")
home = Path(sys.argv[2])
for path in sorted([home, *home.iterdir()]):
    print(path.name, oct(stat.S_IMODE(path.stat().st_mode)))
"""


def modes_while_open(home: Path, database_url: str | None = None) -> dict[str, str]:
    """The modes of the home and the files in it while a process has the store open (the
    default umask 022, under which every new file would be world-readable)."""
    url = database_url or f"sqlite:///{home / 'rainbow.sqlite3'}"
    done = subprocess.run(
        [sys.executable, "-c", OPEN_AND_REPORT, url, str(home)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        umask=0o022,
    )
    return dict(line.split() for line in done.stdout.splitlines())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_home_and_store_are_owner_only(tmp_path: Path) -> None:
    """The home (and any folder made for it) is 0700; the store, its -wal and -shm files and
    the migration lock are 0600 from the start."""
    home = tmp_path / "new" / "home"
    modes = modes_while_open(home)
    assert modes == {
        "home": "0o700",
        "rainbow.sqlite3": "0o600",
        "rainbow.sqlite3-shm": "0o600",
        "rainbow.sqlite3-wal": "0o600",
        "rainbow.sqlite3.migrate-lock": "0o600",
    }
    assert mode(tmp_path / "new") == 0o700


def test_an_existing_world_readable_store_is_tightened(tmp_path: Path) -> None:
    """A store an older Rainbow left 0644 (with its lock) is made 0600 when next opened; the
    home it sits in is left as it is, since it may be a folder shared on purpose."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    store = home / "rainbow.sqlite3"
    sqlite3.connect(store).close()
    lock = home / "rainbow.sqlite3.migrate-lock"
    lock.touch()
    for path in (store, lock):
        path.chmod(0o644)
    modes = modes_while_open(home)
    assert modes["rainbow.sqlite3"] == modes["rainbow.sqlite3-wal"] == "0o600"
    assert modes["rainbow.sqlite3.migrate-lock"] == "0o600"
    assert modes["home"] == "0o755"


def test_the_secret_key_is_owner_only_and_tightened(tmp_path: Path) -> None:
    """`rainbow web` generates its secret key 0600 in a 0700 home, and tightens one it finds
    readable by others."""
    from rainbow.control.web.server import secret_key

    settings = rb_settings.from_env({"RAINBOW_HOME": str(tmp_path / "home")})
    previous = os.umask(0o022)
    try:
        key = secret_key(settings)
    finally:
        os.umask(previous)
    path = tmp_path / "home" / "secret-key"
    assert mode(path) == 0o600 and mode(tmp_path / "home") == 0o700
    path.chmod(0o644)
    assert secret_key(settings) == key
    assert mode(path) == 0o600


def test_rainbow_web_warns_about_a_home_open_to_others(tmp_path: Path) -> None:
    """A home other users can read is named at start, with the command that closes it."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    with serving(tmp_path):
        pass
    log = (tmp_path / "web.log").read_text()
    assert f"RAINBOW_HOME {home} is open to other users" in log
    assert f"chmod 700 {home}" in log
