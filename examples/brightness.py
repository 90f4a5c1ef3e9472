"""Brightness: classify pages as dark or light from the mean intensity of their pixels.

A worker that uses the pixels of its elements. Try it on the demo corpus (its third page
is dark paper) or on a folder of your own scans, with no Arkindex instance:

    arkworker run examples/brightness.py --sandbox
    arkworker run examples/brightness.py --sandbox path/to/scans/

Each page gets a ``dark`` or ``light`` classification, and the run writes a report,
``brightness.json``, in the work directory (``$XDG_DATA_HOME/arkindex``, or
``$PONOS_DATA/current`` in an Arkindex task; a temporary one on a sandbox, which
``--keep`` keeps: ``arkworker run examples/brightness.py --sandbox --keep``).
"""

import json

from PIL import ImageStat

from arkworker import Worker

app = Worker("brightness", description="Classifies pages as dark or light from their mean intensity.")


@app.setup
def start_report(ctx):
    # Per page: its name, mean grey level (0 black to 255 white) and class.
    ctx.state.report = {}


@app.option(
    "--threshold",
    type=float,
    default=128.0,
    show_default=True,
    help="Mean grey level below which a page is dark.",
)
@app.option(
    "--max-size",
    type=int,
    default=512,
    show_default=True,
    help="Largest side of the image analysed, in pixels.",
)
@app.element
def classify(element, ctx):
    # A downscaled grey image is plenty for a mean, and much faster to download.
    image = element.open_image("L", max_width=ctx.args.max_size, max_height=ctx.args.max_size)
    mean = ImageStat.Stat(image).mean[0]
    label = "dark" if mean < ctx.args.threshold else "light"
    ctx.logger.info("%s is %s (mean intensity %.1f)", element, label, mean)
    # The further from the threshold, the surer: 0.5 at the threshold, 1 a full range away.
    confidence = round(min(1.0, 0.5 + abs(mean - ctx.args.threshold) / 255), 2)
    ctx.create_classification(element, ml_class=label, confidence=confidence)
    ctx.state.report[str(element.id)] = {
        "name": element.name,
        "mean_intensity": round(mean, 1),
        "class": label,
    }


@app.teardown
def write_report(ctx):
    path = ctx.work_dir / "brightness.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ctx.state.report, indent=2) + "\n", encoding="utf-8")
    ctx.logger.info("Wrote the report of %d pages to %s", len(ctx.state.report), path)


if __name__ == "__main__":
    raise SystemExit(app.run())
