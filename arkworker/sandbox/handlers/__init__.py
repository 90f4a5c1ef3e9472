"""The sandbox's handlers, one module per family of operations.

Importing this package registers every handler and every table so that the server, the
schema and the store see them all. A family's module declares its own tables (``@register``)
next to its handlers (``@handles("OperationId")``); the core tables that several families
refer to are in :mod:`arkworker.sandbox.tables`. To add a family, write its module and
import it below.
"""

from arkworker.sandbox.handlers import (
    artifacts,
    classifications,
    dataset_writes,
    datasets,
    element_writes,
    elements,
    embeddings,
    entities,
    exports,
    metadata,
    models,
    process,
    process_elements,
    secrets,
    tasks,
    transcriptions,
)
from arkworker.sandbox.handlers.base import HANDLERS, handles

__all__ = [
    "HANDLERS",
    "artifacts",
    "classifications",
    "dataset_writes",
    "datasets",
    "element_writes",
    "elements",
    "embeddings",
    "entities",
    "exports",
    "handles",
    "implemented_operations",
    "metadata",
    "models",
    "process",
    "process_elements",
    "secrets",
    "tasks",
    "transcriptions",
]


def implemented_operations() -> list[str]:
    """The coverage list: operationIds that have a handler, sorted."""
    return sorted(HANDLERS)
