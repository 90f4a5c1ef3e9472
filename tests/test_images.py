"""Element images over real HTTP: crops, resizes, orientation, tiles, failures, cached elements."""

import io
import math
import os

import pytest
import requests
from arkindex import ArkindexClient
from PIL import Image

from arkworker.images import ImageError, ImageZone, open_zone, polygon_bounding_box, trim_polygon
from arkworker.models import Element
from arkworker.sandbox import Sandbox
from arkworker.storage import cache

WIDTH, HEIGHT = 300, 200
LINE = [[10, 20], [110, 20], [110, 70], [10, 70]]


def gradient(width=WIDTH, height=HEIGHT):
    """Every pixel tells where it comes from: red = x, green = y, blue = both high bits."""
    data = bytes(
        value
        for y in range(height)
        for x in range(width)
        for value in (x % 256, y % 256, (x // 256) * 64 + (y // 256) * 16)
    )
    return Image.frombytes("RGB", (width, height), data)


@pytest.fixture
def arkworker_corpus(tmp_path):
    gradient().save(tmp_path / "scan.png")
    gradient().save(tmp_path / "tiled.png")
    return {
        "corpus": {"name": "Images"},
        "images": [
            {"name": "scan", "path": str(tmp_path / "scan.png")},
            {"name": "tiled", "path": str(tmp_path / "tiled.png"), "max_width": 64, "max_height": 64},
        ],
        "elements": [
            {"name": "Page", "type": "page", "image": "scan"},
            {"name": "Line", "type": "line", "image": "scan", "polygon": LINE},
            {"name": "Turned", "type": "line", "image": "scan", "polygon": LINE, "rotation_angle": 90},
            {"name": "Mirrored", "type": "line", "image": "scan", "polygon": LINE, "mirrored": True},
            {
                "name": "Both",
                "type": "line",
                "image": "scan",
                "polygon": LINE,
                "rotation_angle": 270,
                "mirrored": True,
            },
            {"name": "Big", "type": "page", "image": "tiled"},
            {"name": "Big line", "type": "line", "image": "tiled", "polygon": [[5, 7], [205, 7], [205, 107]]},
            {"name": "Folder", "type": "folder"},
        ],
    }


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch):
    monkeypatch.setenv("ARKWORKER_RETRY_BACKOFF", "0")


def settings_of(**env):
    """The download settings of an environment without retry waits."""
    from arkworker.images.downloads import DownloadSettings

    return DownloadSettings.from_env({"ARKWORKER_RETRY_BACKOFF": "0", **env})


@pytest.fixture
def element(arkworker_sandbox):
    client = ArkindexClient(base_url=arkworker_sandbox.url, token=arkworker_sandbox.token)

    def get(name):
        (row,) = arkworker_sandbox.objects("elements", name=name)
        return Element(client.request("RetrieveElement", id=row["id"]))

    return get


def iiif_requests(sandbox):
    return [record for record in sandbox.requests if record.path.startswith("/iiif/")]


def same_pixels(first, second):
    return first.size == second.size and first.mode == second.mode and first.tobytes() == second.tobytes()


def test_a_crop_returns_exactly_the_polygon_box(element):
    image = element("Line").open_image(image_format="png")
    assert same_pixels(image, gradient().crop((10, 20, 110, 70)))


def test_the_crop_url_is_the_zone_box(element, arkworker_sandbox):
    line = element("Line")
    line.open_image()
    (record,) = iiif_requests(arkworker_sandbox)
    assert record.path.endswith("/10,20,100,50/full/0/default.jpg")
    assert line.image_url() == f"{line.zone.image.url}/full/full/0/default.jpg"
    assert line.image_url("500,") == f"{line.zone.image.url}/full/500,/0/default.jpg"


def test_the_full_page_is_asked_as_full(element, arkworker_sandbox):
    image = element("Page").open_image(image_format="png")
    assert same_pixels(image, gradient())
    assert iiif_requests(arkworker_sandbox)[-1].path.endswith("/full/full/0/default.png")


@pytest.mark.parametrize(
    ("limits", "size"),
    [
        ({"max_width": 50}, (50, 25)),
        ({"max_height": 10}, (20, 10)),
        ({"max_width": 50, "max_height": 10}, (20, 10)),
        ({"max_width": 60, "max_height": 100}, (60, 30)),
        ({"max_width": 1000, "max_height": 1000}, (100, 50)),  # never scaled up
        ({"max_width": 200}, (100, 50)),  # the image is wider, but the crop is not: not enlarged
    ],
)
def test_resizing_keeps_the_ratio(element, limits, size):
    assert element("Line").open_image(**limits).size == size


def test_use_full_image_ignores_the_polygon(element):
    line = element("Line")
    assert line.open_image(use_full_image=True, image_format="png").size == (WIDTH, HEIGHT)
    assert line.open_image(use_full_image=True, max_width=150).size == (150, 100)


def test_rotation_is_clockwise(element):
    image = element("Turned").open_image(image_format="png")
    crop = gradient().crop((10, 20, 110, 70))
    assert image.size == (50, 100)
    # Turned clockwise: the crop's bottom-left corner is now top-left.
    assert image.getpixel((0, 0)) == crop.getpixel((0, 49))
    assert same_pixels(image, crop.transpose(Image.Transpose.ROTATE_270))


def test_mirroring_flips_left_right(element):
    image = element("Mirrored").open_image(image_format="png")
    crop = gradient().crop((10, 20, 110, 70))
    assert image.getpixel((0, 0)) == crop.getpixel((99, 0))
    assert same_pixels(image, crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def test_mirroring_comes_before_the_rotation(element):
    image = element("Both").open_image(image_format="png")
    crop = gradient().crop((10, 20, 110, 70))
    expected = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT).transpose(Image.Transpose.ROTATE_90)
    assert same_pixels(image, expected)


def test_mode_is_converted(element):
    assert element("Line").open_image("L").mode == "L"


def test_tiles_reassemble_the_full_image(element, arkworker_sandbox):
    page = element("Big")
    assert page.requires_tiles
    image = page.open_image(image_format="png")
    assert same_pixels(image, gradient())
    paths = [record.path for record in iiif_requests(arkworker_sandbox)]
    assert paths[0].endswith("/info.json")
    assert len(paths) == 1 + math.ceil(WIDTH / 64) * math.ceil(HEIGHT / 64)
    assert all(record.status == 200 for record in iiif_requests(arkworker_sandbox))


def test_tiles_keep_the_polygon_then_resize(element):
    line = element("Big line")
    assert line.requires_tiles
    assert same_pixels(line.open_image(image_format="png"), gradient().crop((5, 7, 205, 107)))
    assert line.open_image(max_width=100).size == (100, 50)
    assert line.open_image(max_width=150, max_height=150).size == (150, 75)


def test_an_s3_url_does_not_hide_the_tiles_of_a_crop(element, arkworker_sandbox):
    line = element("Big line")
    line.zone.image.s3_url = f"{line.zone.image.url}/full/max/0/default.png"
    assert line.requires_tiles
    assert same_pixels(line.open_image(image_format="png"), gradient().crop((5, 7, 205, 107)))
    assert iiif_requests(arkworker_sandbox)[0].path.endswith("/info.json")


def test_a_small_enough_answer_needs_no_tiles(element, arkworker_sandbox):
    image = element("Big").open_image(max_width=60)
    assert image.size == (60, 40)
    (record,) = iiif_requests(arkworker_sandbox)
    assert record.path.endswith("/full/60,40/0/default.jpg")


def test_a_client_error_is_not_retried_and_names_url_and_status(element, arkworker_sandbox):
    line = element("Line")
    arkworker_sandbox.fail_iiif(404, times=None)
    with pytest.raises(ImageError) as raised:
        line.open_image()
    crop = f"{line.zone.image.url}/10,20,100,50/full/0/default.jpg"
    fault = "Fault injected by sandbox.fail_iiif(status=404)"
    assert str(raised.value) == (
        f"Downloading {crop} failed: HTTP 404 NOT FOUND: {fault} (check the element's image and zone, "
        "or the image server's limits). At size max instead: Downloading "
        f"{crop.replace('/full/0/', '/max/0/')} failed: HTTP 404 NOT FOUND: {fault} (check the "
        "element's image and zone, or the image server's limits)"
    )
    assert raised.value.status == 404
    assert [record.path.split("/", 3)[3] for record in iiif_requests(arkworker_sandbox)] == [
        "10,20,100,50/full/0/default.jpg",
        "10,20,100,50/max/0/default.jpg",
    ]


def test_a_refused_full_size_falls_back_to_max(element, arkworker_sandbox, caplog):
    # Arkindex does not know the limits of this image's server (64 x 64), which refuses `full`.
    page = element("Big")
    page.zone.image.server = {"max_width": None, "max_height": None}
    assert page.requires_tiles is False
    image = page.open_image()
    assert image.size == (64, 43)
    assert [(record.path.split("/", 3)[3], record.status) for record in iiif_requests(arkworker_sandbox)] == [
        ("full/full/0/default.jpg", 400),
        ("full/max/0/default.jpg", 200),
    ]
    assert f"Downloading {page.image_url()} failed: HTTP 400 BAD REQUEST" in caplog.text
    assert "asking for size max instead" in caplog.text


def test_the_max_fallback_downloads_the_image_the_server_allows(arkworker_sandbox):
    from arkworker.images.downloads import fetch_image

    (row,) = arkworker_sandbox.objects("images", name="tiled")
    base = f"{arkworker_sandbox.url}/iiif/{row['id']}"
    image = fetch_image(f"{base}/full/full/0/default.png")
    assert same_pixels(image.convert("RGB"), gradient().resize((64, 43), Image.Resampling.LANCZOS))
    crop = fetch_image(f"{base}/0,0,100,50/full/0/default.png")  # a crop larger than the limits too
    assert same_pixels(
        crop.convert("RGB"), gradient().crop((0, 0, 100, 50)).resize((64, 32), Image.Resampling.LANCZOS)
    )


def test_only_iiif_urls_at_size_full_fall_back():
    from arkworker.images.downloads import size_max_url

    base = "https://iiif.example.com/iiif/2/page.jpg"
    assert size_max_url(f"{base}/full/full/0/default.jpg") == f"{base}/full/max/0/default.jpg"
    assert size_max_url(f"{base}/1,2,3,4/full/!90/gray.png?sig=1") == f"{base}/1,2,3,4/max/!90/gray.png?sig=1"
    assert size_max_url(f"{base}/full/500,/0/default.jpg") is None
    assert size_max_url("https://s3.example.com/bucket/full/full/page.jpg") is None
    assert size_max_url("https://example.com/full/0/default.jpg") is None


def test_a_client_error_outside_iiif_is_tried_once(element, arkworker_sandbox):
    line = element("Line")
    arkworker_sandbox.fail_iiif(403, times=None)
    signed = f"{line.zone.image.url}/full/full/0/default.png?Signature=expired"
    zone = ImageZone("x", line.zone.image.url, WIDTH, HEIGHT, s3_url=signed.replace("/0/", "/"))
    with pytest.raises(ImageError, match="HTTP 403"):
        open_zone(zone, use_full_image=True)
    assert len(iiif_requests(arkworker_sandbox)) == 1


def test_server_errors_are_retried(element, arkworker_sandbox):
    arkworker_sandbox.fail_iiif(503, times=2)
    image = element("Line").open_image(image_format="png")
    assert same_pixels(image, gradient().crop((10, 20, 110, 70)))
    assert [record.status for record in iiif_requests(arkworker_sandbox)] == [503, 503, 200]


def test_server_errors_give_up_after_the_policy_attempts(element, arkworker_sandbox, monkeypatch):
    monkeypatch.setenv("ARKWORKER_RETRY_ATTEMPTS", "3")
    arkworker_sandbox.fail_iiif(500, times=None)
    with pytest.raises(ImageError, match="HTTP 500"):
        element("Line").open_image()
    assert len(iiif_requests(arkworker_sandbox)) == 3


def test_a_corrupt_image_is_a_clear_error(element, arkworker_sandbox):
    line = element("Line")
    arkworker_sandbox.fail_iiif(200, body=b"\xff\xd8\xff\xe0 this is not a JPEG")
    with pytest.raises(ImageError, match="is not a readable image") as raised:
        line.open_image()
    assert line.zone.url in str(raised.value)


def test_a_truncated_image_is_a_clear_error(element, arkworker_sandbox, tmp_path):
    gradient().save(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    arkworker_sandbox.fail_iiif(200, body=data[: len(data) // 2])
    with pytest.raises(ImageError, match="is not a readable image"):
        element("Page").open_image()


def test_the_servers_explanation_is_quoted(arkworker_sandbox, element):
    from arkworker.images.downloads import download

    (row,) = arkworker_sandbox.objects("images", name="tiled")
    url = f"{arkworker_sandbox.url}/iiif/{row['id']}/full/100,/0/default.png"
    with pytest.raises(ImageError) as raised:
        download(url)
    assert str(raised.value) == (
        f"Downloading {url} failed: HTTP 400 BAD REQUEST: Size 100x67 exceeds the server's limits "
        "(maxWidth 64, maxHeight 64): ask for a smaller size or fetch tiles (check the element's "
        "image and zone, or the image server's limits)"
    )
    arkworker_sandbox.fail_iiif(503, body="y " * 500, times=None)
    with pytest.raises(ImageError) as raised:
        download(url.replace("100,", "60,"), settings=settings_of(ARKWORKER_RETRY_ATTEMPTS="2"))
    message = str(raised.value)  # the last answer's text, cut short
    assert "HTTP 503 SERVICE UNAVAILABLE: y y y" in message and "y…" in message and message.count("y") < 105


def test_an_image_file_the_sandbox_cannot_decode_is_named(tmp_path):
    gradient().save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "broken.png").write_bytes(data[: len(data) // 2])  # a readable header only
    with Sandbox(tmp_path / "scans") as sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        (row,) = sandbox.objects("elements", name="broken")
        page = Element(client.request("RetrieveElement", id=row["id"]))
        with pytest.raises(ImageError, match=r"HTTP 422 .*: Image file .*broken\.png cannot be decoded"):
            page.open_image()
        # Not retried: a broken file stays broken (one request, and the fallback at size max).
        assert [record.status for record in sandbox.requests if record.path.startswith("/iiif/")] == [
            422,
            422,
        ]


def test_an_image_without_server_limits(element):
    line = element("Line")
    del line.zone.image["server"]  # a payload without the server's limits: nothing to tile
    assert line.requires_tiles is False
    assert line.open_image(max_width=50).size == (50, 25)


def test_open_image_from_a_file_or_a_url(arkworker_sandbox, tmp_path):
    from arkworker.images import open_image

    crop = gradient().crop((10, 20, 110, 70))
    crop.save(tmp_path / "crop.png")
    turned = open_image(tmp_path / "crop.png", rotation_angle=90, mirrored=True)
    assert same_pixels(
        turned, crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT).transpose(Image.Transpose.ROTATE_270)
    )
    assert open_image(str(tmp_path / "crop.png"), "L").mode == "L"
    (row,) = arkworker_sandbox.objects("images", name="scan")
    url = f"{arkworker_sandbox.url}/iiif/{row['id']}/10,20,100,50/full/0/default.png"
    assert same_pixels(open_image(url), crop)
    with pytest.raises(ImageError, match=r"Cannot read the image file .*missing\.png \(No such file"):
        open_image(tmp_path / "missing.png")
    data = (tmp_path / "crop.png").read_bytes()
    (tmp_path / "half.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"half\.png is not a readable image"):
        open_image(tmp_path / "half.png")


def test_an_element_without_zone(element):
    folder = element("Folder")
    assert folder.image_url() is None
    assert folder.requires_tiles is False
    with pytest.raises(ValueError, match="has no zone"):
        folder.open_image()


def test_invalid_maxima_are_refused(element):
    with pytest.raises(ValueError, match="max_width must be a positive number"):
        element("Line").open_image(max_width=0)


def test_open_image_tempfile(element):
    with element("Line").open_image_tempfile("png", image_format="png") as file:
        assert file.name.endswith(".png")
        with Image.open(file.name) as saved:
            assert same_pixels(saved.convert("RGB"), gradient().crop((10, 20, 110, 70)))
    assert not os.path.exists(file.name)


def test_s3_url_is_used_for_the_full_image(element, arkworker_sandbox):
    line = element("Line")
    full = f"{line.zone.image.url}/full/full/0/default.png"
    zone = ImageZone("x", line.zone.image.url, WIDTH, HEIGHT, s3_url=full)
    image = open_zone(zone, use_full_image=True, max_width=30)
    assert image.size == (30, 20)
    assert iiif_requests(arkworker_sandbox)[-1].path.endswith("/full/full/0/default.png")


def test_cached_elements_open_like_api_elements(element, tmp_path):
    line = element("Line")
    db = cache.open_cache(tmp_path / "db.sqlite")
    try:
        image = db.CachedImage.create(
            id=line.zone.image.id, width=WIDTH, height=HEIGHT, url=line.zone.image.url
        )
        cached = db.CachedElement.create(
            id=line.id, type="line", image=image, polygon=LINE, rotation_angle=90, mirrored=False
        )
        crop = gradient().crop((10, 20, 110, 70))
        assert same_pixels(cached.open_image(image_format="png"), crop.transpose(Image.Transpose.ROTATE_270))
        assert cached.open_image(max_width=50).size == (25, 50)  # crops are resized too
        assert cached.image_url() == f"{line.zone.image.url}/full/full/0/default.jpg"
        assert cached.requires_tiles is False
        with cached.open_image_tempfile() as file:
            assert Image.open(file.name).size == (50, 100)
        bare = db.CachedElement.create(id="11111111-1111-1111-1111-111111111111", type="folder")
        assert bare.image_url() is None
        with pytest.raises(ValueError, match="has no image"):
            bare.open_image()
    finally:
        db.close()


def test_a_worker_gets_pixels_in_a_run(arkworker_run, arkworker_sandbox, make_app):
    sizes = {}

    def handler(element):
        sizes[element.name] = element.open_image(max_width=40).size

    ids = [arkworker_sandbox.objects("elements", name=name)[0]["id"] for name in ("Page", "Line")]
    run = arkworker_run(make_app(handler), elements=ids)
    assert run.exit_code == 0, run.output
    assert sizes == {"Page": (40, 27), "Line": (40, 20)}


# -- geometry helpers ----------------------------------------------------------------------------


def test_polygon_bounding_box():
    assert polygon_bounding_box([[10, 20], [110, 20], [110, 70], [10, 70], [10, 20]]) == (10, 20, 100, 50)
    assert polygon_bounding_box([[0.5, 1.5], [3.2, 1], [2, 4.1]]) == (0, 1, 4, 4)
    with pytest.raises(ValueError, match="at least 3 points"):
        polygon_bounding_box([[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="point 1"):
        polygon_bounding_box([[0, 0], [1], [2, 2]])


def test_trim_polygon_clamps_dedupes_and_keeps_closure():
    polygon = [[-5, -5], [120, -3], [120, 50], [120, 50], [-5, 50], [-5, -5]]
    assert trim_polygon(polygon, 100, 40) == [[0, 0], [100, 0], [100, 40], [0, 40], [0, 0]]
    assert trim_polygon([[1, 1], [5, 1], [5, 5]], 10, 10) == [[1, 1], [5, 1], [5, 5]]


def test_trim_polygon_refuses_polygons_outside_the_image():
    with pytest.raises(ValueError, match="entirely outside"):
        trim_polygon([[200, 200], [300, 200], [300, 300]], 100, 100)
    with pytest.raises(ValueError, match="fewer than 3 distinct points"):
        trim_polygon([[1, 1], [1, 1], [2, 2]], 100, 100)


def test_the_demo_corpus_opens_offline():
    from arkworker.sandbox import Sandbox

    with Sandbox() as sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        pages = [Element(client.request("RetrieveElement", id=id_)) for id_ in sandbox.process_element_ids()]
        assert [page.open_image().size for page in pages] == [(400, 600), (400, 600), (640, 480)]
        assert [page.requires_tiles for page in pages] == [False, False, True]
        line = next(
            Element(client.request("RetrieveElement", id=row["id"]))
            for row in sandbox.objects("elements", name="Line 1")
        )
        assert line.open_image().size == (320, 30)


def test_connection_errors_are_retried_then_named():
    from arkworker.images.downloads import download

    with pytest.raises(ImageError, match=r"Downloading http://127\.0\.0\.1:9/x failed: ConnectionError"):
        download("http://127.0.0.1:9/x", settings=settings_of(ARKWORKER_RETRY_ATTEMPTS="2"))


def test_tls_errors_are_not_retried(arkworker_sandbox):
    from arkworker.images.downloads import download

    url = arkworker_sandbox.url.replace("http://", "https://") + "/iiif/x/info.json"
    with pytest.raises(ImageError, match="TLS error"):
        download(url, settings=settings_of())


def test_certificates_are_verified_except_on_development_instances():
    from arkworker.images.downloads import verifies_certificate

    assert verifies_certificate("https://iiif.example.com/iiif/2/a/full/full/0/default.jpg")
    assert verifies_certificate("https://notark.localhost/iiif/a/info.json")
    assert verifies_certificate("https://ark.localhost.example.com/a")
    assert not verifies_certificate("https://ark.localhost/iiif/a/info.json")
    assert not verifies_certificate("https://iiif.ark.localhost:8443/a/full/full/0/default.jpg")


def test_an_image_failure_fails_the_element_with_its_message(arkworker_run, arkworker_sandbox, make_app):
    arkworker_sandbox.fail_iiif(403, times=None)
    (page,) = arkworker_sandbox.objects("elements", name="Page")
    run = arkworker_run(make_app(lambda element: element.open_image()), elements=[page["id"]])
    assert run.exit_code == 1
    assert run.summary == "Ran on 1 element: 0 completed, 1 failed"
    assert f"/iiif/{page['image_id']}/full/full/0/default.jpg failed: HTTP 403" in run.output
    assert (
        f"At size max instead: Downloading {arkworker_sandbox.url}/iiif/{page['image_id']}/full/max/"
        in run.output
    )
    assert len(iiif_requests(arkworker_sandbox)) == 2


def test_downloads_in_a_run_follow_the_run_environment(
    arkworker_run, arkworker_sandbox, make_app, monkeypatch
):
    monkeypatch.delenv("ARKWORKER_RETRY_BACKOFF")
    monkeypatch.setenv("ARKWORKER_RETRY_ATTEMPTS", "5")
    arkworker_sandbox.fail_iiif(503, times=None)
    (page,) = arkworker_sandbox.objects("elements", name="Page")
    app = make_app(lambda element: element.open_image())
    run = arkworker_run(app, env={"ARKWORKER_RETRY_ATTEMPTS": "2"}, elements=[page["id"]])
    assert run.exit_code == 1
    assert "HTTP 503" in run.output
    assert len(iiif_requests(arkworker_sandbox)) == 2


def test_tiles_of_the_wrong_size(element, arkworker_sandbox, caplog):
    line = element("Big line")
    info = requests.get(f"{line.zone.image.url}/info.json", timeout=10).text

    def serve_first_tile(size):
        buffer = io.BytesIO()
        gradient().crop((5, 7, 5 + size[0], 7 + size[1])).save(buffer, format="PNG")
        arkworker_sandbox.fail_iiif(200, body=info)
        arkworker_sandbox.fail_iiif(200, body=buffer.getvalue())

    serve_first_tile((70, 64))  # a server answering a few pixels too many: cropped, with a warning
    assert same_pixels(line.open_image(image_format="png"), gradient().crop((5, 7, 205, 107)))
    assert "/5,7,64,64/full/0/default.png answered 70x64 pixels, expected 64x64: cropped" in caplog.text
    serve_first_tile((64, 60))  # too few: the image cannot be assembled
    with pytest.raises(
        ImageError, match=r"/5,7,64,64/full/0/default.png answered 64x60 pixels, expected 64x64"
    ):
        line.open_image(image_format="png")


def test_tile_sizes_come_from_info_json():
    from arkworker.images.tiles import tile_size

    zone = ImageZone("x", "https://iiif.example.com/a", 1000, 1000, server_max_width=300)
    assert tile_size(zone, {"tiles": [{"width": 256}, {"width": 512, "height": 128}]}) == (300, 128)
    assert tile_size(zone, {"maxWidth": 200, "maxHeight": 100}) == (200, 100)
    assert tile_size(zone, {}) == (300, 300)
    with pytest.raises(ImageError, match="invalid tile sizes"):
        tile_size(zone, {"tiles": [{"width": "512"}]})
    with pytest.raises(ImageError, match="neither tiles nor a maximum size"):
        tile_size(ImageZone("x", "https://iiif.example.com/a", 10, 10), {})


def test_a_timeout_is_retried(element, arkworker_sandbox, monkeypatch, caplog):
    monkeypatch.setenv("ARKWORKER_DOWNLOAD_TIMEOUT", "0.05")
    arkworker_sandbox.fail_iiif(200, delay=0.5)  # the first answer comes too late
    line = element("Line")
    image = line.open_image(image_format="png")
    assert same_pixels(image, gradient().crop((10, 20, 110, 70)))
    url = line.zone.url.replace(".jpg", ".png")
    assert f"Downloading {url} failed (timed out); attempt 2 of 5 in 0.0 s" in caplog.messages


def test_a_slow_answer_within_the_timeout_is_waited_for(element, arkworker_sandbox, monkeypatch):
    monkeypatch.setenv("ARKWORKER_DOWNLOAD_TIMEOUT", "5")
    arkworker_sandbox.fail_iiif(200, delay=0.1)
    assert element("Line").open_image().size == (100, 50)
    assert len(iiif_requests(arkworker_sandbox)) == 1


def test_timeouts_that_never_end_name_the_url(element, arkworker_sandbox, monkeypatch):
    monkeypatch.setenv("ARKWORKER_DOWNLOAD_TIMEOUT", "0.05")
    monkeypatch.setenv("ARKWORKER_RETRY_ATTEMPTS", "2")
    arkworker_sandbox.fail_iiif(200, delay=0.3, times=None)
    line = element("Line")
    with pytest.raises(ImageError) as raised:
        line.open_image()
    assert str(raised.value) == (
        f"Downloading {line.zone.url} failed: waited 0.05 s for an answer, 2 time(s) "
        "(raise ARKWORKER_DOWNLOAD_TIMEOUT for a slow image server)"
    )


def test_the_download_timeout_defaults_to_the_reference_values():
    from arkworker.images.downloads import DownloadSettings

    assert DownloadSettings.from_env({}).timeouts == (30, 60)
    assert DownloadSettings(timeout=10).timeouts == (10, 10)
    assert DownloadSettings.from_env({"ARKWORKER_DOWNLOAD_TIMEOUT": "90"}).timeouts == (30, 90)


def test_a_run_uses_its_environment_for_the_download_timeout(arkworker_run, arkworker_sandbox, make_app):
    arkworker_sandbox.fail_iiif(200, delay=0.3, times=None)
    (page,) = arkworker_sandbox.objects("elements", name="Page")
    env = {"ARKWORKER_DOWNLOAD_TIMEOUT": "0.05", "ARKWORKER_RETRY_ATTEMPTS": "1"}
    run = arkworker_run(make_app(lambda element: element.open_image()), env=env, elements=[page["id"]])
    assert run.exit_code == 1
    assert (
        f"/iiif/{page['image_id']}/full/full/0/default.jpg failed: waited 0.05 s for an answer" in run.output
    )


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_an_invalid_download_timeout_is_one_line(arkworker_run, make_app, value):
    run = arkworker_run(make_app(), env={"ARKWORKER_DOWNLOAD_TIMEOUT": value})
    assert run.exit_code == 2
    assert run.output == (
        f"Error: ARKWORKER_DOWNLOAD_TIMEOUT={value!r} is not valid: expected a number of seconds > 0 "
        "(the longest wait for an image server's answer, default 60).\n"
    )


def test_resize_zone_url_asks_the_zone_at_another_size(element):
    line = element("Line")
    assert line.resize_zone_url() == line.zone.url
    url = line.resize_zone_url("50,")
    assert url == line.zone.url.replace("/full/0/", "/50,/0/")
    with requests.get(url, timeout=10) as answer:
        assert Image.open(io.BytesIO(answer.content)).size == (50, 25)
    with pytest.raises(ValueError, match="has no zone"):
        element("Folder").resize_zone_url("50,")


def test_a_run_downloads_each_thread_s_images_through_one_kept_session():
    import threading

    from arkworker.images.downloads import DownloadSettings, session_for, using_settings

    settings = DownloadSettings()
    with using_settings(settings):
        with session_for(None) as first, session_for(None) as second:
            assert first is second  # the connection to the image server is kept for the next image
        other = []
        thread = threading.Thread(target=lambda: other.append(settings.sessions.get()))
        thread.start()
        thread.join()
        assert other[0] is not first  # no session shared between threads
    settings.sessions.close()
    assert settings.sessions.get() is not first  # closed at the end of the run: a new one after
    with session_for(None) as outside:  # no run: a session of its own, closed after the download
        assert outside is not first
    settings.sessions.close()
