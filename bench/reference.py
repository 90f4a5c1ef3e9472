"""Where the benchmarks find arkindex-base-worker 0.3.7, the reference they compare with.

The reference is never a dependency of arkworker: it lives in its own virtualenv, made once
with::

    python -m venv bench/.refenv && bench/.refenv/bin/pip install arkindex-base-worker==0.3.7

``$ARKWORKER_REFERENCE_PYTHON`` or ``--reference-python`` point at another interpreter. When
none is found, a benchmark prints arkworker's figures alone and says so.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT = Path(__file__).parent / ".refenv" / "bin" / "python"


def add_reference_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--reference-python`` to a benchmark's command line."""
    parser.add_argument(
        "--reference-python",
        default=os.environ.get("ARKWORKER_REFERENCE_PYTHON", str(DEFAULT)),
        help="Python interpreter of a virtualenv holding arkindex-base-worker 0.3.7.",
    )
