"""Enumerations of values the Arkindex API accepts, importable from :mod:`arkworker`."""

from __future__ import annotations

from enum import Enum


class ApiLevel(Enum):
    """The Arkindex generation a run speaks to (``--api-level``; see :mod:`arkworker.run.generation`)."""

    #: Arkindex as arkindex-base-worker 0.3.7 knew it: configuration from the worker version.
    LEGACY = "legacy"
    #: Today's (base-worker 0.4 to 0.6): worker run configuration, the process queue, process modes.
    CURRENT = "current"


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
    #: A legacy instance's; today's Arkindex has Markdown instead (arkindex-base-worker 0.5.1).
    HTML = "html"
    #: Today's Arkindex's, in place of HTML.
    Markdown = "markdown"
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
