"""Files and folders only their owner may open: Rainbow's home, the SQLite store, the secret key.

The store holds session keys and password hashes, the home logs, assets and work folders; the
default umask would leave all of them readable by every user of the machine. Folders Rainbow
creates are 0700 and its own files 0600 from the moment they exist, not tightened afterwards.
A file of Rainbow's own found looser (made by an older version) is tightened when the running user
owns it. A folder is never changed once it exists: it may be one the user picked and shares.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600

log = logging.getLogger("rainbow")


def private_folder(path: Path) -> None:
    """Create ``path`` and its missing parents, each readable by the owner only."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)


def private_file(path: Path) -> None:
    """Create ``path`` empty (0600) unless it exists; tighten it if it is looser."""
    # Read-only is enough to create it, and opens one that another user made readable to us.
    descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, FILE_MODE)
    os.close(descriptor)
    tighten(path)


def tighten(path: Path) -> None:
    """Take group and other access away from an existing file the running user owns."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if not status.st_mode & 0o077 or status.st_uid != os.geteuid():
        return
    try:
        path.chmod(stat.S_IMODE(status.st_mode) & ~0o077)
    except OSError as exc:  # e.g. a filesystem without modes; the file still works
        log.warning("could not make %s readable by its owner only: %s", path, exc.strerror)


def loose(path: Path) -> int | None:
    """The mode of ``path`` when group or others may access it, else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    return mode if mode & 0o077 else None
