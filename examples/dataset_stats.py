"""Dataset statistics: count the elements of each dataset set, then write a small report.

A dataset worker: it runs once per dataset set (train, dev, test...) instead of once per
element. Try it on the demo sandbox, whose process runs on the sets of a demo dataset:

    arkworker run examples/dataset_stats.py --sandbox

The report is written at the end of the run into the work directory, as
``dataset-stats.json`` and ``dataset-stats.md``.
"""

import json
from collections import Counter

from arkworker import Worker

app = Worker("dataset-stats", description="Counts the elements of each dataset set and writes a report.")


@app.setup
def start(ctx):
    # dataset name → set name → statistics, filled set after set, written by the teardown.
    ctx.state.statistics = {}


@app.dataset_set
def count(dataset_set, ctx):
    types = Counter(element.type for element in ctx.list_set_elements(dataset_set))
    dataset = dataset_set.dataset
    ctx.state.statistics.setdefault(dataset.name, {})[dataset_set.name] = {
        "elements": sum(types.values()),
        "types": dict(sorted(types.items())),
    }
    ctx.logger.info("%s: %d elements", dataset_set, sum(types.values()))


@app.teardown
def write_report(ctx):
    statistics = ctx.state.statistics
    if not statistics:
        return
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    (ctx.work_dir / "dataset-stats.json").write_text(json.dumps(statistics, indent=2) + "\n")
    lines = ["| Dataset | Set | Elements | Types |", "| --- | --- | ---: | --- |"]
    for dataset, sets in statistics.items():
        for name, stats in sets.items():
            types = ", ".join(f"{kind}: {number}" for kind, number in stats["types"].items()) or "-"
            lines.append(f"| {dataset} | {name} | {stats['elements']} | {types} |")
    (ctx.work_dir / "dataset-stats.md").write_text("\n".join(lines) + "\n")
    ctx.logger.info("Report written to %s", ctx.work_dir / "dataset-stats.md")


if __name__ == "__main__":
    raise SystemExit(app.run())
