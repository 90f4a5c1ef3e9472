"""Files written under a temporary name and renamed into place once complete.

``tempfile.mkstemp`` creates private files (mode 0600), which is right while a file is
being written, but the renamed result must have the mode any other file would have: the
tasks after this one may run as another user and must be able to read a task's cache and
archives.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def give_final_mode(temporary: str | Path, target: str | Path) -> None:
    """Give ``temporary`` the mode ``target`` has, or that a new file gets under the umask."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
        os.umask(mask)
        mode = 0o666 & ~mask
    os.chmod(temporary, mode)
