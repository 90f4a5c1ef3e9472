"""A sandbox that stays up: bounded request bodies, bounded IIIF answers, no body read before auth.

Each abuse is followed by a normal request: the sandbox must still answer.
"""

import io
import socket

import pytest
import requests
from arkindex import ArkindexClient
from PIL import Image

from arkworker.sandbox import DEFAULT_MAX_AREA, DEFAULT_MAX_BODY_SIZE, Sandbox

LIMIT = 4096
CORPUS = {
    "corpus": {"name": "Limits"},
    "images": [
        {"name": "scan", "width": 4000, "height": 3000},
        {"name": "tall", "width": 200, "height": 90000},
    ],
    "elements": [{"name": "Page", "type": "page", "image": "scan"}],
}


@pytest.fixture(scope="module")
def small():
    """A sandbox with small limits, to abuse them cheaply."""
    with Sandbox(CORPUS, max_body_size=LIMIT, iiif_max_area=1_000_000) as sandbox:
        yield sandbox


@pytest.fixture
def sb(small):
    small.reset()
    return small


@pytest.fixture
def page(sb):
    (row,) = sb.objects("elements", name="Page")
    return row["id"]


def iiif(sb, tail, name="scan"):
    (row,) = sb.objects("images", name=name)
    return requests.get(f"{sb.url}/iiif/{row['id']}/{tail}", timeout=30)


def assert_still_serving(sb, page):
    client = ArkindexClient(base_url=sb.url, token=sb.token)
    assert client.single_request("RetrieveElement", id=page)["name"] == "Page"
    assert iiif(sb, "full/100,/0/default.png").status_code == 200


def post_headers(sb, page, length, *, token=True):
    """The head of a transcription POST announcing ``length`` bytes of body."""
    host = sb.url.removeprefix("http://")
    auth = f"Authorization: Token {sb.token}\r\n" if token else ""
    return (
        f"POST /api/v1/element/{page}/transcription/ HTTP/1.1\r\nHost: {host}\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def answer_to_head_only(sb, head):
    """The status line answered to a request that announces a body and never sends it.

    A server that read the body before answering would never answer: the socket timeout
    only keeps a failing test from hanging.
    """
    with socket.create_connection(("127.0.0.1", int(sb.url.rsplit(":", 1)[1])), timeout=30) as conn:
        conn.sendall(head)
        received = b""
        while b"\r\n" not in received and (data := conn.recv(65536)):
            received += data
    return received.split(b"\r\n", 1)[0].decode()


# -- request bodies ------------------------------------------------------------------------------


def test_the_defaults_are_generous():
    assert DEFAULT_MAX_BODY_SIZE == 32 * 1024 * 1024
    assert DEFAULT_MAX_AREA == 100_000_000


def test_a_body_over_the_limit_is_a_413(sb, page):
    url = f"{sb.url}/api/v1/element/{page}/transcription/"
    headers = {"Authorization": f"Token {sb.token}"}
    answer = requests.post(url, json={"text": "x" * LIMIT}, headers=headers, timeout=30)
    assert answer.status_code == 413
    assert answer.json()["errors"][0]["detail"] == (
        f"The request body ({LIMIT + 12} bytes) is larger than the sandbox accepts ({LIMIT} bytes); "
        "Sandbox(max_body_size=...) raises the limit"
    )
    assert sb.objects("transcriptions") == []
    assert (sb.requests[-1].status, sb.requests[-1].body) == (413, None)
    assert requests.post(url, json={"text": "fits"}, headers=headers, timeout=30).status_code == 201
    assert_still_serving(sb, page)


def test_a_chunked_body_over_the_limit_is_a_413(sb, page):
    """Without a Content-Length, the sandbox reads one byte past the limit, and no further."""
    url = f"{sb.url}/api/v1/element/{page}/transcription/"
    headers = {"Authorization": f"Token {sb.token}", "Content-Type": "application/json"}

    def chunks(text):
        yield b'{"text": "'
        yield text.encode()
        yield b'"}'

    answer = requests.post(url, data=chunks("x" * 3 * LIMIT), headers=headers, timeout=30)
    assert answer.status_code == 413 and "larger than the sandbox accepts" in answer.text
    assert sb.objects("transcriptions") == []
    assert requests.post(url, data=chunks("chunked"), headers=headers, timeout=30).status_code == 201
    assert [row["text"] for row in sb.objects("transcriptions")] == ["chunked"]
    assert_still_serving(sb, page)


def test_an_announced_huge_body_is_refused_before_it_is_sent(sb, page):
    # The reason phrase is Python's, which changed in 3.13 ("Content Too Large").
    assert answer_to_head_only(sb, post_headers(sb, page, 300_000_000)).startswith("HTTP/1.1 413 ")
    assert_still_serving(sb, page)


def test_authentication_comes_before_the_body(sb, page):
    head = post_headers(sb, page, 300_000_000, token=False)
    assert answer_to_head_only(sb, head) == "HTTP/1.1 401 Unauthorized"
    wrong = post_headers(sb, page, 300_000_000).replace(sb.token.encode(), b"0" * len(sb.token))
    assert answer_to_head_only(sb, wrong) == "HTTP/1.1 401 Unauthorized"
    assert [(r.status, r.body) for r in sb.requests] == [(401, None), (401, None)]
    assert_still_serving(sb, page)


def test_limits_are_checked(tmp_path):
    with pytest.raises(ValueError, match="max_body_size must be a positive number of bytes"):
        Sandbox(CORPUS, db_path=tmp_path / "a.sqlite", max_body_size=0)
    with pytest.raises(ValueError, match="iiif_max_area must be a positive number of pixels"):
        Sandbox(CORPUS, db_path=tmp_path / "b.sqlite", iiif_max_area=True)


# -- IIIF answers --------------------------------------------------------------------------------


def test_info_json_advertises_the_max_area(sb):
    info = iiif(sb, "info.json").json()
    assert info["profile"][1]["maxArea"] == 1_000_000
    assert "maxWidth" not in info and "maxWidth" not in info["profile"][1]


@pytest.mark.parametrize(
    "tail",
    ["full/99999,99999/0/default.jpg", "full/full/0/default.png", "full/pct:1000/0/default.png"],
)
def test_an_answer_over_the_max_area_is_a_400(sb, page, tail):
    answer = iiif(sb, tail)
    assert answer.status_code == 400
    assert "exceeds the server's maxArea (1000000 pixels): ask for a smaller size, or max" in answer.text
    assert_still_serving(sb, page)


def test_max_fits_the_area(sb):
    image = Image.open(io.BytesIO(iiif(sb, "full/max/0/default.png").content))
    assert image.size == (1154, 866) and image.width * image.height <= 1_000_000
    tall = Image.open(io.BytesIO(iiif(sb, "full/max/90/default.png", name="tall").content))
    assert tall.size == (21213, 47)  # rotated: 47 x 21213 before, within the area


def test_numbers_that_mean_nothing_for_an_image_are_a_400(sb, page):
    for tail in ("full/1234567890,/0/default.png", "0,0,99999999999,10/max/0/default.png"):
        assert iiif(sb, tail).status_code == 400
    assert_still_serving(sb, page)


def test_a_blank_page_is_drawn_at_the_size_asked_for(sb):
    image = Image.open(io.BytesIO(iiif(sb, "0,0,10,10/full/0/default.png", name="tall").content))
    assert image.size == (10, 10) and image.getcolors() == [(100, (236, 232, 222))]
