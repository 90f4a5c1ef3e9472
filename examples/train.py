"""A training worker: learn the element types of a dataset's sets, then publish the model.

A dataset worker that reads every set of its process (train, dev, test...), "trains" a tiny
model (how often each element type appears in each set) once all sets are read, writes it
into a model directory and publishes it as a new version of an Arkindex model. Try it on
the demo sandbox, which has a model for it:

    arkworker run examples/train.py --sandbox --model-id 7e57ab1e-0000-4000-8000-00000000d3a0

Training happens in ``@app.finish``, after the loop, with the run's result: the reference's
training workers overrode ``run()`` for this.
"""

import json
from collections import Counter

from arkworker import Worker

app = Worker("train-types", description="Learns element type frequencies and publishes them as a model.")


@app.option(
    "--model-id", help="The Arkindex model to publish a version of (default: $model_id of the config)."
)
@app.option("--tag", help="The tag of the new model version.")
@app.setup
def start(ctx):
    ctx.state.types = {}  # set name -> Counter of element types


@app.dataset_set
def read(dataset_set, ctx):
    types = Counter(element.type for element in ctx.list_set_elements(dataset_set))
    ctx.state.types.setdefault(dataset_set.name, Counter()).update(types)
    ctx.logger.info("%s: %d elements", dataset_set, sum(types.values()))


@app.finish
def train_and_publish(result, ctx):
    if result.failed:
        raise RuntimeError(f"{result.failed} set(s) could not be read: not training on part of the data")
    model_id = ctx.args.model_id or ctx.config.get("model_id") or ctx.model_details.get("id")
    if not model_id:
        raise RuntimeError("No model to publish to: give --model-id, or set model_id in the configuration")
    total = Counter()
    for counts in ctx.state.types.values():
        total.update(counts)
    model = {
        "sets": {name: dict(sorted(counts.items())) for name, counts in ctx.state.types.items()},
        "frequencies": {kind: count / sum(total.values()) for kind, count in sorted(total.items())},
    }
    model_dir = ctx.work_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "types.json").write_text(json.dumps(model, indent=2) + "\n")
    ctx.logger.info("Trained on %d sets: %s", len(ctx.state.types), model["frequencies"])
    ctx.publish_model_version(
        model_dir,
        model_id,
        tag=ctx.args.tag,
        description="Element type frequencies",
        configuration={"sets": sorted(ctx.state.types)},
        parent=ctx.model_version_id if ctx.is_finetuning else None,
    )


if __name__ == "__main__":
    raise SystemExit(app.run())
