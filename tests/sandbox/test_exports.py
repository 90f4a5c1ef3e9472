"""The sandbox's corpus exports, through the real arkindex-client: states, refusals, the file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from arkindex import ArkindexClient
from arkindex.exceptions import ErrorResponse

from arkworker.sandbox import STORAGE, CorpusError, Sandbox
from arkworker.sandbox.sql_export import EXPORT_VERSION

LINES = "aaaaaaaa-0000-4000-8000-000000000001"
SLOW = "bbbbbbbb-0000-4000-8000-000000000002"
BROKEN = "cccccccc-0000-4000-8000-000000000003"
OLD = "dddddddd-0000-4000-8000-000000000004"
OLD_EXPORT = "dddddddd-1111-4000-8000-000000000004"
FAILED_EXPORT = "dddddddd-2222-4000-8000-000000000004"

CORPUS: dict[str, Any] = {
    "corpus": {"name": "Exports"},
    "types": [{"slug": "folder", "folder": True}, "page", "line"],
    "images": [{"name": "scan", "width": 100, "height": 200}],
    "elements": [
        {
            "name": "Volume",
            "type": "folder",
            "children": [
                {
                    "name": "Page 1",
                    "type": "page",
                    "image": "scan",
                    "transcriptions": [{"text": "first page", "confidence": 0.5}],
                    "children": [
                        {
                            "name": "Line 1",
                            "type": "line",
                            "image": "scan",
                            "polygon": [[0, 0], [9, 0], [9, 9]],
                        }
                    ],
                    "classifications": ["cat"],
                    "metadata": [{"name": "folio", "value": "1r"}],
                },
                {"name": "Page 2", "type": "page", "image": "scan"},
                {"name": "Page 3", "type": "page"},
            ],
        }
    ],
    "datasets": [
        {"id": LINES, "name": "Lines", "sets": {"train": ["Page 1"], "dev": ["Page 2"], "test": []}},
        {"id": SLOW, "name": "Slow", "sets": {"train": ["Page 3"]}, "export": {"polls": 2}},
        {"id": BROKEN, "name": "Broken", "sets": {"train": []}, "export": {"polls": 1, "outcome": "failed"}},
        {
            "id": OLD,
            "name": "Old",
            "sets": {"train": []},
            "exports": [
                {"id": OLD_EXPORT, "state": "done", "created": "2020-01-01T00:00:00Z"},
                {"id": FAILED_EXPORT, "state": "failed"},
            ],
        },
    ],
}


@pytest.fixture(scope="module")
def module_exports() -> Iterator[Sandbox]:
    with Sandbox(CORPUS) as sandbox:
        yield sandbox


@pytest.fixture
def sb(module_exports: Sandbox) -> Sandbox:
    module_exports.reset()
    return module_exports


@pytest.fixture
def client(module_exports: Sandbox) -> ArkindexClient:
    return ArkindexClient(base_url=module_exports.url, token=module_exports.token)


def start(client: ArkindexClient, sb: Sandbox, dataset: str | None) -> dict[str, Any]:
    body = {} if dataset is None else {"dataset_id": dataset}
    return client.request("StartExport", id=sb.corpus_id, body=body)


def states(client: ArkindexClient, sb: Sandbox, dataset: str) -> list[str]:
    """The states of a dataset's exports, most recent first: one listing, so one poll."""
    return [item["state"] for item in client.paginate("ListExports", id=sb.corpus_id, dataset_id=dataset)]


def refusal(exc: ErrorResponse) -> tuple[int, str]:
    return exc.status_code, exc.content["errors"][0]["code"]


def test_an_export_is_created_then_done_at_its_first_listing(sb, client):
    export = start(client, sb, LINES)
    assert export["state"] == "created"
    assert (export["corpus_id"], export["dataset_id"]) == (sb.corpus_id, LINES)
    assert set(export) == {"id", "corpus_id", "dataset_id", "state", "source", "user", "created", "updated"}
    assert states(client, sb, LINES) == ["done"]
    (row,) = sb.objects("corpus_exports", dataset_id=LINES)
    assert row["state"] == "done"


def test_an_export_progresses_one_step_per_listing_as_its_dataset_says(sb, client):
    start(client, sb, SLOW)
    start(client, sb, BROKEN)
    assert [states(client, sb, SLOW) for _ in range(4)] == [["running"], ["running"], ["done"], ["done"]]
    assert [states(client, sb, BROKEN) for _ in range(3)] == [["running"], ["failed"], ["failed"]]


def test_a_running_export_refuses_another_one_of_the_same_dataset(sb, client):
    start(client, sb, SLOW)
    with pytest.raises(ErrorResponse) as refused:
        start(client, sb, SLOW)
    assert refusal(refused.value) == (400, "running_export")
    assert refused.value.content["errors"][0]["detail"] == "An export is already running for this corpus."
    start(client, sb, LINES)  # another dataset is another export
    start(client, sb, None)  # and so is the whole corpus


def test_a_recent_done_export_refuses_a_new_one_an_old_or_failed_one_does_not(sb, client):
    start(client, sb, LINES)
    states(client, sb, LINES)
    with pytest.raises(ErrorResponse) as refused:
        start(client, sb, LINES)
    assert refusal(refused.value) == (400, "existing_export")
    assert states(client, sb, OLD) == ["failed", "done"]  # seeded: the failed one is the most recent
    assert start(client, sb, OLD)["state"] == "created"


def test_listing_filters_by_dataset_and_puts_the_most_recent_first(sb, client):
    start(client, sb, None)
    listed = list(client.paginate("ListExports", id=sb.corpus_id))
    assert [item["dataset_id"] for item in listed] == [None, OLD, OLD]
    assert [item["id"] for item in listed][1:] == [FAILED_EXPORT, OLD_EXPORT]
    assert list(client.paginate("ListExports", id=sb.corpus_id, dataset_id=LINES)) == []


def test_bad_calls_answer_as_arkindex(sb, client):
    unknown = "eeeeeeee-0000-4000-8000-000000000005"
    with pytest.raises(ErrorResponse) as refused:
        start(client, sb, unknown)
    assert refusal(refused.value) == (400, "does_not_exist")
    assert refused.value.content["errors"][0]["attr"] == ["dataset_id"]
    with pytest.raises(ErrorResponse) as refused:
        client.request("StartExport", id=sb.corpus_id, body={"dataset_id": "lines"})
    assert refusal(refused.value) == (400, "invalid")
    with pytest.raises(ErrorResponse) as refused:
        client.request("ListExports", id=unknown)
    assert refused.value.status_code == 404


def location_of(sb: Sandbox, export_id: str) -> str:
    """DownloadExport's answer, not followed: requests would send the token to the storage."""
    response = requests.get(
        f"{sb.url}/api/v1/export/{export_id}/",
        headers={"Authorization": f"Token {sb.token}"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def test_download_redirects_to_a_signed_address_of_the_storage(sb, client):
    export = start(client, sb, LINES)
    with pytest.raises(ErrorResponse) as refused:
        client.request("DownloadExport", id=export["id"])
    assert refusal(refused.value) == (400, "export_not_done")
    states(client, sb, LINES)
    location = location_of(sb, export["id"])
    assert location.startswith(f"{sb.url}/storage/exports/{export['id']}.sqlite?X-Amz-Signature=")
    answer = requests.get(location, timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/vnd.sqlite3"
    assert answer.content.startswith(b"SQLite format 3\x00")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"headers": {"Authorization": "Token x"}}, 400, "InvalidArgument"),
        ({"signature": "0" * 32}, 403, "SignatureDoesNotMatch"),
        ({"signature": None}, 403, "SignatureDoesNotMatch"),
        ({"name": "eeeeeeee-0000-4000-8000-000000000005.sqlite"}, 404, "NoSuchKey"),
        ({"method": "PUT"}, 405, "MethodNotAllowed"),
    ],
)
def test_the_storage_answers_as_s3_does(sb, client, change, status, code):
    export = start(client, sb, LINES)
    states(client, sb, LINES)
    url, _, signature = location_of(sb, export["id"]).partition("?X-Amz-Signature=")
    if "name" in change:
        url = url.rsplit("/", 1)[0] + "/" + change["name"]
    signature = change.get("signature", signature)
    params = {} if signature is None else {"X-Amz-Signature": signature}
    answer = requests.request(
        change.get("method", "GET"), url, params=params, headers=change.get("headers"), timeout=5
    )
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/xml"
    assert f"<Code>{code}</Code>" in answer.text


def export_database(
    sb: Sandbox, client: ArkindexClient, dataset: str | None, tmp_path: Path
) -> sqlite3.Connection:
    export = start(client, sb, dataset)
    list(client.paginate("ListExports", id=sb.corpus_id))  # one poll: the export is done
    path = tmp_path / "export.sqlite"
    path.write_bytes(requests.get(location_of(sb, export["id"]), timeout=5).content)
    return sqlite3.connect(path)


def test_a_dataset_export_holds_its_sets_elements_and_what_they_carry(sb, client, tmp_path):
    db = export_database(sb, client, LINES, tmp_path)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {
        "export_version",
        "image_server",
        "image",
        "worker_version",
        "worker_run",
        "element",
        "element_path",
        "transcription",
        "classification",
        "metadata",
        "dataset",
        "dataset_element",
    }
    assert db.execute("SELECT version FROM export_version").fetchall() == [(EXPORT_VERSION,)]
    assert db.execute("SELECT id, name, sets FROM dataset").fetchall() == [(LINES, "Lines", "train,dev,test")]
    members = db.execute(
        "SELECT set_name, element.name FROM dataset_element JOIN element ON element.id = element_id"
    ).fetchall()
    assert members == [("train", "Page 1"), ("dev", "Page 2")]
    # The elements of its sets and their descendants, not the rest of the corpus.
    assert sorted(name for (name,) in db.execute("SELECT name FROM element")) == [
        "Line 1",
        "Page 1",
        "Page 2",
    ]
    (line,) = db.execute("SELECT type, polygon, image_id IS NOT NULL FROM element WHERE name = 'Line 1'")
    assert line == ("line", "[[0, 0], [9, 0], [9, 9], [0, 0]]", 1)  # closed, as Arkindex stores it
    assert db.execute("SELECT COUNT(*) FROM element_path").fetchone() == (1,)
    assert db.execute("SELECT text, confidence FROM transcription").fetchall() == [("first page", 0.5)]
    assert db.execute("SELECT class_name FROM classification").fetchall() == [("cat",)]
    assert db.execute("SELECT name, value, type FROM metadata").fetchall() == [("folio", "1r", "text")]
    ((image_url, server_url),) = db.execute(
        "SELECT image.url, image_server.url FROM image JOIN image_server ON image_server.id = server_id"
    )
    assert image_url.startswith(f"{server_url}/") and server_url == f"{sb.url}/iiif"


def test_a_corpus_export_holds_every_element_and_dataset(sb, client, tmp_path):
    db = export_database(sb, client, None, tmp_path)
    assert db.execute("SELECT COUNT(*) FROM element").fetchone() == (5,)
    assert [name for (name,) in db.execute("SELECT name FROM dataset")] == ["Lines", "Slow", "Broken", "Old"]


def test_the_storage_takes_faults(sb, client):
    export = start(client, sb, LINES)
    states(client, sb, LINES)
    location = location_of(sb, export["id"])
    sb.truncate(STORAGE, after=100)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(location, timeout=5).content  # noqa: B018
    sb.fail(STORAGE, status=503)
    assert requests.get(location, timeout=5).status_code == 503
    assert requests.get(location, timeout=5).status_code == 200
    assert [record.fault for record in sb.requests if record.path.startswith("/storage/")] == [
        "truncate",
        "error",
        None,
    ]
    with pytest.raises(ValueError, match="the 'storage' target changes no state"):
        sb.malformed(STORAGE, apply=True)


def test_the_new_operations_take_faults(sb, client):
    sb.fail("StartExport", status=403)
    with pytest.raises(ErrorResponse) as refused:
        start(client, sb, LINES)
    assert refused.value.status_code == 403
    assert sb.objects("corpus_exports", dataset_id=LINES) == []
    sb.reset_mid_answer("StartExport")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        start(client, sb, LINES)
    (created,) = sb.objects("corpus_exports", dataset_id=LINES)  # applied, its answer lost
    sb.malformed("DownloadExport", body={"id": created["id"]})
    assert client.request("DownloadExport", id=created["id"]) == {"id": created["id"]}


def test_the_legacy_level_has_no_exports():
    with Sandbox(CORPUS, api_level="legacy") as legacy:
        client = ArkindexClient(base_url=legacy.url, token=legacy.token)
        assert not {"ListExports", "StartExport", "DownloadExport"} & set(client.document.links)
        answer = requests.post(
            f"{legacy.url}/api/v1/corpus/{legacy.corpus_id}/export/",
            headers={"Authorization": f"Token {legacy.token}"},
            json={},
            timeout=5,
        )
        assert answer.status_code == 404


@pytest.mark.parametrize(
    ("dataset", "problem"),
    [
        ({"export": {"polls": -1}}, "datasets[0].export.polls"),
        ({"export": {"outcome": "running"}}, "datasets[0].export.outcome"),
        ({"export": {"after": 2}}, "datasets[0].export"),
        ({"exports": [{"state": "queued"}]}, "datasets[0].exports[0].state"),
        ({"exports": [{"created": "yesterday"}]}, "datasets[0].exports[0].created"),
    ],
)
def test_the_corpus_checks_its_exports(dataset, problem):
    corpus = {"corpus": {"name": "Bad"}, "datasets": [{"name": "D", **dataset}]}
    with pytest.raises(CorpusError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        Sandbox(corpus)
