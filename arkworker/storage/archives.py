"""Zstandard and ``.tar.zst`` archives: decompress, extract safely, create.

Arkindex tasks hand files to each other as ``.tar.zst`` archives, and those archives come
from other tasks, other workers, sometimes other people: extracting one must never write
outside the destination. The checks below are those of Python's tar ``data`` filter, done
by hand so they behave the same on every supported Python (3.10 and 3.11 may lack the
filter): a member is refused when its path is absolute or climbs with ``..``, when it goes
through a link of the archive, when it is a symbolic or hard link pointing outside the
destination, or when it is a device or a FIFO. Owners are never restored and modes lose
their set-uid/set-gid/sticky bits and group/other write permission.

Archives are streamed: the zstd stream is decompressed chunk by chunk to a temporary tar
file on disk, never held in memory. Extraction goes to a staging directory inside the
destination and is moved into place only once every member was written, so a corrupt or
refused archive leaves the destination as it was; temporary files are removed on every
path out.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import zstandard

from arkworker.errors import BadInput
from arkworker.files import written_in_place

#: Read and write granularity of the streaming functions (bytes).
CHUNK_SIZE = 1 << 20

#: Compressed bytes read at once when decompressing.
INPUT_CHUNK_SIZE = 1 << 16

#: Compression level of created archives (the reference's).
COMPRESSION_LEVEL = 3


class ArchiveError(BadInput):
    """An archive is missing, corrupt or unsafe; the message names the file."""


@dataclass(frozen=True)
class ArchiveInfo:
    """What a worker publishing an archive needs to announce it.

    ``content_md5`` hashes the bytes of the regular files in sorted path order (names are
    not hashed), so two archives of the same files have the same content hash even when
    their compressed bytes differ; ``archive_md5`` hashes the compressed file.
    """

    path: Path
    size: int
    content_md5: str
    archive_md5: str


def decompress_zst(source: str | Path, destination: str | Path) -> Path:
    """Decompress the zstd file ``source`` into ``destination``, streaming.

    Multi-frame input (as the reference writes) is read across frames. ``destination`` is
    written to a temporary file next to it and renamed at the end, so a corrupt input
    leaves no partial file behind.
    """
    source, destination = Path(source), Path(destination)
    _require_file(source)
    with written_in_place(destination) as temporary, open(temporary, "wb") as output:
        _decompress_to(source, output)
    return destination


def extract_tar_zst(archive: str | Path, destination: str | Path) -> list[Path]:
    """Extract the ``.tar.zst`` file ``archive`` into ``destination`` (created if missing).

    Returns the paths written (regular files, directories and links), relative to
    ``destination``. Files already in ``destination`` with the same relative path are
    replaced; nothing is written when the archive is corrupt or holds an unsafe member.
    """
    archive, destination = Path(archive), Path(destination)
    _require_file(archive)
    destination.mkdir(parents=True, exist_ok=True)
    handle, tar_path = tempfile.mkstemp(suffix=".tar")
    staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=destination))
    try:
        with os.fdopen(handle, "wb") as output:
            _decompress_to(archive, output)
        written = _extract_tar(archive, Path(tar_path), staging)
        _move_tree(staging, destination)
        return written
    finally:
        _remove(tar_path)
        shutil.rmtree(staging, ignore_errors=True)


def create_tar_zst(source_dir: str | Path, archive: str | Path) -> ArchiveInfo:
    """Archive every entry under ``source_dir`` (paths relative to it) into ``archive``.

    The tar stream is compressed as it is produced, never held in memory nor written
    uncompressed. Symbolic links are stored as links. The archive is written under a
    temporary name next to ``archive`` and renamed at the end.
    """
    source_dir, archive = Path(source_dir), Path(archive)
    if not source_dir.is_dir():
        raise ArchiveError(f"Cannot archive {source_dir}: it is not a directory.")
    entries = sorted(source_dir.rglob("*"), key=lambda path: path.relative_to(source_dir).as_posix())
    content_hash = hashlib.md5(usedforsecurity=False)
    with written_in_place(archive) as temporary:
        with open(temporary, "wb") as output:
            compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
            with (
                compressor.stream_writer(output, closefd=False) as writer,
                tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                for entry in entries:
                    tar.add(entry, arcname=entry.relative_to(source_dir).as_posix(), recursive=False)
                    if entry.is_file() and not entry.is_symlink():
                        _hash_file(entry, content_hash)
        archive_hash = hashlib.md5(usedforsecurity=False)
        _hash_file(temporary, archive_hash)
    return ArchiveInfo(archive, archive.stat().st_size, content_hash.hexdigest(), archive_hash.hexdigest())


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise ArchiveError(f"Archive {path} does not exist or is not a file.")


def _decompress_to(source: Path, output) -> None:
    """Stream ``source`` frame after frame into ``output``; a truncated last frame is an error.

    zstd's stream copy bounds what is held at once, whatever the compression ratio (one
    step of a one-shot decompression object expands a few kilobytes of zeros into the whole
    file), but it reports a file cut in the middle of a frame as a clean end: the frame
    headers are walked first to refuse that.
    """
    _check_frames(source)
    # One decompressor per call: an instance is not thread-safe, and handlers running in
    # threads extract archives concurrently.
    decompressor = zstandard.ZstdDecompressor()
    try:
        with source.open("rb") as compressed:
            decompressor.copy_stream(compressed, output, read_size=INPUT_CHUNK_SIZE, write_size=CHUNK_SIZE)
    except zstandard.ZstdError as error:
        raise ArchiveError(f"Archive {source} is not a valid zstd file ({error}).") from None


#: zstd's frame magic numbers (RFC 8878): data frames, and the 16 skippable frame kinds.
ZSTD_MAGIC, SKIPPABLE_MAGIC = 0xFD2FB528, 0x184D2A50


def _check_frames(source: Path) -> None:
    """Refuse a file that is not a sequence of complete zstd frames (RFC 8878, section 3.1).

    Only headers are read: block contents are skipped over, so this costs one read per
    128 KiB block at most.
    """
    cut = ArchiveError(f"Archive {source} is not a valid zstd file (it ends early); is it complete?")

    def read(count: int) -> int:
        data = compressed.read(count)
        if len(data) < count:
            raise cut
        return int.from_bytes(data, "little")

    with source.open("rb") as compressed:
        size, position = os.fstat(compressed.fileno()).st_size, 0
        if size == 0:
            raise cut
        while position < size:
            compressed.seek(position)
            magic = read(4)
            if magic & 0xFFFFFFF0 == SKIPPABLE_MAGIC:
                position += 8 + read(4)
                continue
            if magic != ZSTD_MAGIC:
                raise ArchiveError(
                    f"Archive {source} is not a valid zstd file (no zstd frame at byte {position})."
                )
            descriptor = read(1)
            single_segment, checksum = descriptor >> 5 & 1, descriptor >> 2 & 1
            header = (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
            header += (single_segment, 2, 4, 8)[descriptor >> 6]
            position += 5 + header
            last = False
            while not last:
                compressed.seek(position)
                block = read(3)
                last, kind, length = bool(block & 1), block >> 1 & 3, block >> 3
                position += 3 + (1 if kind == 1 else length)
            position += 4 * checksum
        if position > size:
            raise cut


def _extract_tar(archive: Path, tar_path: Path, staging: Path) -> list[Path]:
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            members = tar.getmembers()
            links = {PurePosixPath(member.name) for member in members if member.issym() or member.islnk()}
            symlinks = {PurePosixPath(member.name) for member in members if member.issym()}
            seen: set[PurePosixPath] = set()
            for member in members:
                _check_member(archive, member, links, seen, symlinks)
                seen.add(PurePosixPath(member.name))
            written = []
            for member in members:
                try:
                    _write_member(tar, member, staging)
                except OSError as error:  # a name used twice for different kinds, a full disk
                    raise ArchiveError(
                        f"Cannot extract {archive}: member {member.name!r} cannot be written ({error.strerror})."
                    ) from None
                if PurePosixPath(member.name).parts:  # not the archive's "." root
                    written.append(Path(member.name))
            return written
    except (tarfile.TarError, EOFError) as error:
        raise ArchiveError(f"Archive {archive} does not hold a valid tar file ({error}).") from None


def _check_member(
    archive: Path,
    member: tarfile.TarInfo,
    links: set[PurePosixPath],
    seen: set[PurePosixPath],
    symlinks: set[PurePosixPath],
) -> None:
    """Refuse what Python's tar ``data`` filter refuses (``seen``: the members before this one).

    Link targets are checked without following the archive's other links: a symbolic
    link whose target passes through another link is refused (``d/l -> ..`` then
    ``x -> d/l/..`` points above the destination), and so is a hard link to a symbolic
    link (the copy would resolve its relative target from another directory).
    """

    def refuse(reason: str) -> ArchiveError:
        return ArchiveError(f"Refusing to extract {archive}: member {member.name!r} {reason}.")

    path = PurePosixPath(member.name)
    if path.is_absolute():
        raise refuse("has an absolute path")
    if ".." in path.parts:
        raise refuse("climbs out of the destination with '..'")
    if any(parent in links for parent in path.parents):
        raise refuse("goes through a link of the archive")
    if member.isdev():
        raise refuse("is a device or a FIFO")
    if member.issym():
        target = PurePosixPath(member.linkname)
        if target.is_absolute() or not _stays_inside(path.parent, target, links):
            raise refuse(f"is a link to {member.linkname!r}, outside the destination or through another link")
    if member.islnk():
        target = PurePosixPath(member.linkname)
        if target.is_absolute() or ".." in target.parts:
            raise refuse(f"is a hard link to {member.linkname!r}, outside the destination")
        if target not in seen:
            raise refuse(f"is a hard link to {member.linkname!r}, which is not an earlier member")
        if target in symlinks:
            raise refuse(f"is a hard link to {member.linkname!r}, a symbolic link")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise refuse("has an unsupported type")


def _stays_inside(directory: PurePosixPath, target: PurePosixPath, links: set[PurePosixPath]) -> bool:
    """Whether ``target``, relative to ``directory`` (both inside the destination), stays inside.

    False as soon as the walk climbs above the destination or goes through a link of the
    archive before its last component.
    """
    resolved = list(directory.parts)
    for index, part in enumerate(target.parts):
        if part == "..":
            if not resolved:
                return False
            resolved.pop()
        elif part != ".":
            resolved.append(part)
        if index < len(target.parts) - 1 and resolved and PurePosixPath(*resolved) in links:
            return False
    return True


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, staging: Path) -> None:
    target = staging / member.name
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        target.chmod(_safe_mode(member.mode) | stat.S_IRWXU)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    if member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        shutil.copy2(staging / member.linkname, target, follow_symlinks=False)
    else:
        source = tar.extractfile(member)
        if source is None:  # _check_member lets only regular files reach this branch
            raise ArchiveError(f"The archive member {member.name} is not a regular file")
        with source, target.open("wb") as output:
            shutil.copyfileobj(source, output, CHUNK_SIZE)
        target.chmod(_safe_mode(member.mode) | stat.S_IRUSR | stat.S_IWUSR)


def _safe_mode(mode: int) -> int:
    """The data filter's rule: no set-uid/set-gid/sticky bits, no group/other write."""
    return mode & 0o755


def _move_tree(staging: Path, destination: Path) -> None:
    """Move everything under ``staging`` to the same relative place under ``destination``."""
    for entry in sorted(staging.iterdir()):
        target = destination / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir() and not target.is_symlink():
            _move_tree(entry, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.is_symlink() or target.exists():
            target.unlink()
        os.replace(entry, target)


def _hash_file(path: Path, digest) -> None:
    with path.open("rb") as content:
        while chunk := content.read(CHUNK_SIZE):
            digest.update(chunk)


def _remove(path: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
