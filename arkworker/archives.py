"""The ``.tar.zst`` files Arkindex tasks exchange, and ZIP files: the public face of :mod:`arkworker.storage.archives`.

Kept at this path because worker code imports it (``from arkworker.archives import
extract_tar_zst``); the implementation lives with the run's other files in ``storage/``.
"""

from arkworker.storage.archives import (
    ArchiveError,
    ArchiveInfo,
    ArchiveLimits,
    create_tar_zst,
    create_zip_archive,
    decompress_zst,
    extract_tar_zst,
)

__all__ = [
    "ArchiveError",
    "ArchiveInfo",
    "ArchiveLimits",
    "create_tar_zst",
    "create_zip_archive",
    "decompress_zst",
    "extract_tar_zst",
]
