"""Archives on real files: round trip, streaming, and every unsafe or broken archive refused."""

import hashlib
import io
import os
import stat
import tarfile
import threading
import tracemalloc
from pathlib import Path

import pytest
import zstandard

from arkworker.errors import BadInput
from arkworker.storage.archives import (
    ArchiveError,
    ArchiveLimits,
    create_tar_zst,
    decompress_zst,
    extract_tar_zst,
)
from arkworker.storage.dataset_archive import LocalArchive


def make_archive(path, members):
    """Write a .tar.zst holding ``members``: (TarInfo, bytes or None) pairs, as given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(zstandard.ZstdCompressor().compress(buffer.getvalue()))
    return path


def member(name, kind=tarfile.REGTYPE, linkname="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    return info


def tree(root):
    """Every path under root, relative, with file contents or link targets."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[key] = ("link", os.readlink(path))
        elif path.is_dir():
            found[key] = ("dir",)
        else:
            found[key] = ("file", path.read_bytes())
    return found


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "source"
    (root / "model" / "weights").mkdir(parents=True)
    (root / "model" / "weights" / "a.bin").write_bytes(bytes(range(256)) * 100)
    (root / "model" / "config.json").write_text('{"layers": 3}')
    (root / "README").write_text("hello")
    (root / "latest").symlink_to("model/config.json")
    return root


def test_round_trip_keeps_files_directories_and_links(tmp_path, source):
    info = create_tar_zst(source, tmp_path / "model.tar.zst")
    assert info.path == tmp_path / "model.tar.zst"
    assert info.size == info.path.stat().st_size
    assert info.archive_md5 == hashlib.md5(info.path.read_bytes()).hexdigest()
    contents = b"hello" + b'{"layers": 3}' + bytes(range(256)) * 100  # sorted paths, regular files
    assert info.content_md5 == hashlib.md5(contents).hexdigest()

    written = extract_tar_zst(info.path, tmp_path / "out")
    assert tree(tmp_path / "out") == tree(source)
    assert {path.as_posix() for path in written} == set(tree(source))
    assert list((tmp_path / "out").glob(".extracting-*")) == []


def test_extraction_merges_into_an_existing_destination(tmp_path, source):
    archive = create_tar_zst(source, tmp_path / "a.tar.zst").path
    destination = tmp_path / "out"
    (destination / "model").mkdir(parents=True)
    (destination / "model" / "config.json").write_text("old")
    (destination / "kept.txt").write_text("kept")
    extract_tar_zst(archive, destination)
    assert (destination / "model" / "config.json").read_text() == '{"layers": 3}'
    assert (destination / "kept.txt").read_text() == "kept"


def test_multi_frame_input_is_decompressed_across_frames(tmp_path):
    compressor = zstandard.ZstdCompressor()
    source = tmp_path / "data.zst"
    source.write_bytes(b"".join(compressor.compress(bytes([n]) * 1024) for n in range(5)))
    decompress_zst(source, tmp_path / "data")
    assert (tmp_path / "data").read_bytes() == b"".join(bytes([n]) * 1024 for n in range(5))


def test_a_tar_made_elsewhere_with_a_dot_root_is_extracted(tmp_path):
    archive = make_archive(
        tmp_path / "dot.tar.zst",
        [(member(".", tarfile.DIRTYPE, mode=0o755), None), (member("./a.txt"), b"A")],
    )
    assert extract_tar_zst(archive, tmp_path / "out") == [Path("a.txt")]
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"A"


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([(member("../evil.txt"), b"x")], "climbs out of the destination"),
        ([(member("ok/../../evil.txt"), b"x")], "climbs out of the destination"),
        ([(member("/tmp/evil.txt"), b"x")], "absolute path"),
        ([(member("escape", tarfile.SYMTYPE, "../../outside"), None)], "outside the destination"),
        ([(member("escape", tarfile.SYMTYPE, "/etc/passwd"), None)], "outside the destination"),
        (
            [(member("sub", tarfile.SYMTYPE, "."), None), (member("sub/evil.txt"), b"x")],
            "goes through a link",
        ),
        (
            [
                (member("d", tarfile.DIRTYPE), None),
                (member("d/l", tarfile.SYMTYPE, ".."), None),
                (member("x", tarfile.SYMTYPE, "d/l/.."), None),
            ],
            "through another link",
        ),
        (
            [
                (member("a/b", tarfile.DIRTYPE), None),
                (member("a/b/s", tarfile.SYMTYPE, "../../x"), None),
                (member("h", tarfile.LNKTYPE, "a/b/s"), None),
            ],
            "a symbolic link",
        ),
        ([(member("hard", tarfile.LNKTYPE, "../outside"), None)], "hard link"),
        ([(member("hard", tarfile.LNKTYPE, "/etc/passwd"), None)], "hard link"),
        (
            [(member("x", tarfile.DIRTYPE), None), (member("x"), b"file")],
            r"'x' cannot be written \(Is a directory",
        ),
        ([(member("x"), b"file"), (member("x/y"), b"child")], r"'x/y' cannot be written \(File exists"),
        ([(member("null", tarfile.CHRTYPE), None)], "device or a FIFO"),
        ([(member("fifo", tarfile.FIFOTYPE), None)], "device or a FIFO"),
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "absolute",
        "symlink-escape",
        "absolute-symlink",
        "through-link",
        "symlink-through-a-link",
        "hardlink-to-symlink",
        "hardlink-escape",
        "absolute-hardlink",
        "directory-then-file",
        "file-then-child",
        "device",
        "fifo",
    ],
)
def test_unsafe_archives_are_refused_and_nothing_is_written(tmp_path, members, reason):
    archive = make_archive(tmp_path / "evil.tar.zst", [(member("good.txt"), b"good"), *members])
    destination = tmp_path / "deep" / "out"
    with pytest.raises(ArchiveError, match=reason) as raised:
        extract_tar_zst(archive, destination)
    assert str(archive) in raised.value.message
    assert isinstance(raised.value, BadInput)
    assert list(destination.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "deep" / "evil.txt").exists()


def test_links_inside_the_destination_are_extracted(tmp_path):
    archive = make_archive(
        tmp_path / "links.tar.zst",
        [
            (member("data/a.txt"), b"A"),
            (member("data/alias", tarfile.SYMTYPE, "a.txt"), None),
            (member("copy", tarfile.LNKTYPE, "data/a.txt"), None),
        ],
    )
    extract_tar_zst(archive, tmp_path / "out")
    assert os.readlink(tmp_path / "out" / "data" / "alias") == "a.txt"
    assert (tmp_path / "out" / "copy").read_bytes() == b"A"


def test_modes_lose_special_bits_and_foreign_write(tmp_path):
    archive = make_archive(tmp_path / "modes.tar.zst", [(member("run.sh", mode=0o6777), b"#!")])
    extract_tar_zst(archive, tmp_path / "out")
    assert (tmp_path / "out" / "run.sh").stat().st_mode & 0o7777 == 0o755


def test_a_corrupt_zstd_archive_names_the_file_and_leaves_nothing(tmp_path, source):
    archive = create_tar_zst(source, tmp_path / "a.tar.zst").path
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ArchiveError, match=r"a\.tar\.zst is not a valid zstd file"):
        extract_tar_zst(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_not_zstd_at_all(tmp_path):
    archive = tmp_path / "plain.tar.zst"
    archive.write_bytes(b"this is not an archive")
    with pytest.raises(ArchiveError, match=r"plain\.tar\.zst is not a valid zstd file"):
        extract_tar_zst(archive, tmp_path / "out")


def test_zstd_holding_something_else_than_a_tar(tmp_path):
    archive = tmp_path / "notar.tar.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(b"x" * 5000))
    with pytest.raises(ArchiveError, match=r"notar\.tar\.zst does not hold a valid tar file"):
        extract_tar_zst(archive, tmp_path / "out")


def test_a_missing_archive(tmp_path):
    with pytest.raises(ArchiveError, match=r"missing\.tar\.zst does not exist"):
        extract_tar_zst(tmp_path / "missing.tar.zst", tmp_path / "out")


def test_decompress_leaves_no_partial_file_on_corrupt_input(tmp_path):
    source = tmp_path / "data.zst"
    source.write_bytes(zstandard.ZstdCompressor().compress(os.urandom(100_000))[:5000])
    with pytest.raises(ArchiveError, match=r"data\.zst"):
        decompress_zst(source, tmp_path / "data")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.zst"]


def test_temporary_tar_files_are_removed(tmp_path, source, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)
    archive = create_tar_zst(source, tmp_path / "a.tar.zst").path
    extract_tar_zst(archive, tmp_path / "out")
    bad = make_archive(tmp_path / "bad.tar.zst", [(member("../x"), b"x")])
    with pytest.raises(ArchiveError):
        extract_tar_zst(bad, tmp_path / "out2")
    assert list(scratch.iterdir()) == []


def test_creating_from_a_missing_directory(tmp_path):
    with pytest.raises(ArchiveError, match="is not a directory"):
        create_tar_zst(tmp_path / "nothing", tmp_path / "a.tar.zst")
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_archive_leaves_no_temporary_file(tmp_path, source, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)
    archive = create_tar_zst(source, tmp_path / "a.tar.zst").path
    truncated = tmp_path / "truncated.tar.zst"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ArchiveError, match=r"truncated\.tar\.zst"):
        extract_tar_zst(truncated, tmp_path / "out")
    assert list(scratch.iterdir()) == []
    assert list((tmp_path / "out").iterdir()) == []


def test_archives_are_streamed_not_held_in_memory(tmp_path):
    size = 64 << 20
    (tmp_path / "source").mkdir()
    with (tmp_path / "source" / "big.bin").open("wb") as big:
        for _ in range(size >> 20):
            big.write(b"\0" * (1 << 20))
    tracemalloc.start()
    try:
        create_tar_zst(tmp_path / "source", tmp_path / "big.tar.zst")
        extract_tar_zst(tmp_path / "big.tar.zst", tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (tmp_path / "out" / "big.bin").stat().st_size == size
    assert peak < size // 8, f"{peak} bytes held at once for a {size}-byte archive"


def test_written_files_get_the_mode_of_any_new_file(tmp_path, source):
    previous = os.umask(0o022)
    try:
        archive = create_tar_zst(source, tmp_path / "a.tar.zst").path
        decompress_zst(archive, tmp_path / "a.tar")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "a.tar").stat().st_mode) == 0o644


def test_archives_extract_concurrently_from_several_threads(tmp_path):
    # Handlers running in threads may extract at the same time: each extraction must use
    # decompression state of its own (a shared zstd decompressor corrupts the streams).
    archives = []
    for index in range(8):
        source = tmp_path / f"source{index}"
        source.mkdir()
        (source / "data.bin").write_bytes(os.urandom(1 << 18) + bytes([index]) * (1 << 21))
        archives.append(create_tar_zst(source, tmp_path / f"{index}.tar.zst").path)
    failures = []

    def extract(index):
        try:
            extract_tar_zst(archives[index], tmp_path / f"out{index}")
        except ArchiveError as error:
            failures.append(str(error))

    for _ in range(3):
        threads = [threading.Thread(target=extract, args=(index,)) for index in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    for index in range(8):
        expected = (tmp_path / f"source{index}" / "data.bin").read_bytes()
        assert (tmp_path / f"out{index}" / "data.bin").read_bytes() == expected


# -- Limits ------------------------------------------------------------------------------------


def zeros_zst(path, size):
    """A zstd bomb in small: ``size`` zero bytes, compressed to a few hundred bytes."""
    path.write_bytes(zstandard.ZstdCompressor().compress(bytes(size)))
    return path


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The temporary directory extraction uses for its tar file, to check that nothing stays."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr("tempfile.tempdir", None)
    return folder


def test_decompression_stops_at_the_cap_and_writes_nothing(tmp_path):
    source = zeros_zst(tmp_path / "bomb.zst", 4 << 20)
    with pytest.raises(ArchiveError) as raised:
        decompress_zst(source, tmp_path / "out", limits=ArchiveLimits(max_size=1 << 20))
    assert raised.value.message == (
        f"Archive {source} expands to more than 1 MiB (the max_size of its limits); nothing was "
        "written. If it is genuine, raise the cap: ARKWORKER_MAX_ARCHIVE_SIZE=<bytes>, or "
        "ArchiveLimits(max_size=<bytes>)."
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bomb.zst"]
    assert decompress_zst(
        source, tmp_path / "out", limits=ArchiveLimits(max_size=4 << 20)
    ).stat().st_size == (4 << 20)


def test_extraction_stops_at_the_cap_and_leaves_nothing_behind(tmp_path, scratch):
    archive = make_archive(tmp_path / "bomb.tar.zst", [(member("zeros.bin"), bytes(4 << 20))])
    destination = tmp_path / "out"
    destination.mkdir()
    (destination / "kept.txt").write_text("mine")
    with pytest.raises(ArchiveError, match=r"expands to more than 1 MiB .*nothing was written"):
        extract_tar_zst(archive, destination, limits=ArchiveLimits(max_size=1 << 20))
    assert tree(destination) == {"kept.txt": ("file", b"mine")}  # no staging folder, no partial file
    assert list(scratch.iterdir()) == []  # no decompressed tar file


def test_hard_links_count_as_the_copies_extraction_makes(tmp_path, scratch):
    """The tar file holds 1 MiB once; extracted, its 15 hard links are 16 MiB."""
    links = [(member(f"copy{index}", tarfile.LNKTYPE, linkname="data.bin"), None) for index in range(15)]
    archive = make_archive(tmp_path / "links.tar.zst", [(member("data.bin"), os.urandom(1 << 20)), *links])
    limits = ArchiveLimits(max_size=8 << 20)
    with pytest.raises(ArchiveError, match=r"expands to more than 8 MiB"):
        extract_tar_zst(archive, tmp_path / "out", limits=limits)
    assert list((tmp_path / "out").iterdir()) == []
    assert list(scratch.iterdir()) == []
    assert len(extract_tar_zst(archive, tmp_path / "out", limits=ArchiveLimits(max_size=16 << 20))) == 16


def test_the_number_of_members_is_capped(tmp_path):
    archive = make_archive(tmp_path / "many.tar.zst", [(member(f"{index}.txt"), b"x") for index in range(11)])
    with pytest.raises(ArchiveError) as raised:
        extract_tar_zst(archive, tmp_path / "out", limits=ArchiveLimits(max_members=10))
    assert raised.value.message == (
        f"Archive {archive} holds more than 10 members; nothing was written. If it is genuine, raise "
        "the cap: ARKWORKER_MAX_ARCHIVE_MEMBERS=<count>, or ArchiveLimits(max_members=<count>)."
    )
    assert list((tmp_path / "out").iterdir()) == []
    assert len(extract_tar_zst(archive, tmp_path / "out", limits=ArchiveLimits(max_members=11))) == 11


def test_the_default_cap_is_100_times_the_compressed_size_and_at_least_1_gib():
    limits = ArchiveLimits()
    assert limits.size_cap(64 << 10) == 1 << 30  # the 64 KiB bomb that wrote 2 GiB stops at 1 GiB
    assert limits.size_cap(20 << 30) == 2000 << 30  # a 20 GiB archive may hold 2000 GiB
    assert ArchiveLimits(max_size=5).size_cap(20 << 30) == 5
    assert limits.too_large(Path("bomb.tar.zst"), 64 << 10).message.startswith(
        "Archive bomb.tar.zst expands to more than 1 GiB (100 times its size of 64 KiB, at least 1 GiB);"
    )


def test_limits_from_the_environment():
    assert ArchiveLimits.from_env({}) == ArchiveLimits(None, 1_000_000)
    env = {"ARKWORKER_MAX_ARCHIVE_SIZE": "53687091200", "ARKWORKER_MAX_ARCHIVE_MEMBERS": "5000000"}
    assert ArchiveLimits.from_env(env) == ArchiveLimits(50 << 30, 5_000_000)
    with pytest.raises(BadInput) as raised:
        ArchiveLimits.from_env({"ARKWORKER_MAX_ARCHIVE_SIZE": "20G"})
    assert (
        raised.value.message
        == "ARKWORKER_MAX_ARCHIVE_SIZE='20G' is not valid: expected a number of bytes >= 1."
    )
    with pytest.raises(
        BadInput, match=r"ARKWORKER_MAX_ARCHIVE_MEMBERS='0' is not valid: expected a whole number >= 1"
    ):
        ArchiveLimits.from_env({"ARKWORKER_MAX_ARCHIVE_MEMBERS": "0"})


def test_a_dataset_archive_extracts_within_its_limits(tmp_path):
    archive = make_archive(tmp_path / "dataset.tar.zst", [(member("db.sqlite"), bytes(2 << 20))])
    scratch_dir = tmp_path / "work"
    local = LocalArchive(
        archive, downloaded=False, scratch_dir=scratch_dir, limits=ArchiveLimits(max_size=1 << 20)
    )
    with pytest.raises(ArchiveError, match="expands to more than 1 MiB"):
        local.extract()
    assert list(scratch_dir.iterdir()) == []  # the extraction folder went with the failure
    with pytest.raises(ArchiveError, match="expands to more than 1 MiB"):
        local.extract(tmp_path / "mine")
    assert list((tmp_path / "mine").iterdir()) == []
