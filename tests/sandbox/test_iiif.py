"""The sandbox's IIIF Image API 2.1 server, and corpus images given by a local path."""

import io

import pytest
import requests
import yaml
from PIL import Image

from arkworker.sandbox import Sandbox
from arkworker.sandbox.corpus import CorpusError, load_corpus

WIDTH, HEIGHT = 120, 80


def checkered():
    """Four coloured quadrants: red, green / blue, white."""
    image = Image.new("RGB", (WIDTH, HEIGHT))
    for box, colour in (
        ((0, 0, 60, 40), (255, 0, 0)),
        ((60, 0, 120, 40), (0, 255, 0)),
        ((0, 40, 60, 80), (0, 0, 255)),
        ((60, 40, 120, 80), (255, 255, 255)),
    ):
        image.paste(colour, box)
    return image


@pytest.fixture
def sandbox(tmp_path):
    checkered().save(tmp_path / "scan.png")
    corpus = {
        "corpus": {"name": "IIIF"},
        "images": [
            {"name": "scan", "path": "scan.png"},
            {"name": "limited", "path": "scan.png", "max_width": 50, "max_height": 40},
            {"name": "remote", "width": 10, "height": 10, "url": "https://iiif.example.com/iiif/2/remote"},
        ],
        "elements": [{"name": "Page", "type": "page", "image": "scan"}],
    }
    path = tmp_path / "corpus.yml"
    path.write_text(yaml.safe_dump(corpus))
    with Sandbox(path) as sandbox:
        yield sandbox


def base(sandbox, name="scan"):
    (row,) = sandbox.objects("images", name=name)
    return f"{sandbox.url}/iiif/{row['id']}"


def get(sandbox, tail, name="scan"):
    return requests.get(f"{base(sandbox, name)}/{tail}", timeout=10)


def pixels(response):
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def test_local_images_are_served_by_the_sandbox(sandbox, tmp_path):
    (row,) = sandbox.objects("images", name="scan")
    assert (row["width"], row["height"]) == (WIDTH, HEIGHT)
    assert row["path"] == str(tmp_path / "scan.png")
    (element,) = sandbox.objects("elements", name="Page")
    assert element["polygon"] == [[0, 0], [0, HEIGHT], [WIDTH, HEIGHT], [WIDTH, 0], [0, 0]]


def test_info_json(sandbox):
    info = get(sandbox, "info.json").json()
    assert info["@id"] == base(sandbox)
    assert (info["width"], info["height"]) == (WIDTH, HEIGHT)
    assert info["protocol"] == "http://iiif.io/api/image"
    assert info["profile"][0] == "http://iiif.io/api/image/2/level2.json"
    assert "maxWidth" not in info
    limited = get(sandbox, "info.json", "limited").json()
    assert (limited["maxWidth"], limited["maxHeight"]) == (50, 40)
    assert limited["tiles"] == [{"width": 40, "height": 40, "scaleFactors": [1]}]
    redirect = requests.get(base(sandbox), allow_redirects=False, timeout=10)
    assert redirect.status_code == 303 and redirect.headers["Location"].endswith("/info.json")


@pytest.mark.parametrize(
    ("region", "size", "colour"),
    [
        ("full", (120, 80), (255, 0, 0)),
        ("60,0,60,40", (60, 40), (0, 255, 0)),
        ("pct:0,50,50,50", (60, 40), (0, 0, 255)),
        ("square", (80, 80), (255, 0, 0)),
        ("100,60,500,500", (20, 20), (255, 255, 255)),  # clipped to the image
    ],
)
def test_regions(sandbox, region, size, colour):
    image = pixels(get(sandbox, f"{region}/full/0/default.png"))
    assert image.size == size
    assert image.getpixel((0, 0)) == colour


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("full", (120, 80)),
        ("max", (120, 80)),
        ("60,", (60, 40)),
        (",20", (30, 20)),
        ("pct:50", (60, 40)),
        ("30,30", (30, 30)),
        ("!30,30", (30, 20)),
        ("240,", (240, 160)),
    ],
)
def test_sizes(sandbox, size, expected):
    assert pixels(get(sandbox, f"full/{size}/0/default.png")).size == expected


def test_size_limits_are_enforced_except_for_max(sandbox):
    assert pixels(get(sandbox, "full/max/0/default.png", "limited")).size == (50, 33)
    refused = get(sandbox, "full/full/0/default.png", "limited")
    assert refused.status_code == 400
    assert "exceeds the server's limits" in refused.text
    assert pixels(get(sandbox, "0,0,40,40/full/0/default.png", "limited")).size == (40, 40)


@pytest.mark.parametrize(
    ("rotation", "size", "top_left"),
    [
        ("0", (120, 80), (255, 0, 0)),
        ("90", (80, 120), (0, 0, 255)),
        ("180", (120, 80), (255, 255, 255)),
        ("270", (80, 120), (0, 255, 0)),
        ("!0", (120, 80), (0, 255, 0)),
        ("!90", (80, 120), (255, 255, 255)),
        ("!180", (120, 80), (0, 0, 255)),
        ("!270", (80, 120), (255, 0, 0)),
        ("90.0", (80, 120), (0, 0, 255)),
        ("360", (120, 80), (255, 0, 0)),
    ],
)
def test_rotation_and_mirroring(sandbox, rotation, size, top_left):
    image = pixels(get(sandbox, f"full/full/{rotation}/default.png"))
    assert image.size == size
    assert image.getpixel((0, 0)) == top_left


def test_qualities_and_formats(sandbox):
    assert pixels(get(sandbox, "full/full/0/gray.png")).mode == "L"
    assert pixels(get(sandbox, "full/full/0/color.png")).mode == "RGB"
    assert pixels(get(sandbox, "full/full/0/bitonal.png")).mode == "1"
    jpeg = get(sandbox, "full/full/0/default.jpg")
    assert jpeg.headers["Content-Type"] == "image/jpeg"
    assert pixels(jpeg).format == "JPEG"
    assert get(sandbox, "full/full/0/default.png").headers["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    ("tail", "status", "message"),
    [
        ("nowhere/full/0/default.jpg", 400, "Invalid region"),
        ("500,500,10,10/full/0/default.jpg", 400, "outside the image"),
        ("full/0,/0/default.jpg", 400, "empty image"),
        ("full/!30,/0/default.jpg", 400, "needs both"),
        ("full/big/0/default.jpg", 400, "Invalid size"),
        ("full/full/45/default.jpg", 400, "Invalid rotation"),
        ("full/full/450/default.jpg", 400, "Invalid rotation"),
        ("full/full/-90/default.jpg", 400, "Invalid rotation"),
        ("full/full/!/default.jpg", 400, "Invalid rotation"),
        ("-1,0,10,10/full/0/default.jpg", 400, "Invalid region"),
        ("pct:10,10,0,10/full/0/default.jpg", 400, "empty or outside"),
        ("pct:100,0,10,10/full/0/default.jpg", 400, "empty or outside"),
        ("1.5,0,10,10/full/0/default.jpg", 400, "Invalid region"),
        ("full/,/0/default.jpg", 400, "give a width (w,), a height (,h) or both"),
        ("full/pct:0/0/default.jpg", 400, "empty image"),
        ("full/10,20,30/0/default.jpg", 400, "Invalid size"),
        ("full/full/0/sepia.jpg", 400, "Invalid quality"),
        ("full/full/0/default.webp", 400, "Unsupported format"),
        ("full/full/default.jpg", 400, "Expected /iiif/"),
    ],
)
def test_bad_requests(sandbox, tail, status, message):
    response = get(sandbox, tail)
    assert response.status_code == status
    assert message in response.text


def test_unknown_and_remote_images_are_not_found(sandbox):
    assert requests.get(f"{sandbox.url}/iiif/not-a-uuid/info.json", timeout=10).status_code == 404
    missing = requests.get(f"{sandbox.url}/iiif/{'0' * 8}-0000-0000-0000-{'0' * 12}/info.json", timeout=10)
    assert missing.status_code == 404
    remote = get(sandbox, "info.json", "remote")
    assert remote.status_code == 404 and "is served by https://iiif.example.com" in remote.text


def test_scans_of_any_depth_and_colour_space(tmp_path):
    deep = Image.new("I;16", (20, 10))
    deep.paste(65535, (0, 0, 10, 10))  # left half white, right half black, on 16 bits
    deep.save(tmp_path / "deep.png")
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")  # red in print colours
    images = [{"name": name, "path": name} for name in ("deep.png", "cmyk.jpg")]
    (tmp_path / "corpus.yml").write_text(yaml.safe_dump({"corpus": {"name": "Depths"}, "images": images}))
    with Sandbox(tmp_path / "corpus.yml") as sandbox:
        for extension in ("png", "jpg"):
            image = pixels(get(sandbox, f"full/full/0/default.{extension}", "deep.png"))
            assert (image.mode, image.getpixel((0, 0)), image.getpixel((19, 0))) == ("L", 255, 0)
            red = pixels(get(sandbox, f"full/full/0/color.{extension}", "cmyk.jpg")).getpixel((0, 0))
            assert red[0] > 200 and red[1] < 50 and red[2] < 50


def test_images_without_a_file_are_blank_pages(tmp_path):
    corpus = {"corpus": {"name": "Sizes"}, "images": [{"name": "scan", "width": 30, "height": 20}]}
    with Sandbox(corpus) as sandbox:
        image = pixels(get(sandbox, "full/full/0/default.png"))
        assert image.size == (30, 20)
        assert image.getcolors() == [(600, (236, 232, 222))]


def test_faults(sandbox):
    sandbox.fail_iiif(503, times=2)
    assert [get(sandbox, "info.json").status_code for _ in range(3)] == [503, 503, 200]
    sandbox.fail_iiif(200, body=b"garbage")
    assert get(sandbox, "full/full/0/default.jpg").content == b"garbage"
    sandbox.fail_iiif(404, times=None)
    assert get(sandbox, "info.json").status_code == 404
    sandbox.clear_faults()
    assert get(sandbox, "info.json").status_code == 200
    with pytest.raises(ValueError, match="give the body"):
        sandbox.fail_iiif(200)
    sandbox.fail_iiif(200, delay=0.01)  # a slow server: the normal answer, late
    assert get(sandbox, "info.json").json()["width"] == WIDTH
    with pytest.raises(ValueError, match="HTTP error status"):
        sandbox.fail_iiif(302)
    records = [r for r in sandbox.requests if r.path.startswith("/iiif/")]
    assert [r.status for r in records[:3]] == [503, 503, 200]


def test_element_zones_point_at_the_sandbox(sandbox):
    from arkindex import ArkindexClient

    client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
    (row,) = sandbox.objects("elements", name="Page")
    zone = client.request("RetrieveElement", id=row["id"])["zone"]
    assert zone["image"]["url"] == base(sandbox)
    assert zone["url"] == f"{base(sandbox)}/0,0,{WIDTH},{HEIGHT}/full/0/default.jpg"


# -- corpus files ------------------------------------------------------------------------------


def test_image_paths_are_relative_to_the_corpus_file(tmp_path):
    (tmp_path / "scans").mkdir()
    checkered().save(tmp_path / "scans" / "a.jpg")
    corpus = tmp_path / "corpus.yml"
    corpus.write_text("corpus: {name: C}\nimages: [{name: a, path: scans/a.jpg, width: 10, height: 5}]\n")
    (image,) = load_corpus(corpus).images
    assert image["path"] == str(tmp_path / "scans" / "a.jpg")
    assert (image["width"], image["height"]) == (10, 5)  # given sizes win
    assert image["url"] is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "missing.png"}, "images[0].path: no image file at"),
        ({"path": "notes.txt"}, "images[0].path: "),
        ({"path": "scan.png", "url": "https://x.example.com/iiif/a"}, "either 'url'"),
        ({"name": "x"}, "or a 'path' to the file"),
    ],
)
def test_bad_image_paths(tmp_path, entry, message):
    checkered().save(tmp_path / "scan.png")
    (tmp_path / "notes.txt").write_text("not an image")
    corpus = tmp_path / "corpus.yml"
    corpus.write_text(yaml.safe_dump({"corpus": {"name": "C"}, "images": [entry]}))
    with pytest.raises(CorpusError) as raised:
        load_corpus(corpus)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    if entry.get("path") == "notes.txt":
        assert "is not an image Pillow can read" in str(raised.value)
