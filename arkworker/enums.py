"""Enumerations of values the Arkindex API accepts, importable from :mod:`arkworker`."""

from __future__ import annotations

from enum import Enum


class ActivityState(Enum):
    """States of a worker activity; a worker only sends started, then processed or error."""

    Queued = "queued"
    Started = "started"
    Processed = "processed"
    Error = "error"


class TextOrientation(Enum):
    """The writing direction of a transcription (``ctx.create_transcription(..., orientation=)``)."""

    HorizontalLeftToRight = "horizontal-lr"
    HorizontalRightToLeft = "horizontal-rl"
    VerticalRightToLeft = "vertical-rl"
    VerticalLeftToRight = "vertical-lr"


class MetaType(Enum):
    """The type of an element's metadata (``ctx.create_metadata(element, MetaType.Text, ...)``)."""

    Text = "text"
    HTML = "html"
    Date = "date"
    Location = "location"
    Reference = "reference"
    Numeric = "numeric"
    URL = "url"


class ClassificationState(Enum):
    """The moderation state of a classification, as Arkindex returns it."""

    Pending = "pending"
    Validated = "validated"
    Rejected = "rejected"


class DatasetState(Enum):
    """States of a dataset; only a complete dataset's sets can be processed."""

    Open = "open"
    Building = "building"
    Complete = "complete"
    Error = "error"
