"""Record what teklia-worker-configuration 0.2.4 says of each case of ``cases.yml`` into ``vectors.json``.

Run it in a virtualenv holding the validator (never a dependency of arkworker)::

    python -m venv /tmp/validator && /tmp/validator/bin/pip install teklia-worker-configuration==0.2.4
    /tmp/validator/bin/python tests/data/declarations/record_vectors.py

Each case's file is written to a temporary folder and read by the validator's own
``validate_file``, as ``arkindex worker import`` does. A vector holds the file's text and
the error lines (``[]`` when the file is valid), or ``crash`` when the validator itself fails
on the file: arkworker then gives its own lines (see ``tests/test_manifest.py``).
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import yamale
import yaml
from worker_configuration.validator import validate_file

HERE = Path(__file__).parent
WORKER = {
    "slug": "test",
    "display_name": "Test",
    "type": "Transcription",
    "description": "Details about worker",
}


def text_of(case: dict) -> str:
    if "text" in case:
        return case["text"]
    document = {**WORKER, **case["document"]} if case.get("worker") else case["document"]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def record(case: dict, folder: Path) -> dict:
    text = text_of(case)
    path = folder / "worker.yml"
    path.write_text(text, encoding="utf-8")
    vector = {"name": case["name"], "text": text}
    try:
        validate_file(path)
        vector["errors"] = []
    except yamale.YamaleError as exc:
        vector["errors"] = list(exc.results[0].errors)
    except Exception as exc:  # the validator's own failure: recorded, not hidden
        vector["crash"] = f"{type(exc).__name__}: {exc}"
    return vector


def main() -> int:
    cases = yaml.safe_load((HERE / "cases.yml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as folder:
        vectors = [record(case, Path(folder)) for case in cases]
    output = {
        "validator": f"teklia-worker-configuration {metadata.version('teklia-worker-configuration')}",
        "vectors": vectors,
    }
    (HERE / "vectors.json").write_text(
        json.dumps(output, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"Recorded {len(vectors)} vectors in {HERE / 'vectors.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
