"""``ctx.upload_artifact`` end to end: CreateArtifact on the sandbox's task, the PUT to its object store.

The bytes are read back through DownloadArtifact (``ctx.download_artifact``) and the
sandbox, so what a later task of the process would receive is what was sent.
"""

from __future__ import annotations

import pytest
from arkindex import ArkindexClient
from arkindex.exceptions import ErrorResponse

from arkworker import InvalidArgument
from arkworker.api.uploads import UploadError
from arkworker.errors import ConfigurationError
from arkworker.helpers.artifacts import guess_content_type

from .conftest import legacy

DATA = bytes(range(256)) * 40


@pytest.fixture
def work_file(arkworker_ponos):
    """``stats/report.json`` in the Ponos task's work directory."""
    path = arkworker_ponos.data_dir / "current" / "stats" / "report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(DATA)
    return path


def uploads(sandbox):
    return [record for record in sandbox.requests if record.path.startswith("/upload/")]


def attempt(action, *args):
    """``action(*args)``'s result, or the exception it raised (so a test can look at it)."""
    try:
        return action(*args)
    except Exception as exc:
        return exc


def test_an_uploaded_artifact_is_listed_and_downloads_back(call_helpers, arkworker_ponos, work_file):
    task_id = arkworker_ponos.task_id

    def handler(element, ctx):
        artifact = ctx.upload_artifact(work_file)
        (listed,) = ctx.list_artifacts(task_id)
        with ctx.download_artifact(task_id, listed) as downloaded:
            return artifact, listed, downloaded.read()

    (artifact, listed, downloaded), run = call_helpers(handler)
    assert (artifact.path, artifact.size, artifact.content_type) == (
        "stats/report.json",
        len(DATA),
        "application/json",
    )
    assert listed.id == artifact.id
    assert downloaded == DATA == arkworker_ponos.sandbox.artifact(task_id, "stats/report.json")
    (put,) = uploads(arkworker_ponos.sandbox)
    assert put.method == "PUT"
    assert f"Uploaded the artifact stats/report.json of task {task_id}" in run.output


def test_a_path_the_task_already_has_is_refused(call_helpers, work_file):
    def handler(element, ctx):
        ctx.upload_artifact(work_file)
        return attempt(lambda: ctx.upload_artifact(work_file))

    error, _ = call_helpers(handler)
    assert "already exists for this task" in str(error)


def test_a_file_outside_the_work_dir_is_refused_before_any_request(
    call_helpers, arkworker_ponos, work_file, tmp_path
):
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    escaping = work_file.parent / ".." / ".." / ".." / "outside.txt"
    arkworker_ponos.sandbox.clear_requests()

    def handler(element, ctx):
        return [attempt(ctx.upload_artifact, path) for path in (outside, escaping, tmp_path / "none")]

    errors, _ = call_helpers(handler)
    assert all(isinstance(error, InvalidArgument) for error in errors)
    work_dir = arkworker_ponos.data_dir / "current"
    assert str(errors[0]) == (
        f"upload_artifact uploads files of the work directory {work_dir}: {outside} is not inside it"
    )
    assert f"{escaping} is not inside it" in str(errors[1])
    assert "upload_artifact needs an existing file" in str(errors[2])
    assert not [r for r in arkworker_ponos.sandbox.requests if r.operation_id == "CreateArtifact"]


def test_read_only_mode_sends_nothing(call_helpers, arkworker_ponos, work_file):
    result, run = call_helpers(lambda element, ctx: ctx.upload_artifact(work_file), "--dev")
    assert result is None
    assert "Cannot upload artifact as this worker is in read-only mode" in run.output
    assert not [r for r in arkworker_ponos.sandbox.requests if r.operation_id == "CreateArtifact"]


def test_without_ponos_task_the_error_names_the_variable(call_helpers, tmp_path):
    path = tmp_path / "xdg-data" / "arkindex" / "model.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    error, _ = call_helpers(lambda element, ctx: attempt(lambda: ctx.upload_artifact(path)))
    assert isinstance(error, ConfigurationError)
    assert str(error).startswith("upload_artifact needs PONOS_TASK, the id of the task")


def test_a_cut_upload_is_sent_again(call_helpers, arkworker_ponos, work_file):
    sandbox = arkworker_ponos.sandbox
    sandbox.fault("upload", "reset")
    _, run = call_helpers(lambda element, ctx: ctx.upload_artifact(work_file))
    assert [record.fault for record in uploads(sandbox)] == ["reset", None]
    assert sandbox.artifact(arkworker_ponos.task_id, "stats/report.json") == DATA
    assert "attempt 2 of 5" in run.output


def test_a_refusal_of_the_store_is_one_upload_error_line(call_helpers, arkworker_ponos, work_file):
    sandbox = arkworker_ponos.sandbox
    sandbox.fail("upload", status=403, times=None)
    error, _ = call_helpers(lambda element, ctx: attempt(lambda: ctx.upload_artifact(work_file)))
    assert isinstance(error, UploadError) and error.status == 403
    assert str(error).startswith(
        f"Uploading the artifact stats/report.json of task {arkworker_ponos.task_id} to http://"
    )
    assert "failed: HTTP 403 Forbidden" in str(error) and "\n" not in str(error)
    assert len(uploads(sandbox)) == 1  # a 403 is not retried


def test_a_creation_never_received_is_sent_again(call_helpers, arkworker_ponos, work_file):
    sandbox = arkworker_ponos.sandbox
    sandbox.reset_connection("CreateArtifact")
    call_helpers(lambda element, ctx: ctx.upload_artifact(work_file))
    assert len(sandbox.objects("artifacts", task_id=arkworker_ponos.task_id)) == 1
    assert sandbox.artifact(arkworker_ponos.task_id, "stats/report.json") == DATA


def test_a_lost_creation_answer_is_not_sent_again_and_says_the_url_is_lost(
    call_helpers, arkworker_ponos, work_file
):
    sandbox = arkworker_ponos.sandbox
    sandbox.reset_mid_answer("CreateArtifact")
    error, _ = call_helpers(lambda element, ctx: attempt(lambda: ctx.upload_artifact(work_file)))
    assert isinstance(error, UploadError)
    assert "was lost and the artifact exists without its upload URL" in str(error)
    assert [r.operation_id for r in sandbox.requests if r.operation_id == "CreateArtifact"] == [
        "CreateArtifact"
    ]
    assert not uploads(sandbox)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path": "", "content_type": "text/plain", "size": 1}, "path"),
        ({"path": "a/../../b", "content_type": "text/plain", "size": 1}, "path"),
        ({"path": "/etc/b", "content_type": "text/plain", "size": 1}, "path"),
        ({"path": "b", "content_type": "text/plain", "size": -1}, "size"),
        ({"path": "b", "content_type": "text/plain", "size": "1"}, "size"),
        ({"path": "b", "size": 1}, "content_type"),
    ],
)
def test_the_sandbox_validates_a_creation(arkworker_ponos, body, field):
    sandbox = arkworker_ponos.sandbox
    client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
    with pytest.raises(ErrorResponse) as info:
        client.request("CreateArtifact", id=arkworker_ponos.task_id, body=body)
    assert info.value.status_code == 400
    assert [error["attr"] for error in info.value.content["errors"]] == [[field]]
    assert not sandbox.objects("artifacts", task_id=arkworker_ponos.task_id)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("stats.json", "application/json"),
        ("lines.tar.gz", "application/gzip"),
        ("notes.txt", "text/plain"),
        ("weights.unknownext", "application/octet-stream"),
    ],
)
def test_the_content_type_comes_from_the_name(tmp_path, name, expected):
    assert guess_content_type(tmp_path / name) == expected


@legacy
def test_a_legacy_instance_has_no_creation_of_artifacts(call_helpers, work_file):
    error, _ = call_helpers(lambda element, ctx: attempt(ctx.upload_artifact, work_file))
    assert "ctx.upload_artifact() needs the CreateArtifact operation" in str(error)
