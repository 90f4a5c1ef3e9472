"""Lines: split every page into text lines, transcribe and classify each line.

A stand-in for a real segmentation model, to show the result helpers working together:
sub-elements in bulk, transcriptions in bulk, a listing filtered on this worker run, and
classifications. Try it without any Arkindex instance:

    arkworker run examples/lines.py --sandbox --lines 4
"""

from arkworker import Worker

app = Worker("lines", description="Splits pages into text lines, transcribed and classified.")


@app.setup
def check_types(ctx):
    # Fails early, with the list of missing types, on a corpus without text lines.
    ctx.check_required_types("text_line", create_missing=True)


@app.option("--lines", type=int, default=3, show_default=True, help="How many lines to cut each page into.")
@app.element
def process(element, ctx):
    if not element.get("zone"):
        ctx.logger.warning("%s has no image: nothing to segment", element)
        return
    xs = [point[0] for point in element.zone.polygon]
    ys = [point[1] for point in element.zone.polygon]
    x, y, width, height = min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    band = height / ctx.args.lines
    lines = [
        {
            "name": str(index + 1),
            "type": "text_line",
            "polygon": [
                [x, round(y + index * band)],
                [x + width, round(y + index * band)],
                [x + width, round(y + (index + 1) * band)],
                [x, round(y + (index + 1) * band)],
            ],
            "confidence": 0.9,
        }
        for index in range(ctx.args.lines)
    ]
    created = ctx.create_elements(element, lines)
    if created is None:  # read-only mode (--dev): the helper logged what it would create
        return
    ctx.create_transcriptions(
        [
            {"element_id": line["id"], "text": f"Line {index + 1} of {element.name}", "confidence": 0.8}
            for index, line in enumerate(created)
        ]
    )
    own_lines = ctx.list_element_children(element, type="text_line", worker_run=ctx.worker_run_id)
    for index, line in enumerate(own_lines):
        ctx.create_classification(line, "handwritten" if index % 2 else "printed", confidence=0.7)


if __name__ == "__main__":
    raise SystemExit(app.run())
