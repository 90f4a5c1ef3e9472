"""CreateTranscription and ListTranscriptions."""

import pytest
from arkindex.exceptions import ArkindexClientError, ArkindexValidationError

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def test_create_transcription(sb, client, named):
    line = named("Line 1", parent="Page 2")
    body = {
        "text": "Hello",
        "worker_run_id": sb.worker_run_id,
        "confidence": 0.75,
        "orientation": "vertical-rl",
    }
    created = client.request("CreateTranscription", id=line, body=body)
    assert sb.requests[-1].status == 201
    (version,) = sb.objects("worker_versions")
    assert created == {
        "id": created["id"],
        "text": "Hello",
        "confidence": 0.75,
        "orientation": "vertical-rl",
        "element": {"id": line, "name": "Line 1", "type": "text_line"},
        "worker_version_id": version["id"],
        "worker_run": {"id": sb.worker_run_id, "summary": "Worker Demo @ 1.0.0"},
        "created": created["created"],
    }
    (row,) = sb.objects("transcriptions", id=created["id"])
    assert (row["element_id"], row["worker_run_id"], row["worker_version_id"]) == (
        line,
        sb.worker_run_id,
        version["id"],
    )
    assert sb.created() == {"transcriptions": [row]}


def test_orientation_defaults_to_horizontal_lr(sb, client, named):
    created = client.request("CreateTranscription", id=named("Page 1"), body={"text": "Hi", "confidence": 1})
    assert created["orientation"] == "horizontal-lr"
    assert created["confidence"] == 1.0 and created["worker_run"] is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, [(["text"], "required")]),
        ({"text": "  "}, [(["text"], "blank")]),
        ({"text": 3}, [(["text"], "invalid")]),
        ({"text": "a", "confidence": 1.5}, [(["confidence"], "max_value")]),
        ({"text": "a", "confidence": "high"}, [(["confidence"], "invalid")]),
        ({"text": "a", "orientation": "diagonal"}, [(["orientation"], "invalid_choice")]),
        ({"text": "a", "worker_run_id": "abc"}, [(["worker_run_id"], "invalid")]),
        ({"text": "a", "worker_run_id": UNKNOWN}, [(["worker_run_id"], "does_not_exist")]),
        (
            {"text": "", "confidence": -1, "orientation": None},
            [(["text"], "blank"), (["confidence"], "min_value"), (["orientation"], "null")],
        ),
    ],
)
def test_invalid_transcriptions_are_400(sb, client, named, body, expected):
    with pytest.raises(ArkindexValidationError) as info:
        client.request("CreateTranscription", id=named("Page 1"), body=body)
    assert [(error["attr"], error["code"]) for error in info.value.content["errors"]] == expected
    assert sb.created() == {}


def test_transcription_on_an_unknown_element_is_404(client):
    with pytest.raises(ArkindexClientError) as info:
        client.request("CreateTranscription", id=UNKNOWN, body={"text": "a"})
    assert info.value.status_code == 404


def texts(results):
    return [(item["element"]["name"], item["text"]) for item in results]


def test_list_transcriptions_of_an_element(client, named):
    (item,) = client.paginate("ListTranscriptions", id=named("Page 1"))
    assert item["text"] == "Dear Sir, I received your letter of the 3rd."
    assert item["element"] == {"id": named("Page 1"), "name": "Page 1", "type": "page"}
    assert (item["worker_run"], item["worker_version_id"], item["confidence"]) == (None, None, None)


def test_list_transcriptions_recursive_and_by_type(client, named):
    page = named("Page 1")
    assert texts(client.paginate("ListTranscriptions", id=page, recursive=True)) == [
        ("Page 1", "Dear Sir, I received your letter of the 3rd."),
        ("Line 1", "Dear Sir,"),
        ("Line 2", "I received your letter of the 3rd."),
    ]
    lines = client.paginate(
        "ListTranscriptions", id=named("Volume 1"), recursive=True, element_type="text_line"
    )
    assert texts(lines) == [("Line 1", "Dear Sir,"), ("Line 2", "I received your letter of the 3rd.")]


def test_list_transcriptions_by_worker(sb, client, named):
    page = named("Page 1")
    client.request("CreateTranscription", id=page, body={"text": "ML", "worker_run_id": sb.worker_run_id})
    (version,) = sb.objects("worker_versions")
    by_run = client.paginate("ListTranscriptions", id=page, worker_run=sb.worker_run_id)
    assert texts(by_run) == [("Page 1", "ML")]
    by_version = client.paginate("ListTranscriptions", id=page, worker_version=version["id"])
    assert texts(by_version) == [("Page 1", "ML")]
    manual = client.paginate("ListTranscriptions", id=page, worker_run=False)
    assert texts(manual) == [("Page 1", "Dear Sir, I received your letter of the 3rd.")]
