"""A worker declaring a field of every type of the format, shared by the tests of declared configuration."""

from __future__ import annotations

import json

from arkworker import Field, Worker

MODEL_ID = "7e57ab1e-0000-4000-8000-0000000000a1"
VERSION_ID = "7e57ab1e-0000-4000-8000-0000000000a2"
EXPORT_ID = "7e57ab1e-0000-4000-8000-0000000000a3"

#: One field of each type, with and without defaults, a list, a fixed value and a group.
ALL_FIELDS = [
    Field("flag", type=bool, default=False),
    Field("labels", type=dict, default={"a": "b"}),
    Field("mode", choices=["fast", "accurate"], default="fast"),
    Field("threshold", type=float, default=0.5, help="Minimal confidence."),
    Field("size", type=int, required=True),
    Field("prefix", default="Text of"),
    Field("notes", type="text"),
    Field("token", type="secret", required=True),
    Field("model", type="model"),
    Field("types", type="element_type", many=True),
    Field("version", type="worker_version"),
    Field("export", type="corpus_export"),
    Field("bucket", type="s3_bucket"),
    Field("scales", type=float, many=True, default=[1.0]),
    Field("fixed", type=int, editable=False, default=4),
    Field("advanced", children=[Field("dropout", default=0.1), Field("layers", type=int)]),
]

#: Good values of every field, as a worker run's configuration gives them; some need converting.
GOOD_VALUES = {
    "flag": True,
    "labels": {"x": "y"},
    "mode": "accurate",
    "threshold": 1,
    "size": "3",
    "prefix": "P",
    "notes": "two\nlines",
    "token": "creds.json",
    "model": MODEL_ID,
    "types": ["page", "line"],
    "version": VERSION_ID,
    "export": EXPORT_ID,
    "bucket": "my-bucket",
    "scales": [2, "0.5"],
    "advanced.dropout": "0.2",
}

#: What ``ctx.config`` holds for GOOD_VALUES (the secret: as loaded), in the declaration's order.
GOOD_CONFIG = {
    "flag": True,
    "labels": {"x": "y"},
    "mode": "accurate",
    "threshold": 1.0,
    "size": 3,
    "prefix": "P",
    "notes": "two\nlines",
    "token": {"user": "demo"},
    "model": MODEL_ID,
    "types": ["page", "line"],
    "version": VERSION_ID,
    "export": EXPORT_ID,
    "bucket": "my-bucket",
    "scales": [2.0, 0.5],
    "fixed": 4,
    "advanced.dropout": 0.2,
    "advanced.layers": None,
}

#: The secret the token field names.
CREDS = {"creds.json": json.dumps({"user": "demo"})}

#: A bad value of every type (None: the key left out), and the line that refuses it.
BAD_VALUES = [
    ("flag", "maybe", "flag is 'maybe' (str), expected true or false (bool field)"),
    ("labels", {"a": 1}, "labels is {'a': 1} (dict), expected a mapping of text to text (dict field)"),
    ("mode", "slow", "mode is 'slow' (str), expected one of fast, accurate (enum field)"),
    ("threshold", "high", "threshold is 'high' (str), expected a number (float field)"),
    ("size", 3.5, "size is 3.5 (float), expected a whole number (int field)"),
    ("size", None, "size is required and has no value"),
    ("prefix", 3, "prefix is 3 (int), expected text (string field)"),
    ("notes", ["a"], "notes is ['a'] (list), expected text (text field)"),
    ("token", None, "token is required and has no value"),
    ("model", 7, "model is 7 (int), expected the id of a model, as text (model field)"),
    ("types", "page", "types is 'page' (str), expected a list of element type slugs (element_type field)"),
    (
        "types",
        ["page", 2],
        "types[1] is 2 (int), expected the slug of an element type, as text (element_type field)",
    ),
    (
        "version",
        12,
        "version is 12 (int), expected the id of a worker version, as text (worker_version field)",
    ),
    (
        "export",
        False,
        "export is False (bool), expected the id of a corpus export, as text (corpus_export field)",
    ),
    ("bucket", 5, "bucket is 5 (int), expected the name of an S3 bucket, as text (s3_bucket field)"),
    ("scales", [1, "x"], "scales[1] is 'x' (str), expected a number (float field)"),
    ("advanced.dropout", "x", "advanced.dropout is 'x' (str), expected a number (float field)"),
]


def bad(key: str, value: object) -> dict[str, object]:
    """GOOD_VALUES with ``key`` set to ``value`` (left out when None)."""
    values = {name: item for name, item in GOOD_VALUES.items() if name != key}
    if value is not None:
        values[key] = value
    return values


def recording_app(seen: list[dict[str, object]], name: str = "all-types") -> Worker:
    """A worker declaring ALL_FIELDS whose setup records ``ctx.config``."""
    app = Worker(name, configuration=ALL_FIELDS)
    app.setup(lambda ctx: seen.append(dict(ctx.config)))
    app.element(lambda element: None)
    return app
