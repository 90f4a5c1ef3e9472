"""Models on the sandbox, through the real client: versions at both levels, the object store, the corpus's models."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from arkindex import ArkindexClient
from arkindex.exceptions import ErrorResponse

from arkworker.sandbox import CorpusError, Sandbox
from arkworker.sandbox.faults import parse_fault_spec
from arkworker.sandbox.report import format_report

CONTENT_HASH = hashlib.md5(b"same content").hexdigest()
CORPUS: dict[str, Any] = {
    "corpus": {"name": "Models"},
    "models": [
        {"name": "Lines", "versions": [{"tag": "v1", "hash": CONTENT_HASH}, {"tag": "v2", "parent": "v1"}]}
    ],
    "worker_run": {"model_version": {"model": {"name": "Base"}, "configuration": {"epochs": 1}}},
}
UNKNOWN = "00000000-0000-4000-8000-000000000000"
MIB = 1 << 20


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Sandbox]]:
    with Sandbox(CORPUS, api_level="legacy") as legacy, Sandbox(CORPUS, api_level="current") as current:
        yield {"legacy": legacy, "current": current}


@pytest.fixture
def legacy(servers: dict[str, Sandbox]) -> Sandbox:
    servers["legacy"].reset()
    return servers["legacy"]


@pytest.fixture
def current(servers: dict[str, Sandbox]) -> Sandbox:
    servers["current"].reset()
    return servers["current"]


def client_of(sandbox: Sandbox) -> ArkindexClient:
    return ArkindexClient(base_url=sandbox.url, token=sandbox.token)


def model_id(sandbox: Sandbox, name: str = "Lines") -> str:
    (model,) = sandbox.objects("models", name=name)
    return model["id"]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def error_of(call: Any) -> ErrorResponse:
    with pytest.raises(ErrorResponse) as info:
        call()
    return info.value


def details(error: ErrorResponse) -> list[tuple[Any, str]]:
    return [(entry["attr"], entry["detail"]) for entry in error.content["errors"]]


# -- the 0.3.7 generation: s3_put_url, then validation ----------------------------------------------


def test_legacy_create_upload_validate_download(legacy):
    client = client_of(legacy)
    version = client.request(
        "CreateModelVersion", id=model_id(legacy), body={"tag": "v3", "description": "d"}
    )
    assert set(version) == {
        "id", "model_id", "state", "parent", "tag", "description", "configuration",
        "s3_url", "s3_put_url", "hash", "archive_hash", "size", "created",
    }  # fmt: skip
    assert (version["state"], version["configuration"], version["s3_url"]) == ("created", {}, None)
    assert version["s3_put_url"].startswith(legacy.url + "/upload/")

    archive = b"a model archive"
    answer = requests.put(
        version["s3_put_url"], data=archive, headers={"Content-Type": "application/zstd"}, timeout=5
    )
    assert answer.status_code == 200 and answer.headers["ETag"] == f'"{md5(archive)}"'
    assert legacy.uploaded(version["id"]) == archive

    body = {"hash": md5(b"files"), "size": len(archive), "archive_hash": md5(archive)}
    validated = client.request("ValidateModelVersion", id=version["id"], body=body)
    assert (validated["state"], validated["hash"], validated["s3_put_url"]) == (
        "available",
        md5(b"files"),
        None,
    )
    assert requests.get(validated["s3_url"], timeout=5).content == archive
    (row,) = legacy.objects("model_versions", id=version["id"])
    assert row["worker_run_id"] == legacy.worker_run_id
    assert legacy.created()["model_versions"] == [row]
    report = format_report(legacy)
    assert "1 model version" in report and "Model versions" in report and "v3" in report


def test_legacy_validation_checks_the_upload_and_answers_409_for_the_same_content(legacy):
    client = client_of(legacy)
    version = client.request("CreateModelVersion", id=model_id(legacy), body={})

    def validate(**body):
        return lambda: client.request("ValidateModelVersion", id=version["id"], body=body)

    good = {"hash": CONTENT_HASH, "size": 5, "archive_hash": md5(b"bytes")}
    assert details(error_of(validate(**good))) == [
        (None, "The archive of this model version was not uploaded: PUT it to its s3_put_url first.")
    ]
    requests.put(version["s3_put_url"], data=b"bytes", timeout=5)
    assert details(error_of(validate(**{**good, "size": 6}))) == [
        (["size"], "The uploaded archive has 5 bytes, not 6.")
    ]
    assert details(error_of(validate(**{**good, "archive_hash": "0" * 32})))[0][0] == ["archive_hash"]
    assert details(error_of(validate(**{**good, "hash": "nope"})))[0][0] == ["hash"]
    conflict = error_of(validate(**good))
    (v1,) = legacy.objects("model_versions", tag="v1")
    assert conflict.status_code == 409
    assert conflict.content["id"] == v1["id"] and conflict.content["hash"] == CONTENT_HASH
    assert legacy.objects("model_versions", id=version["id"])[0]["state"] == "created"


def test_creation_and_update_refuse_what_arkindex_refuses(legacy):
    client = client_of(legacy)
    lines = model_id(legacy)
    tag_taken = error_of(lambda: client.request("CreateModelVersion", id=lines, body={"tag": "v1"}))
    assert tag_taken.status_code == 400
    assert details(tag_taken) == [(None, "A version for this model with this tag already exists.")]
    assert (
        client.request("CreateModelVersion", id=model_id(legacy, "Base"), body={"tag": "v1"})["tag"] == "v1"
    )
    assert error_of(lambda: client.request("CreateModelVersion", id=UNKNOWN, body={})).status_code == 404
    unknown_parent = error_of(
        lambda: client.request("CreateModelVersion", id=lines, body={"parent": UNKNOWN})
    )
    assert details(unknown_parent)[0][0] == ["parent"]

    version = client.request("CreateModelVersion", id=lines, body={"tag": "v3", "configuration": {"a": 1}})
    updated = client.request("UpdateModelVersion", id=version["id"], body={"description": "new"})
    assert (updated["tag"], updated["description"], updated["configuration"]) == ("v3", "new", {"a": 1})
    retagged = client.request("UpdateModelVersion", id=version["id"], body={"tag": "v3"})  # its own tag
    assert retagged["tag"] == "v3"
    conflict = error_of(lambda: client.request("UpdateModelVersion", id=version["id"], body={"tag": "v2"}))
    assert details(conflict) == [(None, "A version for this model with this tag already exists.")]
    itself = error_of(
        lambda: client.request("UpdateModelVersion", id=version["id"], body={"parent": version["id"]})
    )
    assert details(itself) == [(["parent"], "A model version cannot be its own parent.")]


def test_destroy_removes_the_version_and_its_archive(legacy):
    client = client_of(legacy)
    parent = client.request("CreateModelVersion", id=model_id(legacy), body={})
    child = client.request("CreateModelVersion", id=model_id(legacy), body={"parent": parent["id"]})
    requests.put(parent["s3_put_url"], data=b"archive", timeout=5)
    assert client.request("DestroyModelVersion", id=parent["id"]) is None
    assert legacy.objects("model_versions", id=parent["id"]) == []
    assert legacy.objects("model_versions", id=child["id"])[0]["parent_id"] is None
    with pytest.raises(LookupError, match=f"Nothing was uploaded for model version {parent['id']}"):
        legacy.uploaded(parent["id"])
    assert requests.put(parent["s3_put_url"], data=b"again", timeout=5).status_code == 403  # no longer signed


def test_the_legacy_level_has_neither_retrieval_nor_multipart_uploads(legacy):
    links = set(client_of(legacy).document.links)
    assert "CreateModelVersion" in links and "ValidateModelVersion" in links
    assert not links & {"RetrieveModelVersion", "CreateMultipartUpload", "CompleteMultipartUpload"}


# -- the current generation: the archive's size and hash at creation, multipart uploads -----------------


def start_upload(current: Sandbox, archive: bytes) -> tuple[ArkindexClient, dict[str, Any], dict[str, Any]]:
    client = client_of(current)
    body = {"size": len(archive), "archive_hash": md5(archive)}
    version = client.request("CreateModelVersion", id=model_id(current), body=body)
    target = {"object_type": "model_version", "object_id": version["id"]}
    upload = client.request("CreateMultipartUpload", body={**target, "checksum_algorithm": None})
    return client, version, {**target, "upload_id": upload["upload_id"]}


def put_part(client: ArkindexClient, target: dict[str, Any], number: int, data: bytes) -> dict[str, Any]:
    body = {
        **target,
        "part_number": number,
        "md5_hash": b64md5(data),
        "checksum": None,
        "checksum_algorithm": None,
    }
    url = client.request("CreateMultipartUploadPart", body=body)["url"]
    answer = requests.put(url, data=data, headers={"Content-MD5": b64md5(data)}, timeout=5)
    assert answer.status_code == 200, answer.text
    return {"part_number": number, "etag": answer.headers["ETag"], "checksum": None, "md5_hash": b64md5(data)}


def test_a_multipart_upload_makes_the_version_available(current):
    first, last = b"a" * (5 * MIB), b"the end"
    client, version, target = start_upload(current, first + last)
    assert "hash" not in version and version["s3_put_url"] is None
    assert (version["size"], version["state"]) == (len(first + last), "created")
    parts = [put_part(client, target, 1, first), put_part(client, target, 2, last)]
    completed = client.request("CompleteMultipartUpload", body={**target, "parts": parts})
    assert completed["state"] == "available"
    assert client.request("RetrieveModelVersion", id=version["id"])["state"] == "available"
    assert current.uploaded(version["id"]) == first + last
    assert current.objects("multipart_uploads")[0]["state"] == "completed"
    again = error_of(lambda: client.request("CompleteMultipartUpload", body={**target, "parts": parts}))
    assert details(again) == [(["upload_id"], "This multipart upload is completed.")]


def test_the_current_level_needs_the_archive_s_size_and_hash(current):
    client = client_of(current)
    missing = error_of(lambda: client.request("CreateModelVersion", id=model_id(current), body={"tag": "v3"}))
    assert details(missing) == [(["size"], "This field is required.")]
    body = {"size": 1, "archive_hash": "XYZ"}
    bad = error_of(lambda: client.request("CreateModelVersion", id=model_id(current), body=body))
    assert details(bad)[0][0] == ["archive_hash"]


def test_the_completion_checks_the_parts(current):
    small, last = b"small", b"last"
    client, version, target = start_upload(current, small + last)
    parts = [put_part(client, target, 1, small), put_part(client, target, 2, last)]

    def complete(parts):
        return details(
            error_of(lambda: client.request("CompleteMultipartUpload", body={**target, "parts": parts}))
        )

    assert complete([]) == [(["parts"], "No part has been uploaded yet.")]
    assert complete(parts[::-1])[0][1] == "List the parts in ascending order of part_number, each once."
    assert complete([{**parts[0], "etag": '"' + "0" * 32 + '"'}])[0][0] == ["parts", 0, "etag"]
    assert complete([{**parts[1], "part_number": 3}]) == [
        (["parts", 0, "part_number"], "Part 3 was not uploaded.")
    ]
    too_small = complete(parts)[0]
    assert too_small[0] == ["parts", 0, "part_number"] and "S3's EntityTooSmall" in too_small[1]
    assert "the model version's size is 9" in complete([parts[1]])[0][1]
    assert current.objects("model_versions", id=version["id"])[0]["state"] == "created"


def test_an_aborted_upload_drops_its_parts(current):
    client, _, target = start_upload(current, b"x")
    put_part(client, target, 1, b"x")
    assert client.request("AbortMultipartUpload", body=target) is None
    assert client.request("AbortMultipartUpload", body=target) is None  # aborting twice is harmless
    assert current.objects("multipart_uploads")[0]["state"] == "aborted"
    assert [row["name"] for row in current.objects("stored_objects")] == []
    closed = error_of(
        lambda: client.request(
            "CreateMultipartUploadPart", body={**target, "part_number": 2, "md5_hash": b64md5(b"y")}
        )
    )
    assert details(closed) == [(["upload_id"], "This multipart upload is aborted.")]


# -- the object store ----------------------------------------------------------------------------


def test_the_object_store_answers_like_s3(current):
    client, _, target = start_upload(current, b"data")
    body = {**target, "part_number": 1, "md5_hash": b64md5(b"data")}
    url = client.request("CreateMultipartUploadPart", body=body)["url"]

    def code(answer: requests.Response) -> tuple[int, str]:
        return answer.status_code, answer.text.split("<Code>")[1].split("</Code>")[0]

    token = {"Authorization": f"Token {current.token}"}
    assert code(requests.put(url, data=b"data", headers=token, timeout=5)) == (400, "InvalidArgument")
    assert code(requests.put(current.url + "/upload/nope", data=b"data", timeout=5)) == (403, "AccessDenied")
    assert code(requests.get(url, timeout=5)) == (403, "SignatureDoesNotMatch")
    assert code(requests.put(url, data=b"other", timeout=5)) == (400, "BadDigest")  # signed for b"data"
    wrong_header = {"Content-MD5": b64md5(b"other")}
    assert code(requests.put(url, data=b"data", headers=wrong_header, timeout=5)) == (400, "BadDigest")
    assert code(requests.put(url, data=iter([b"da", b"ta"]), timeout=5)) == (411, "MissingContentLength")
    assert requests.put(url, data=b"data", timeout=5).status_code == 200
    assert current.pending_faults() == []


def test_the_object_store_is_a_fault_target(current):
    client, _, target = start_upload(current, b"data")
    url = client.request(
        "CreateMultipartUploadPart", body={**target, "part_number": 1, "md5_hash": b64md5(b"data")}
    )["url"]
    current.add_fault(parse_fault_spec("upload:error=500"))
    current.reset_connection("upload")
    assert requests.put(url, data=b"data", timeout=5).status_code == 500
    with pytest.raises(requests.ConnectionError):
        requests.put(url, data=b"data", timeout=5)
    assert requests.put(url, data=b"data", timeout=5).status_code == 200
    puts = [record for record in current.requests if record.path.startswith("/upload/")]
    assert [(record.fault, record.status, record.operation_id) for record in puts] == [
        ("error", 500, None),
        ("reset", None, None),
        (None, 200, None),
    ]
    with pytest.raises(ValueError, match="'upload' \\(the object store\\)"):
        current.fail("uplaod")


def test_a_reset_drops_what_was_uploaded(current):
    client, version, target = start_upload(current, b"x")
    part = put_part(client, target, 1, b"x")
    client.request("CompleteMultipartUpload", body={**target, "parts": [part]})
    assert current.uploaded(version["id"]) == b"x"
    current.reset()
    assert current.objects("stored_objects") == [] and current.objects("signed_urls") == []


# -- the corpus's models -------------------------------------------------------------------------


def test_the_corpus_seeds_models_versions_and_the_run_s_model_version(legacy):
    lines, base = model_id(legacy), model_id(legacy, "Base")
    v1, v2 = legacy.objects("model_versions", model_id=lines)
    assert (v1["tag"], v1["state"], v1["hash"], v1["parent_id"]) == ("v1", "available", CONTENT_HASH, None)
    assert (v2["tag"], v2["parent_id"]) == ("v2", v1["id"])
    (run_version,) = legacy.objects("model_versions", model_id=base)
    served = client_of(legacy).request("RetrieveWorkerRun", id=legacy.worker_run_id)["model_version"]
    assert served["id"] == run_version["id"] and served["model"]["id"] == base
    assert run_version["configuration"] == {"epochs": 1} and run_version["state"] == "available"


def test_a_declared_model_with_the_run_s_model_id_is_the_same_model():
    model = "5a4d4f6e-9a43-4f0c-9d4b-3c2b1a0f9e8d"
    corpus = {
        "corpus": {"name": "One model"},
        "models": [{"id": model, "name": "Detector", "versions": [{"tag": "v1"}]}],
        "worker_run": {"model_version": {"model": {"id": model}}},
    }
    sandbox = Sandbox(corpus)
    assert [row["name"] for row in sandbox.objects("models")] == ["Detector"]
    assert len(sandbox.objects("model_versions", model_id=model)) == 2
    (run,) = sandbox.objects("worker_runs")
    assert run["model_version"]["model"] == {"id": model, "name": "Detector"}


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ([{"versions": []}], "models[0]: missing 'name'"),
        (
            [{"name": "M", "versions": [{"tag": "a"}, {"tag": "a"}]}],
            "models[0].versions[1].tag: duplicate tag 'a'",
        ),
        ([{"name": "M", "versions": [{"hash": "abc"}]}], "models[0].versions[0].hash: expected an MD5 hash"),
        (
            [{"name": "M", "versions": [{"parent": "v0"}]}],
            "models[0].versions[0].parent: unknown version 'v0'",
        ),
        (
            [{"name": "M", "versions": [{"state": "ready"}]}],
            "'ready' is not one of created, available, error",
        ),
        (
            [{"name": "M", "size": 3}],
            "models[0]: unknown key 'size' (valid keys: id, name, description, versions)",
        ),
    ],
)
def test_corpus_model_errors_name_the_location(models, message):
    with pytest.raises(CorpusError) as info:
        Sandbox({"corpus": {"name": "Bad"}, "models": models})
    assert message in str(info.value)
