"""What every operation shares: auth, errors, pagination, the request log and fault injection."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from arkindex import ArkindexClient
from arkindex.exceptions import (
    ArkindexClientError,
    ArkindexServerError,
    ArkindexValidationError,
    ErrorResponse,
)

from arkworker.sandbox import Sandbox
from arkworker.sandbox.handlers import HANDLERS

UNKNOWN = "00000000-0000-4000-8000-000000000000"


# -- authentication --------------------------------------------------------------------------


def test_no_token_is_401(sb):
    client = ArkindexClient(base_url=sb.url)
    with pytest.raises(ArkindexClientError) as info:
        client.single_request("RetrieveCorpus", id=sb.corpus_id)
    assert info.value.status_code == 401
    assert info.value.content["errors"][0]["code"] == "not_authenticated"


def test_wrong_token_is_401(sb):
    client = ArkindexClient(base_url=sb.url, token="not-the-token")
    with pytest.raises(ArkindexClientError) as info:
        client.single_request("RetrieveCorpus", id=sb.corpus_id)
    assert info.value.status_code == 401
    assert info.value.content["errors"][0]["detail"] == "Invalid token."


def test_unknown_scheme_is_401(sb):
    headers = {"Authorization": f"Bearer {sb.token}"}
    response = requests.get(f"{sb.url}/api/v1/corpus/{sb.corpus_id}/", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_fixed_token(tmp_path):
    with Sandbox(token="secret-token", db_path=tmp_path / "state.sqlite") as sandbox:
        assert sandbox.token == "secret-token"
        client = ArkindexClient(base_url=sandbox.url, token="secret-token")
        assert client.request("RetrieveCorpus", id=sandbox.corpus_id)["name"] == "Demo corpus"


# -- uniform errors ----------------------------------------------------------------------------


def test_unimplemented_operation_is_a_loud_501(sb, client, named, monkeypatch):
    monkeypatch.delitem(HANDLERS, "UpdateModelVersion")  # as if the sandbox had no handler for it
    with pytest.raises(ArkindexServerError) as info:
        client.single_request("UpdateModelVersion", id=UNKNOWN, body={"tag": "v2"})
    assert info.value.status_code == 501
    (error,) = info.value.content["errors"]
    assert error["detail"] == "The arkworker sandbox does not implement UpdateModelVersion yet"
    assert sb.requests[-1].status == 501


def test_unknown_id_is_404(client):
    with pytest.raises(ArkindexClientError) as info:
        client.request("RetrieveElement", id=UNKNOWN)
    assert info.value.status_code == 404
    assert info.value.content["errors"][0]["detail"] == "No Element matches the given query."


def test_id_that_is_not_a_uuid_is_404(client):
    with pytest.raises(ArkindexClientError) as info:
        client.request("RetrieveElement", id="not-a-uuid")
    assert info.value.status_code == 404


def test_wrong_method_is_405(sb, named):
    headers = {"Authorization": f"Token {sb.token}"}
    response = requests.delete(f"{sb.url}/api/v1/element/{named('Page 1')}/", headers=headers, timeout=5)
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_unknown_path_is_404(sb):
    headers = {"Authorization": f"Token {sb.token}"}
    response = requests.get(f"{sb.url}/api/v1/nothing/here/", headers=headers, timeout=5)
    assert response.status_code == 404
    assert response.json()["type"] == "client_error"
    assert sb.requests[-1].operation_id is None


def test_invalid_json_body_is_400(sb, named):
    headers = {"Authorization": f"Token {sb.token}", "Content-Type": "application/json"}
    url = f"{sb.url}/api/v1/element/{named('Page 1')}/transcription/"
    response = requests.post(url, data="{not json", headers=headers, timeout=5)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"


def test_body_that_is_not_an_object_is_400(client, named):
    with pytest.raises(ArkindexValidationError) as info:
        client.request("CreateTranscription", id=named("Page 1"), body=["text"])
    assert "Expected a dictionary" in info.value.content["errors"][0]["detail"]


def test_bad_query_parameters_are_400_with_one_entry_each(client, named):
    with pytest.raises(ArkindexValidationError) as info:
        client.request("ListElementChildren", id=named("Volume 1"), recursive="maybe", worker_run="abc")
    assert [error["attr"] for error in info.value.content["errors"]] == [["recursive"], ["worker_run"]]


# -- pagination --------------------------------------------------------------------------------


def split(url):
    """An absolute URL as (URL without query, parsed query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


@pytest.fixture(scope="module")
def small_pages(tmp_path_factory):
    """A sandbox with 7 pages under one folder and a default page size of 3."""
    corpus = {
        "corpus": {"name": "Paginated"},
        "elements": [
            {
                "name": "Folder",
                "type": "folder",
                "children": [{"name": f"P{n}", "type": "page"} for n in range(7)],
            }
        ],
    }
    with Sandbox(corpus, page_size=3, db_path=tmp_path_factory.mktemp("pages") / "state.sqlite") as sandbox:
        yield sandbox, ArkindexClient(base_url=sandbox.url, token=sandbox.token)


def test_paginate_reads_every_page(small_pages):
    sandbox, client = small_pages
    (folder,) = sandbox.objects("elements", name="Folder")
    sandbox.clear_requests()
    pages = client.paginate("ListElementChildren", id=folder["id"])
    assert len(pages) == 7
    assert [item["name"] for item in pages] == [f"P{n}" for n in range(7)]
    assert [record.query.get("page") for record in sandbox.requests] == [None, "2", "3"]


def test_page_size_parameter_and_links(small_pages):
    sandbox, client = small_pages
    (folder,) = sandbox.objects("elements", name="Folder")
    page = client.request("ListElementChildren", id=folder["id"], page_size=2, page=2, type="page")
    assert page["count"] == 7 and page["number"] == 2
    assert [item["name"] for item in page["results"]] == ["P2", "P3"]
    base = f"{sandbox.url}/api/v1/elements/{folder['id']}/children/"
    assert split(page["next"]) == (base, {"page_size": ["2"], "type": ["page"], "page": ["3"]})
    assert split(page["previous"]) == (base, {"page_size": ["2"], "type": ["page"]})
    last = client.request("ListElementChildren", id=folder["id"], page_size=2, page=4)
    assert last["next"] is None and [item["name"] for item in last["results"]] == ["P6"]


def test_page_beyond_the_last_is_404(small_pages):
    sandbox, client = small_pages
    (folder,) = sandbox.objects("elements", name="Folder")
    for page in (4, 0):
        with pytest.raises(ArkindexClientError) as info:
            client.request("ListElementChildren", id=folder["id"], page=page)
        assert info.value.status_code == 404
        assert info.value.content["errors"][0]["detail"] == "Invalid page."


def test_empty_listing_has_one_empty_page(small_pages):
    sandbox, client = small_pages
    (page,) = sandbox.objects("elements", name="P0")
    assert client.request("ListElementChildren", id=page["id"]) == {
        "count": 0,
        "number": 1,
        "previous": None,
        "next": None,
        "results": [],
    }
    assert list(client.paginate("ListElementChildren", id=page["id"])) == []


@pytest.mark.parametrize("size", [0, 501])
def test_page_size_out_of_range_is_400(small_pages, size):
    sandbox, client = small_pages
    with pytest.raises(ArkindexValidationError) as info:
        client.request("ListElementChildren", id=sandbox.process_element_ids()[0], page_size=size)
    assert info.value.content["errors"][0]["attr"] == ["page_size"]


def test_sandbox_page_size_is_checked():
    with pytest.raises(ValueError, match="page_size must be between 1 and 500"):
        Sandbox(page_size=0)


# -- request log -------------------------------------------------------------------------------


def test_requests_are_recorded(sb, client, named):
    page = named("Page 1")
    client.request("ListElementChildren", id=page, with_zone=False)
    client.request("CreateTranscription", id=page, body={"text": "Hi"})
    listing, creation = sb.requests
    assert (listing.method, listing.path, listing.operation_id) == (
        "GET",
        f"/api/v1/elements/{page}/children/",
        "ListElementChildren",
    )
    assert listing.query == {"with_zone": "False"} and listing.body is None and listing.status == 200
    assert (creation.operation_id, creation.body, creation.status) == (
        "CreateTranscription",
        {"text": "Hi"},
        201,
    )
    sb.clear_requests()
    assert sb.requests == []


# -- fault injection ---------------------------------------------------------------------------


def test_fault_burst_then_success(sb, client, named):
    page = named("Page 1")
    sb.fail("RetrieveElement", status=502, times=2)
    for _ in range(2):
        with pytest.raises(ArkindexServerError) as info:
            client.single_request("RetrieveElement", id=page)
        assert info.value.status_code == 502
        assert "sandbox.fail('RetrieveElement', status=502)" in info.value.content["errors"][0]["detail"]
    assert client.single_request("RetrieveElement", id=page)["name"] == "Page 1"
    assert [record.status for record in sb.requests] == [502, 502, 200]


def test_fault_until_cleared(sb, client, named):
    sb.fail("RetrieveElement", status=500, times=None)
    for _ in range(3):
        with pytest.raises(ErrorResponse):
            client.single_request("RetrieveElement", id=named("Page 1"))
    sb.clear_faults()
    assert client.single_request("RetrieveElement", id=named("Page 1"))["name"] == "Page 1"


def test_faults_queue_in_order(sb, client, named):
    sb.fail("RetrieveElement", status=503)
    sb.fail("RetrieveElement", status=429)
    statuses = []
    for _ in range(2):
        with pytest.raises(ErrorResponse) as info:
            client.single_request("RetrieveElement", id=named("Page 1"))
        statuses.append(type(info.value))
    assert statuses == [ArkindexServerError, ArkindexClientError]


def test_fault_with_a_text_body_and_a_delay(sb, client, named):
    sb.fail("RetrieveElement", status=502, body="Bad Gateway", delay=0.05)
    start = time.monotonic()
    with pytest.raises(ErrorResponse) as info:
        client.single_request("RetrieveElement", id=named("Page 1"))
    assert time.monotonic() - start >= 0.05
    assert type(info.value) is ErrorResponse and info.value.content == "Bad Gateway"


def test_fault_with_a_json_body_on_an_unimplemented_operation(sb, client):
    sb.fail("RetrieveDataset", status=409, body={"detail": "custom"})
    with pytest.raises(ErrorResponse) as info:
        client.single_request("RetrieveDataset", id=UNKNOWN)
    assert info.value.status_code == 409 and info.value.content == {"detail": "custom"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operation_id": "RetrieveElemnt"}, "did you mean RetrieveElement"),
        ({"operation_id": "RetrieveElement", "status": 200}, "HTTP error status"),
        ({"operation_id": "RetrieveElement", "times": 0}, "times must be a positive integer"),
        ({"operation_id": "RetrieveElement", "delay": -1}, "delay must be zero or more"),
    ],
)
def test_fault_arguments_are_checked(sb, kwargs, message):
    with pytest.raises((ValueError, LookupError), match=message):
        sb.fail(**kwargs)


def test_reset_clears_faults_and_requests(sb, client, named):
    sb.fail("RetrieveElement", times=None)
    client.request("RetrieveCorpus", id=sb.corpus_id)
    sb.reset()
    assert sb.requests == []
    assert client.single_request("RetrieveElement", id=named("Page 1"))["name"] == "Page 1"


# -- robustness -----------------------------------------------------------------------------------


def test_a_crashing_handler_is_a_500_that_names_the_operation(sb, client, monkeypatch):
    def crash(call):
        raise RuntimeError("boom")

    monkeypatch.setitem(HANDLERS, "RetrieveDataset", crash)
    with pytest.raises(ArkindexServerError) as info:
        client.single_request("RetrieveDataset", id=UNKNOWN)
    assert info.value.status_code == 500
    assert (
        info.value.content["errors"][0]["detail"]
        == "The sandbox failed on RetrieveDataset: RuntimeError('boom')"
    )


def test_a_missing_trailing_slash_redirects(sb, named):
    headers = {"Authorization": f"Token {sb.token}"}
    response = requests.get(f"{sb.url}/api/v1/element/{named('Page 1')}", headers=headers, timeout=5)
    assert [r.status_code for r in response.history] == [308]
    assert response.status_code == 200 and response.json()["name"] == "Page 1"
