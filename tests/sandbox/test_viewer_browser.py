"""The viewer in a real browser: headless Chromium loads a page view of the demo corpus after examples/lines.py.

What only a browser can tell: the image loaded from the sandbox's IIIF server, the layout
fits it to the window, the SVG polygons land on the image where their coordinates say, the
script links a polygon to its entry, and the screenshot shows the page and its lines.
Chromium is driven over the DevTools protocol (``tests/browser.py``); ``.ci/run`` installs
Debian's ``chromium`` when it is missing.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from arkworker.sandbox import Sandbox
from tests.browser import Chromium, find_chromium

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed here (Debian: apt-get install chromium; .ci/run installs it when it can)",
)

WIDTH, HEIGHT = 1280, 860
#: Where each pane's image is on the screen, its natural size, and where each polygon is drawn.
MEASURE = """
[...document.querySelectorAll(".pane")].map((pane) => {
  const image = pane.querySelector("img");
  const box = image.getBoundingClientRect();
  return {
    source: pane.dataset.source,
    complete: image.complete,
    naturalWidth: image.naturalWidth,
    naturalHeight: image.naturalHeight,
    image: [box.left, box.top, box.width, box.height],
    viewBox: pane.querySelector("svg").getAttribute("viewBox").split(" ").map(Number),
    shapes: [...pane.querySelectorAll("g.shape")].map((shape) => {
      const drawn = shape.querySelector("polygon").getBoundingClientRect();
      return {element: shape.dataset.element, box: [drawn.left, drawn.top, drawn.right, drawn.bottom]};
    }),
  };
})
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium(width=WIDTH, height=HEIGHT) as chromium:
        yield chromium


def page_id(sandbox: Sandbox, name: str) -> str:
    (row,) = sandbox.objects("elements", name=name, type="page")
    return row["id"]


def expected_box(polygon: list[list[float]], image: list[float], view_box: list[float]) -> list[float]:
    """Where a polygon of image coordinates must be on the screen, given where the image is."""
    left, top, width, height = image
    x, y, region_width, region_height = view_box
    xs = [point[0] for point in polygon]
    ys = [point[1] for point in polygon]
    return [
        left + (min(xs) - x) * width / region_width,
        top + (min(ys) - y) * height / region_height,
        left + (max(xs) - x) * width / region_width,
        top + (max(ys) - y) * height / region_height,
    ]


def check_pane(pane: dict, sandbox: Sandbox, natural: tuple[int, int]) -> None:
    assert pane["complete"] and (pane["naturalWidth"], pane["naturalHeight"]) == natural
    _, top, width, height = pane["image"]
    assert width > 0 and top + height <= HEIGHT, "the image fits the window"
    assert width / height == pytest.approx(natural[0] / natural[1], abs=0.01)
    polygons = {row["id"]: row["polygon"] for row in sandbox.objects("elements", type="text_line")}
    for shape in pane["shapes"]:
        wanted = expected_box(polygons[shape["element"]], pane["image"], pane["viewBox"])
        assert shape["box"] == pytest.approx(wanted, abs=1.0), shape["element"]


def test_a_page_view_in_chromium(browser: Chromium, lines_sandbox: Sandbox) -> None:
    browser.open(f"{lines_sandbox.url}/view/element/{page_id(lines_sandbox, 'Page 1')}")
    (pane,) = browser.evaluate(MEASURE)
    assert len(pane["shapes"]) == 6  # the corpus file's two lines, and the run's four
    check_pane(pane, lines_sandbox, (400, 600))

    # Hovering a polygon lights up its entry in the list (the viewer's script ran).
    lit = browser.evaluate(
        """(() => {
          const shape = document.querySelectorAll("g.shape")[2];
          shape.dispatchEvent(new MouseEvent("mouseenter"));
          return [...document.querySelectorAll("li.item.hot")].map((item) => item.dataset.element);
        })()"""
    )
    assert lit == [pane["shapes"][2]["element"]]

    screenshot = Image.open(io.BytesIO(browser.screenshot())).convert("RGB")
    assert screenshot.size == (WIDTH, HEIGHT)
    left, top, width, height = (round(value) for value in pane["image"])
    drawn = screenshot.crop((left, top, left + width, top + height))
    data = drawn.tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    ink = sum(1 for r, g, b in pixels if max(r, g, b) < 90)  # the scan's word blocks
    stroke = sum(1 for r, g, b in pixels if abs(r - 0x43) < 40 and abs(g - 0x63) < 40 and abs(b - 0xD8) < 40)
    assert ink > 0.1 * len(pixels), "the scan is on the screenshot"
    assert stroke > 4 * height, "the polygons' outlines are on the screenshot"


def test_two_runs_side_by_side_in_chromium(browser: Chromium, lines_sandbox: Sandbox) -> None:
    run = lines_sandbox.worker_run_id
    browser.open(f"{lines_sandbox.url}/view/element/{page_id(lines_sandbox, 'Page 3')}?run=manual&run={run}")
    manual, mine = browser.evaluate(MEASURE)
    assert (manual["source"], mine["source"]) == ("manual", run)
    assert (len(manual["shapes"]), len(mine["shapes"])) == (1, 4)
    for pane in (manual, mine):
        # demo-scan-3 is served at most 240 x 320, drawn in its 480 x 640 coordinates.
        check_pane(pane, lines_sandbox, (240, 320))
    assert manual["image"][0] + manual["image"][2] <= mine["image"][0], "side by side"
