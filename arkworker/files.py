"""Files written under a temporary name and renamed into place once complete.

A reader of the final name (the next task, a retried run) then sees either the previous
file or the whole new one, never a partial write. ``tempfile.mkstemp`` creates private
files (mode 0600), which is right while a file is being written, but the renamed result
must have the mode any other file would have: the tasks after this one may run as another
user and must be able to read a task's cache and archives.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arkworker.errors import BadInput


def temporary_beside(target: Path, suffix: str = "") -> Path:
    """A new empty private file in ``target``'s directory (same file system, so renaming is atomic)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}-", suffix=suffix, dir=target.parent)
    os.close(handle)
    return Path(temporary)


def put_in_place(temporary: Path, target: Path) -> None:
    """Flush ``temporary`` to disk, give it its final mode and rename it to ``target``.

    The flush comes first so that a power loss right after the rename cannot leave an
    empty file under the final name.
    """
    with open(temporary, "rb+") as written:
        os.fsync(written.fileno())
    give_final_mode(temporary, target)
    os.replace(temporary, target)


@contextmanager
def written_in_place(target: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; it becomes ``target`` if the block succeeds, else is removed."""
    temporary = temporary_beside(target, suffix)
    try:
        yield temporary
        put_in_place(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def give_final_mode(temporary: str | Path, target: str | Path) -> None:
    """Give ``temporary`` the mode ``target`` has, or that a new file gets under the umask."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
        os.umask(mask)
        mode = 0o666 & ~mask
    os.chmod(temporary, mode)


def read_json(path: Path, label: str, *, invalid: str, missing: str | None = None) -> Any:
    """The JSON value in the file a user gave; each problem is one :class:`BadInput` line.

    ``label`` names the file in the messages (``--elements-list file x.json``); ``invalid``
    says what to do when it is not JSON, ``missing`` when it does not exist.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"The {label} does not exist" + (f": {missing}." if missing else ".")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read the {label}: {exc}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"The {label} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); {invalid}."
        ) from None
