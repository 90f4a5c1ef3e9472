"""Zstandard and ``.tar.zst`` archives: decompress, extract safely, create; ZIP archives too.

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

What an archive may expand to is capped (:class:`ArchiveLimits`): a few kilobytes of zstd
can decompress to gigabytes of zeros, and a tar file can hard-link one large member many
times. The cap holds for the decompressed stream and for the files extracted; the number of
members of a tar archive is capped too, since each is held in memory while it is checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import zstandard

from arkworker.environment import env_number
from arkworker.errors import BadInput
from arkworker.files import written_in_place

#: Read and write granularity of the streaming functions (bytes).
CHUNK_SIZE = 1 << 20

#: Compressed bytes read at once when decompressing.
INPUT_CHUNK_SIZE = 1 << 16

#: Compression level of created archives (the reference's).
COMPRESSION_LEVEL = 3


#: Without an explicit cap, an archive may expand to this many times its compressed size...
SIZE_RATIO = 100

#: ... and to this many bytes at least, whatever its size (1 GiB).
MIN_SIZE_CAP = 1 << 30

#: The most members a tar archive may hold by default.
MAX_MEMBERS = 1_000_000


class ArchiveError(BadInput):
    """An archive is missing, corrupt or unsafe; the message names the file."""


@dataclass(frozen=True)
class ArchiveLimits:
    """How far an archive may expand: its decompressed size, and the members of a tar archive.

    ``max_size`` is a number of bytes; ``None`` (the default) means :data:`SIZE_RATIO` times
    the compressed size, and at least :data:`MIN_SIZE_CAP`. A ratio rather than a fixed
    number because real archives grow with the datasets they hold while their ratio does not:
    zstd shrinks an SQLite database or JSON 3 to 10 times and images not at all, so 100 times
    is far above anything real, and a dataset of tens of gigabytes needs no setting; a bomb
    (64 KiB of zstd that expands to gigabytes of zeros) is stopped after 1 GiB, the floor that
    keeps small archives of very repetitive data (empty SQLite pages, the headers of many
    small files) usable. A million members is more files than a dataset archive holds (its
    database and images); each takes about 1 KiB of memory while the members are checked,
    so about 1 GiB at the cap.
    """

    max_size: int | None = None
    max_members: int = MAX_MEMBERS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ArchiveLimits:
        """``ARKWORKER_MAX_ARCHIVE_SIZE`` (bytes) and ``ARKWORKER_MAX_ARCHIVE_MEMBERS``, checked at once."""
        max_size = env_number(
            env, "ARKWORKER_MAX_ARCHIVE_SIZE", int, None, minimum=1, expected="a number of bytes >= 1"
        )
        members = env_number(env, "ARKWORKER_MAX_ARCHIVE_MEMBERS", int, cls.max_members, minimum=1)
        return cls(max_size, members)

    def size_cap(self, compressed_size: int) -> int:
        """The most bytes an archive of ``compressed_size`` bytes may expand to."""
        if self.max_size is not None:
            return self.max_size
        return max(MIN_SIZE_CAP, SIZE_RATIO * compressed_size)

    def too_large(self, archive: Path, compressed_size: int) -> ArchiveError:
        """The error of an ``archive`` that expands beyond its cap, saying how to raise the cap."""
        cap = self.size_cap(compressed_size)
        if self.max_size is None:
            rule = (
                f"{SIZE_RATIO} times its size of {_bytes(compressed_size)}, at least {_bytes(MIN_SIZE_CAP)}"
            )
        else:
            rule = "the max_size of its limits"
        return ArchiveError(
            f"Archive {archive} expands to more than {_bytes(cap)} ({rule}); nothing was written. If it "
            "is genuine, raise the cap: ARKWORKER_MAX_ARCHIVE_SIZE=<bytes>, or "
            "ArchiveLimits(max_size=<bytes>)."
        )


#: The limits of an extraction that is given none.
DEFAULT_LIMITS = ArchiveLimits()


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


def decompress_zst(
    source: str | Path, destination: str | Path, *, limits: ArchiveLimits = DEFAULT_LIMITS
) -> Path:
    """Decompress the zstd file ``source`` into ``destination``, streaming.

    Multi-frame input (as the reference writes) is read across frames. ``destination`` is
    written to a temporary file next to it and renamed at the end, so a corrupt input, or
    one that expands beyond ``limits``, leaves no partial file behind.
    """
    source, destination = Path(source), Path(destination)
    _require_file(source)
    with written_in_place(destination) as temporary, open(temporary, "wb") as output:
        _decompress_to(source, output, limits)
    return destination


def extract_tar_zst(
    archive: str | Path, destination: str | Path, *, limits: ArchiveLimits = DEFAULT_LIMITS
) -> list[Path]:
    """Extract the ``.tar.zst`` file ``archive`` into ``destination`` (created if missing).

    Returns the paths written (regular files, directories and links), relative to
    ``destination``. Files already in ``destination`` with the same relative path are
    replaced; nothing is written when the archive is corrupt, holds an unsafe member, or
    goes beyond ``limits`` (its decompressed size, the total size of its files, its number
    of members).
    """
    archive, destination = Path(archive), Path(destination)
    _require_file(archive)
    destination.mkdir(parents=True, exist_ok=True)
    handle, tar_path = tempfile.mkstemp(suffix=".tar")
    staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=destination))
    try:
        with os.fdopen(handle, "wb") as output:
            _decompress_to(archive, output, limits)
        written = _extract_tar(archive, Path(tar_path), staging, limits)
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
    # Sorted by path components, as the reference sorts paths: ``model/config.json`` comes
    # before ``model.pt`` (a sort of the text would put ``.`` before ``/``), so the content
    # hash of a directory is the one arkindex-base-worker computes for it.
    entries = sorted(source_dir.rglob("*"), key=lambda path: path.relative_to(source_dir).parts)
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


@contextlib.contextmanager
def temporary_tar_zst(source_dir: str | Path) -> Iterator[ArchiveInfo]:
    """:func:`create_tar_zst` of ``source_dir`` into a private temporary directory, removed on exit.

    For an archive that only lives while it is sent somewhere (a model version's archive,
    uploaded then dropped): nothing of it is left behind, also when the upload fails.
    """
    with tempfile.TemporaryDirectory(prefix="arkworker-archive-") as directory:
        yield create_tar_zst(source_dir, Path(directory) / f"{Path(source_dir).name or 'archive'}.tar.zst")


def create_zip_archive(source: str | Path, destination: str | Path | None = None) -> Path:
    """A ZIP file (deflated) of every entry under ``source``, directories included; its path.

    Names are relative to ``source`` and come in sorted order, so the same tree gives the
    same members. Without ``destination`` the archive is a new file ``arkworker-*.zip`` in
    the temporary directory, which the caller removes. arkindex-base-worker 0.5.2 returned a
    closed ``ZipFile`` and the path (and left a file descriptor open); this returns the path
    only, so ``_, path = create_zip_archive(...)`` becomes ``path = create_zip_archive(...)``.
    A destination is written under a temporary name and renamed once complete.
    """
    source = Path(source)
    if not source.is_dir():
        raise ArchiveError(f"Cannot archive {source}: it is not a directory.")
    if destination is None:
        handle, name = tempfile.mkstemp(prefix="arkworker-", suffix=".zip")
        os.close(handle)
        target = Path(name)
    else:
        target = Path(destination)
    entries = sorted(source.rglob("*"), key=lambda path: path.relative_to(source).parts)
    try:
        with (
            written_in_place(target) as temporary,
            zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as zip_file,
        ):
            for entry in entries:
                zip_file.write(entry, arcname=entry.relative_to(source).as_posix())
    except BaseException:
        if destination is None:
            target.unlink(missing_ok=True)
        raise
    return target


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise ArchiveError(f"Archive {path} does not exist or is not a file.")


def _decompress_to(source: Path, output: BinaryIO, limits: ArchiveLimits) -> None:
    """Stream ``source`` frame after frame into ``output``, up to the cap of ``limits``.

    zstd's stream reader bounds what is held at once, whatever the compression ratio (one
    step of a one-shot decompression object expands a few kilobytes of zeros into the whole
    file), but it reports a file cut in the middle of a frame as a clean end: the frame
    headers are walked first to refuse that. Bytes are counted as they come, so a bomb
    stops at the cap, not when the disk is full.
    """
    _check_frames(source)
    compressed_size = source.stat().st_size
    cap, written = limits.size_cap(compressed_size), 0
    # One decompressor per call: an instance is not thread-safe, and handlers running in
    # threads extract archives concurrently.
    decompressor = zstandard.ZstdDecompressor()
    try:
        with (
            source.open("rb") as compressed,
            decompressor.stream_reader(
                compressed, read_size=INPUT_CHUNK_SIZE, read_across_frames=True
            ) as reader,
        ):
            while chunk := reader.read(CHUNK_SIZE):
                written += len(chunk)
                if written > cap:
                    raise limits.too_large(source, compressed_size)
                output.write(chunk)
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


def _extract_tar(archive: Path, tar_path: Path, staging: Path, limits: ArchiveLimits) -> list[Path]:
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            members: list[tarfile.TarInfo] = []
            for member in tar:  # not getmembers(): a count beyond the cap is not held in memory
                if len(members) == limits.max_members:
                    raise ArchiveError(
                        f"Archive {archive} holds more than {limits.max_members} members; nothing was "
                        "written. If it is genuine, raise the cap: ARKWORKER_MAX_ARCHIVE_MEMBERS=<count>, "
                        "or ArchiveLimits(max_members=<count>)."
                    )
                members.append(member)
            links = {PurePosixPath(member.name) for member in members if member.issym() or member.islnk()}
            symlinks = {PurePosixPath(member.name) for member in members if member.issym()}
            seen: set[PurePosixPath] = set()
            for member in members:
                _check_member(archive, member, links, seen, symlinks)
                seen.add(PurePosixPath(member.name))
            compressed_size = archive.stat().st_size
            if _extracted_size(members) > limits.size_cap(compressed_size):
                raise limits.too_large(archive, compressed_size)
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


def _extracted_size(members: list[tarfile.TarInfo]) -> int:
    """The bytes the (checked) ``members`` write: regular files, and hard links as the copies they become.

    A tar file stores a hard link as a name, but extraction copies its target: one large
    file linked many times would expand far beyond the tar file itself.
    """
    sizes: dict[PurePosixPath, int] = {}  # by path: a member written twice takes its room once
    for member in members:
        if member.isfile():
            sizes[PurePosixPath(member.name)] = member.size
        elif member.islnk():
            sizes[PurePosixPath(member.name)] = sizes.get(PurePosixPath(member.linkname), 0)
    return sum(sizes.values())


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


def _bytes(count: int) -> str:
    """``count`` bytes for a reader: ``512 bytes``, ``64 KiB``, ``1.5 GiB``."""
    if count < 1024:
        return f"{count} bytes"
    value = count / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
        value /= 1024
    return f"{value:.1f}".removesuffix(".0") + " TiB"
