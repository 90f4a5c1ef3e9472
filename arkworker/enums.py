"""Enumerations of values the Arkindex API accepts, importable from :mod:`arkworker`."""

from __future__ import annotations

from enum import Enum


class ActivityState(Enum):
    """States of a worker activity; a worker only sends started, then processed or error."""

    Queued = "queued"
    Started = "started"
    Processed = "processed"
    Error = "error"


class DatasetState(Enum):
    """States of a dataset; only a complete dataset's sets can be processed."""

    Open = "open"
    Building = "building"
    Complete = "complete"
    Error = "error"
