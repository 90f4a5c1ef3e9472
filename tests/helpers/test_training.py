"""Training helpers end to end: a worker publishes a model version on a sandbox of either generation.

The 0.3.7 generation creates the version, PUTs the archive to its ``s3_put_url`` and validates
it; today's archives first, creates the version with the archive's size and hash, and uploads
it in parts. Both are run through the real client, the real HTTP upload and the sandbox's
object store, with its faults.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile

import pytest
import zstandard

from arkworker import InvalidArgument, Worker
from arkworker.archives import ArchiveError, create_tar_zst, create_zip_archive
from arkworker.helpers.training import MIB, part_size

LEVELS = ("legacy", "current")
CONFIG = b'{"layers": 3}'
WEIGHTS = bytes(range(256)) * 64


def training_corpus(api_level, **extra):
    """A page, a model "Lines" with a version v1, and a worker run fine-tuning a version of "Base"."""
    return {
        "api_level": api_level,
        "corpus": {"name": "Training corpus"},
        "elements": [{"name": "Page 1", "type": "page"}],
        "models": [{"name": "Lines", "versions": [{"tag": "v1"}]}],
        "worker_run": {"model_version": {"model": {"name": "Base"}, "configuration": {"epochs": 1}}},
        **extra,
    }


@pytest.fixture(params=LEVELS)
def arkworker_corpus(request):
    return training_corpus(request.param)


@pytest.fixture
def level(arkworker_sandbox):
    return arkworker_sandbox.api_level


@pytest.fixture
def model_dir(tmp_path):
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "weights.bin").write_bytes(WEIGHTS)
    (directory / "config.json").write_bytes(CONFIG)
    return directory


@pytest.fixture
def lines_id(arkworker_sandbox):
    (model,) = arkworker_sandbox.objects("models", name="Lines")
    return model["id"]


@pytest.fixture
def train(arkworker_run):
    """Run a worker whose finish function calls ``publish(ctx)``; (its return value, the run).

    The run must succeed unless ``expect_failure``.
    """

    def run(publish, *args, expect_failure=False, **kwargs):
        results = []
        app = Worker("trainer")
        app.element(lambda element: None)

        @app.finish
        def finish(result, ctx):
            results.append(publish(ctx))

        outcome = arkworker_run(app, *args, **kwargs)
        if not expect_failure:
            assert outcome.exit_code == 0, outcome.output
        return (results[0] if results else None), outcome

    return run


#: The operations of training, as operations() lists them.
TRAINING = {
    "CreateModelVersion",
    "RetrieveModelVersion",
    "UpdateModelVersion",
    "ValidateModelVersion",
    "DestroyModelVersion",
    "CreateMultipartUpload",
    "CreateMultipartUploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
}


def operations(sandbox):
    """The training operations and uploads the sandbox received, in order (``PUT upload``: the object store)."""
    return [
        f"{record.method} upload" if record.path.startswith("/upload/") else record.operation_id
        for record in sandbox.requests
        if record.operation_id in TRAINING or record.path.startswith("/upload/")
    ]


def uploads(sandbox):
    return [record for record in sandbox.requests if record.path.startswith("/upload/")]


def files_of(archive: bytes) -> dict[str, bytes]:
    """The regular files of a ``.tar.zst`` archive, by name."""
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(archive)) as reader:
        tar_bytes = reader.read()
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {
            member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile()
        }


# -- publishing ---------------------------------------------------------------------------------


def test_publish_uploads_the_archive_and_makes_the_version_available(
    train, arkworker_sandbox, level, model_dir, lines_id
):
    version, run = train(
        lambda ctx: ctx.publish_model_version(
            model_dir, lines_id, tag="v2", description="Trained on 1 page", configuration={"epochs": 3}
        )
    )
    assert version["state"] == "available"
    assert (version["model_id"], version["tag"], version["description"]) == (
        lines_id,
        "v2",
        "Trained on 1 page",
    )
    assert version["configuration"] == {"epochs": 3}

    archive = arkworker_sandbox.uploaded(version["id"])
    assert files_of(archive) == {"config.json": CONFIG, "weights.bin": WEIGHTS}
    (row,) = arkworker_sandbox.objects("model_versions", id=version["id"])
    assert row["state"] == "available"
    assert (row["size"], row["archive_hash"]) == (len(archive), hashlib.md5(archive).hexdigest())
    assert run.created["model_versions"] == [row]  # the sandbox's worker run published it
    if level == "legacy":
        assert row["hash"] == hashlib.md5(CONFIG + WEIGHTS).hexdigest()  # files in path order
        assert operations(arkworker_sandbox) == ["CreateModelVersion", "PUT upload", "ValidateModelVersion"]
        assert f"Model version {version['id']} is now available." in run.output
    else:
        assert operations(arkworker_sandbox) == [
            "CreateModelVersion",
            "CreateMultipartUpload",
            "CreateMultipartUploadPart",
            "PUT upload",
            "CompleteMultipartUpload",
        ]
        created = next(r for r in arkworker_sandbox.requests if r.operation_id == "CreateModelVersion")
        assert (created.body["size"], created.body["archive_hash"]) == (row["size"], row["archive_hash"])
        assert (
            f"Model version ({version['id']}) archive was successfully uploaded and is now available."
            in run.output
        )
    assert f"Model version ({version['id']}) was successfully created." in run.output
    assert (
        "Archived " in run.output
        and f"content hash {hashlib.md5(CONFIG + WEIGHTS).hexdigest()}" in run.output
    )


def test_the_instance_decides_how_the_archive_goes(train, level, model_dir, lines_id):
    _, run = train(lambda ctx: ctx.publish_model_version(model_dir, lines_id))
    if level == "legacy":
        assert (
            "create, archive, upload to S3, validate (the instance has no CreateMultipartUpload)"
            in run.output
        )
    else:
        assert "archive, create, multipart upload (the instance has CreateMultipartUpload)" in run.output


def test_fine_tuning_publishes_a_child_of_the_run_s_model_version(train, arkworker_sandbox, model_dir):
    def publish(ctx):
        assert ctx.is_finetuning
        assert ctx.model_configuration == {"epochs": 1}
        return ctx.publish_model_version(model_dir, ctx.model_details["id"], parent=ctx.model_version_id)

    version, _ = train(publish)
    (base,) = arkworker_sandbox.objects("models", name="Base")
    (run_version,) = arkworker_sandbox.objects(
        "model_versions", model_id=base["id"], tag=None, parent_id=None
    )
    assert version["model_id"] == base["id"]
    assert version["parent"] == run_version["id"]


@pytest.mark.parametrize("arkworker_corpus", [{**training_corpus("current"), "worker_run": {}}])
def test_without_a_model_version_the_run_is_not_fine_tuning(train):
    assert train(lambda ctx: (ctx.is_finetuning, ctx.model_version))[0] == (False, None)


def test_a_tag_already_used_is_dropped_and_the_creation_sent_again(
    train, arkworker_sandbox, model_dir, lines_id
):
    version, run = train(lambda ctx: ctx.publish_model_version(model_dir, lines_id, tag="v1"))
    assert version["tag"] is None and version["state"] == "available"
    creations = [r.body for r in arkworker_sandbox.requests if r.operation_id == "CreateModelVersion"]
    assert [body.get("tag") for body in creations] == ["v1", None]
    assert (
        "The `v1` tag is already used by another version for this model, publication will be retried without it."
        in run.output
    )


def test_publish_after_create_updates_the_version_it_created(
    train, arkworker_sandbox, level, model_dir, lines_id
):
    def publish(ctx):
        extra = {"size": 1, "archive_hash": "0" * 32} if level == "current" else {}
        ctx.create_model_version(lines_id, tag="draft", **extra)
        return ctx.publish_model_version(model_dir, lines_id, tag="v2")

    version, run = train(publish)
    assert version["tag"] == "v2" and version["state"] == "available"
    assert len(arkworker_sandbox.objects("model_versions", model_id=lines_id)) == 2  # v1 and this one
    assert f"Model version ({version['id']}) was successfully updated." in run.output


# -- faults -------------------------------------------------------------------------------------


@pytest.fixture
def big_model(tmp_path):
    """A model whose archive takes two parts of a multipart upload (incompressible bytes over 5 MiB)."""
    directory = tmp_path / "big-model"
    directory.mkdir()
    (directory / "weights.bin").write_bytes(os.urandom(6 * MIB))
    return directory


def test_a_cut_upload_is_sent_again_from_its_first_byte(train, arkworker_sandbox, level, big_model, lines_id):
    arkworker_sandbox.fault("upload", "reset")  # the connection is reset while the archive is being sent
    arkworker_sandbox.fail("upload", status=503)
    version, run = train(lambda ctx: ctx.publish_model_version(big_model, lines_id))
    puts = uploads(arkworker_sandbox)
    assert [record.fault for record in puts[:2]] == ["reset", "error"]
    assert len(puts) == (3 if level == "legacy" else 4)  # two more attempts, then the second part
    archive = arkworker_sandbox.uploaded(version["id"])
    assert files_of(archive) == {"weights.bin": (big_model / "weights.bin").read_bytes()}
    assert version["state"] == "available"
    assert "attempt 2 of 5" in run.output and "attempt 3 of 5" in run.output


def test_an_upload_answered_too_late_times_out_and_is_sent_again(
    train, arkworker_sandbox, model_dir, lines_id
):
    arkworker_sandbox.stall("upload", seconds=2)
    env = {"ARKWORKER_API_READ_TIMEOUT": "0.2"}
    version, run = train(lambda ctx: ctx.publish_model_version(model_dir, lines_id), env=env)
    assert version["state"] == "available"
    assert [record.fault for record in uploads(arkworker_sandbox)] == ["stall", None]
    assert "failed (no answer within 0.2 s); attempt 2 of 5" in run.output


def test_an_upload_the_store_refuses_fails_the_run_and_aborts_the_multipart_upload(
    train, arkworker_sandbox, level, model_dir, lines_id
):
    arkworker_sandbox.fail("upload", status=403, times=None)
    _, run = train(lambda ctx: ctx.publish_model_version(model_dir, lines_id), expect_failure=True)
    assert run.exit_code == 1
    assert "UploadError(" in run.output and "failed: HTTP 403 Forbidden" in run.output
    assert len(uploads(arkworker_sandbox)) == 1  # a 403 is not retried
    (version,) = arkworker_sandbox.objects("model_versions", model_id=lines_id, tag=None)
    assert version["state"] == "created"
    if level == "current":
        assert operations(arkworker_sandbox)[-1] == "AbortMultipartUpload"
        (upload,) = arkworker_sandbox.objects("multipart_uploads")
        assert upload["state"] == "aborted"
        assert "Aborting the multipart upload" in run.output
    else:
        assert "ValidateModelVersion" not in operations(arkworker_sandbox)


@pytest.mark.parametrize("arkworker_corpus", [training_corpus("current")])
def test_a_lost_answer_of_the_completion_is_checked_not_sent_again(
    train, arkworker_sandbox, model_dir, lines_id
):
    arkworker_sandbox.reset_mid_answer("CompleteMultipartUpload")
    arkworker_sandbox.reset_connection("CreateMultipartUploadPart")
    version, run = train(lambda ctx: ctx.publish_model_version(model_dir, lines_id))
    assert version["state"] == "available"
    assert operations(arkworker_sandbox).count("CompleteMultipartUpload") == 1
    assert operations(arkworker_sandbox).count("CreateMultipartUploadPart") == 2
    assert operations(arkworker_sandbox)[-1] == "RetrieveModelVersion"
    assert "the answer was lost but it was applied; not sending it again" in run.output


# -- validation (0.3.7 generation) ----------------------------------------------------------------


CONTENT_HASH = hashlib.md5(CONFIG + WEIGHTS).hexdigest()


@pytest.mark.parametrize(
    "arkworker_corpus",
    [
        training_corpus(
            "legacy", models=[{"name": "Lines", "versions": [{"tag": "v1", "hash": CONTENT_HASH}]}]
        )
    ],
)
def test_a_version_with_the_same_content_is_adopted_and_the_pending_one_destroyed(
    train, arkworker_sandbox, model_dir, lines_id
):
    version, run = train(lambda ctx: ctx.publish_model_version(model_dir, lines_id, description="Again"))
    (v1,) = arkworker_sandbox.objects("model_versions", model_id=lines_id)  # the pending one is gone
    assert version["id"] == v1["id"] and version["tag"] == "v1"
    assert v1["description"] == "Again"  # the attributes given went to the adopted version
    assert operations(arkworker_sandbox) == [
        "CreateModelVersion",
        "PUT upload",
        "ValidateModelVersion",
        "DestroyModelVersion",
        "UpdateModelVersion",
    ]
    assert f"An available model version exists with hash {CONTENT_HASH}, using it instead" in run.output
    assert "Removing the pending model version." in run.output
    assert "Updating the existing available model version with the given attributes." in run.output
    assert f"Model version {v1['id']} is now available." in run.output


@pytest.mark.parametrize("arkworker_corpus", [training_corpus("legacy")])
@pytest.mark.parametrize("fault", ["error", "lost"])
def test_a_validation_the_server_fails_is_a_warning_to_check_the_version(
    train, arkworker_sandbox, model_dir, lines_id, fault
):
    if fault == "error":
        arkworker_sandbox.fail("ValidateModelVersion", status=403)
    else:
        arkworker_sandbox.reset_mid_answer("ValidateModelVersion")  # validated, the answer lost
    version, run = train(lambda ctx: ctx.publish_model_version(model_dir, lines_id))
    assert version["state"] == "created"  # what the worker knows
    assert (
        f"An error occurred while validating model version {version['id']}, please check its status."
        in run.output
    )
    assert operations(arkworker_sandbox).count("ValidateModelVersion") == 1


# -- the steps one by one, read-only mode and checks -------------------------------------------------------


@pytest.mark.parametrize("arkworker_corpus", [training_corpus("legacy")])
def test_the_steps_one_by_one(train, arkworker_sandbox, model_dir, lines_id, tmp_path):
    info = create_tar_zst(model_dir, tmp_path / "model.tar.zst")

    def steps(ctx):
        ctx.create_model_version(lines_id, tag="v9", configuration={"a": 1})
        ctx.upload_to_s3(info.path)
        ctx.validate_model_version(info.content_md5, info.size, info.archive_md5)
        return ctx.update_model_version(description="Done")

    version, _ = train(steps)
    assert (version["tag"], version["description"], version["state"]) == ("v9", "Done", "available")
    assert arkworker_sandbox.uploaded(version["id"]) == info.path.read_bytes()


def test_read_only_mode_sends_nothing_and_says_so(train, arkworker_sandbox, model_dir, lines_id, tmp_path):
    info = create_tar_zst(model_dir, tmp_path / "model.tar.zst")

    def everything(ctx):
        return (
            ctx.is_finetuning,
            ctx.publish_model_version(model_dir, lines_id),
            ctx.create_model_version(lines_id, size=1, archive_hash="0" * 32),
            ctx.update_model_version(tag="v3"),
            ctx.upload_to_s3(info.path),
            ctx.validate_model_version(info.content_md5, info.size, info.archive_md5),
            ctx.model_version,
        )

    results, run = train(everything, "--dev", env={"ARKINDEX_MODEL_VERSION_ID": lines_id})
    assert results == (True, None, None, None, None, None, None)
    assert {record.method for record in arkworker_sandbox.requests} == {"GET"}
    for line in (
        "Cannot publish a model version as this worker is in read-only mode",
        "Cannot create a model version as this worker is in read-only mode",
        "Cannot update the model version as this worker is in read-only mode",
        "Cannot upload the model version archive as this worker is in read-only mode",
        "Cannot validate the model version as this worker is in read-only mode",
    ):
        assert line in run.output


@pytest.mark.parametrize("arkworker_corpus", [training_corpus("current")])
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda ctx, d, m: ctx.publish_model_version(d / "missing", m),
            "model_path must be an existing directory",
        ),
        (lambda ctx, d, m: ctx.publish_model_version(d, "lines"), "model_id must be a UUID, got 'lines'"),
        (lambda ctx, d, m: ctx.publish_model_version(d, m, tag=""), "tag must be a non-empty string"),
        (
            lambda ctx, d, m: ctx.publish_model_version(d, m, configuration={"f": object}),
            "configuration must hold JSON values only",
        ),
        (lambda ctx, d, m: ctx.publish_model_version(d, m, parent="v1"), "parent must be a UUID"),
        (
            lambda ctx, d, m: ctx.create_model_version(m, 1234, "0" * 32),
            "the archive's size and hash are keyword arguments",
        ),
        (
            lambda ctx, d, m: ctx.create_model_version(m, tag="v2"),
            "pass size= and archive_hash= (bytes, MD5), or use publish_model_version",
        ),
        (
            lambda ctx, d, m: ctx.create_model_version(m, size=1, archive_hash="XYZ"),
            "archive_hash must be an MD5",
        ),
        (lambda ctx, d, m: ctx.update_model_version(tag="v2"), "No model version has been created yet"),
        (lambda ctx, d, m: ctx.update_model_version(), "update_model_version needs a field to change"),
        (lambda ctx, d, m: ctx.upload_to_s3(d / "nothing.tar.zst"), "archive_path must be an existing file"),
        (lambda ctx, d, m: ctx.validate_model_version("x", 1, "0" * 32), "hash must be an MD5"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    train, arkworker_sandbox, model_dir, lines_id, call, message
):
    def attempt(ctx):
        arkworker_sandbox.clear_requests()
        with pytest.raises(InvalidArgument) as info:
            call(ctx, model_dir, lines_id)
        return str(info.value)

    text, _ = train(attempt)
    assert message in text
    assert arkworker_sandbox.requests == []


def test_one_run_publishes_one_version(train, arkworker_sandbox, level, model_dir, lines_id):
    def twice(ctx):
        ctx.publish_model_version(model_dir, lines_id)
        with pytest.raises(InvalidArgument, match="is already available: a run publishes one model version"):
            ctx.publish_model_version(model_dir, lines_id)
        extra = {"size": 1, "archive_hash": "0" * 32} if level == "current" else {}
        with pytest.raises(InvalidArgument, match=r"^A model version has already been created\.$"):
            ctx.create_model_version(lines_id, **extra)
        (base,) = arkworker_sandbox.objects("models", name="Base")
        with pytest.raises(
            InvalidArgument, match="Given `model_id` does not match the current model version"
        ):
            ctx.publish_model_version(model_dir, base["id"])

    train(twice)


# -- archives -----------------------------------------------------------------------------------------


def test_the_content_hash_follows_the_reference_s_path_order(tmp_path):
    source = tmp_path / "source"
    (source / "model").mkdir(parents=True)
    (source / "model.pt").write_bytes(b"weights")
    (source / "model" / "config.json").write_bytes(b"config")
    info = create_tar_zst(source, tmp_path / "a.tar.zst")
    # model/config.json comes before model.pt: paths compare part by part, "model" < "model.pt"
    assert info.content_md5 == hashlib.md5(b"config" + b"weights").hexdigest()


def test_create_zip_archive(tmp_path, model_dir):
    (model_dir / "sub").mkdir()
    (model_dir / "sub" / "notes.txt").write_text("n")
    path = create_zip_archive(model_dir, tmp_path / "model.zip")
    assert path == tmp_path / "model.zip"
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["config.json", "sub/", "sub/notes.txt", "weights.bin"]
        assert archive.read("weights.bin") == WEIGHTS
        assert {info.compress_type for info in archive.infolist() if not info.is_dir()} == {
            zipfile.ZIP_DEFLATED
        }
    temporary = create_zip_archive(model_dir)
    try:
        assert temporary.name.startswith("arkworker-") and temporary.suffix == ".zip"
        assert zipfile.ZipFile(temporary).read("config.json") == CONFIG
    finally:
        temporary.unlink()
    with pytest.raises(ArchiveError, match="it is not a directory"):
        create_zip_archive(tmp_path / "missing")


@pytest.mark.parametrize(
    ("total", "size"),
    [
        (1, 5 * MIB),
        (25 * MIB, 5 * MIB),
        (100 * MIB, 20 * MIB),
        (101 * MIB, 21 * MIB),
        (10_000 * MIB, 50 * MIB),
    ],
)
def test_part_sizes_follow_the_reference_s_client(total, size):
    assert part_size(total) == size
