"""Draw the demo corpus's page scans (run once; the PNG files are committed with the package).

The demo corpus must open offline, so its images ship with arkworker: three small,
synthetic "scans" of handwritten-looking pages, a few KB each. Text lines are rows of dark
word blocks, placed where the corpus's text line polygons are; the third page is dark
paper, so that an example worker classifying pages by brightness has something to find.
Drawing is deterministic: running the script again gives the same files.

    python arkworker/sandbox/demo/make_images.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).parent

#: name: (size, paper colour, ink colour, top of the first line, line pitch, margin)
PAGES = {
    "demo-scan-1.png": ((400, 600), (238, 232, 214), (52, 44, 40), 60, 30, 40),
    "demo-scan-2.png": ((400, 600), (242, 238, 226), (40, 40, 60), 52, 30, 36),
    "demo-scan-3.png": ((480, 640), (92, 78, 60), (230, 220, 190), 80, 40, 60),
}


def words(seed: int, width: int) -> list[tuple[int, int]]:
    """Start and end of each word block on a line ``width`` pixels wide (a small LCG)."""
    spans, x = [], 0
    while x < width:
        seed = (seed * 1103515245 + 12345) % 2**31
        length = 12 + seed % 48
        spans.append((x, min(x + length, width)))
        x += length + 8
    return spans


def draw_page(
    size: tuple[int, int], paper: tuple, ink: tuple, top: int, pitch: int, margin: int
) -> Image.Image:
    image = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(image)
    width, height = size
    for index, y in enumerate(range(top, height - margin, pitch)):
        for start, end in words(index + width, width - 2 * margin):
            draw.rectangle((margin + start, y + 6, margin + end, y + pitch // 2 + 4), fill=ink)
    return image


def main() -> None:
    for name, spec in PAGES.items():
        draw_page(*spec).save(HERE / name, optimize=True)
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
