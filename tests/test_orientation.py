"""Polygons between an element's oriented image and its original image (revert_orientation)."""

import pytest
from arkindex import ArkindexClient
from PIL import Image

from arkworker.images import revert_orientation
from arkworker.images.orientation import apply_orientation, orient_points, oriented_size, unorient_points
from arkworker.models import Element
from arkworker.storage import cache

# The parent: the box (10, 20, 100, 50) of a 300 x 200 image.
X, Y, WIDTH, HEIGHT = 10, 20, 100, 50
BOX = [[X, Y], [X + WIDTH, Y], [X + WIDTH, Y + HEIGHT], [X, Y + HEIGHT], [X, Y]]


def parent(rotation_angle=0, mirrored=False, polygon=BOX):
    return Element(
        {
            "id": "parent",
            "zone": {
                "polygon": polygon,
                "image": {
                    "id": "image",
                    "url": "https://iiif.example.com/image",
                    "width": 300,
                    "height": 200,
                },
            },
            "rotation_angle": rotation_angle,
            "mirrored": mirrored,
        }
    )


# A child polygon in the oriented image: its top-left corner, the point (5, 6) and its
# bottom-right corner; each orientation sends them to a known place of the original image.
CASES = [
    (0, False, [[10, 20], [15, 26], [110, 70]]),
    (90, False, [[10, 70], [16, 65], [110, 20]]),
    (180, False, [[110, 70], [105, 64], [10, 20]]),
    (270, False, [[110, 20], [104, 25], [10, 70]]),
    (0, True, [[110, 20], [105, 26], [10, 70]]),
    (90, True, [[110, 70], [104, 65], [10, 20]]),
    (180, True, [[10, 70], [15, 64], [110, 20]]),
    (270, True, [[10, 20], [16, 25], [110, 70]]),
]


def child(rotation_angle):
    width, height = oriented_size(WIDTH, HEIGHT, rotation_angle)
    return [[0, 0], [5, 6], [width, height]]


@pytest.mark.parametrize(("rotation_angle", "mirrored", "expected"), CASES)
def test_revert_orientation_exact_coordinates(rotation_angle, mirrored, expected):
    element = parent(rotation_angle, mirrored)
    assert revert_orientation(element, child(rotation_angle)) == expected
    assert revert_orientation(element, expected, reverse=True) == child(rotation_angle)


@pytest.mark.parametrize(("rotation_angle", "mirrored", "expected"), CASES)
def test_a_marked_pixel_goes_back_where_pillow_took_it(rotation_angle, mirrored, expected):
    for px, py in [(5, 6), (0, 0), (WIDTH - 1, HEIGHT - 1), (42, 17)]:
        image = Image.new("L", (WIDTH, HEIGHT))
        image.putpixel((px, py), 255)
        oriented = apply_orientation(image, rotation_angle, mirrored)
        qx, qy = oriented.getbbox()[:2]
        square = [[qx, qy], [qx + 1, qy], [qx + 1, qy + 1], [qx, qy + 1]]
        back = revert_orientation(parent(rotation_angle, mirrored), square)
        assert sorted(map(tuple, back)) == [
            (X + px, Y + py),
            (X + px, Y + py + 1),
            (X + px + 1, Y + py),
            (X + px + 1, Y + py + 1),
        ]


@pytest.mark.parametrize(("rotation_angle", "mirrored"), [(30, False), (135, True), (359, False)])
def test_any_angle_matches_pillow_within_a_pixel(rotation_angle, mirrored):
    image = Image.new("L", (WIDTH, HEIGHT))
    image.paste(255, (40, 10, 44, 14))  # a 4 x 4 block, centred on (42, 12)
    oriented = apply_orientation(image, rotation_angle, mirrored)
    assert oriented.size == oriented_size(WIDTH, HEIGHT, rotation_angle)
    left, top, right, bottom = oriented.getbbox()
    ((x, y),) = unorient_points(
        [((left + right) / 2, (top + bottom) / 2)], WIDTH, HEIGHT, rotation_angle, mirrored
    )
    assert abs(x - 42) <= 1 and abs(y - 12) <= 1
    ((ox, oy),) = orient_points([(x, y)], WIDTH, HEIGHT, rotation_angle, mirrored)
    assert (ox, oy) == pytest.approx(((left + right) / 2, (top + bottom) / 2))


def test_a_closed_ring_stays_closed_and_floats_are_rounded():
    element = parent(90)
    assert revert_orientation(element, [[0.4, 0.4], [10.6, 0], [10, 10], [0.4, 0.4]]) == [
        [10, 70],
        [10, 59],
        [20, 60],
        [10, 70],
    ]


def test_revert_orientation_refuses_elements_without_image_and_bad_polygons():
    with pytest.raises(ValueError, match="Element folder has no zone"):
        revert_orientation(Element({"id": "folder", "zone": None}), [[0, 0], [1, 0], [1, 1]])
    with pytest.raises(ValueError, match="at least 3 points"):
        revert_orientation(parent(), [[0, 0], [1, 1]])


@pytest.fixture
def arkworker_corpus(tmp_path):
    # Every pixel tells where it comes from: red = x, green = y.
    image = Image.frombytes(
        "RGB", (256, 200), bytes(v for y in range(200) for x in range(256) for v in (x, y, 0))
    )
    image.save(tmp_path / "scan.png")
    elements = [
        {"name": f"{angle}{'m' if mirrored else ''}", "type": "line", "image": "scan", "polygon": BOX}
        | {"rotation_angle": angle, "mirrored": mirrored}
        for angle, mirrored, _ in CASES
    ]
    return {
        "corpus": {"name": "Turns"},
        "images": [{"name": "scan", "path": str(tmp_path / "scan.png")}],
        "elements": elements,
    }


@pytest.mark.parametrize(("rotation_angle", "mirrored"), [case[:2] for case in CASES])
def test_pixels_opened_from_the_sandbox_go_back_to_their_source(arkworker_sandbox, rotation_angle, mirrored):
    client = ArkindexClient(base_url=arkworker_sandbox.url, token=arkworker_sandbox.token)
    (row,) = arkworker_sandbox.objects("elements", name=f"{rotation_angle}{'m' if mirrored else ''}")
    element = Element(client.request("RetrieveElement", id=row["id"]))
    image = element.open_image(image_format="png")
    for qx, qy in [(0, 0), (7, 3), (image.width - 1, image.height - 1)]:
        source_x, source_y, _ = image.getpixel((qx, qy))
        square = [[qx, qy], [qx + 1, qy], [qx + 1, qy + 1], [qx, qy + 1]]
        xs, ys = zip(*revert_orientation(element, square), strict=True)
        assert (min(xs), min(ys)) == (source_x, source_y)


def test_cached_elements_revert_like_api_elements(tmp_path):
    db = cache.open_cache(tmp_path / "db.sqlite")
    try:
        image = db.CachedImage.create(
            id="22222222-2222-2222-2222-222222222222", width=300, height=200, url="https://iiif.example.com/i"
        )
        element = db.CachedElement.create(
            id="33333333-3333-3333-3333-333333333333",
            type="line",
            image=image,
            polygon=BOX,
            rotation_angle=270,
            mirrored=True,
        )
        assert revert_orientation(element, child(270)) == CASES[-1][2]
    finally:
        db.close()
