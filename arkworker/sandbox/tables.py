"""The sandbox's core tables: the corpus, its elements and transcriptions, the worker run and its process.

Core tables are those several handler families refer to. A family's own tables live in
its handler module (``handlers/classifications.py``, ``handlers/datasets.py``,
``handlers/tasks.py``...), registered with :func:`~arkworker.sandbox.store.register` like
these; :mod:`arkworker.sandbox.store` describes the conventions every table follows.
"""

from __future__ import annotations

from peewee import AutoField, BooleanField, CharField, FloatField, ForeignKeyField, IntegerField, TextField

from arkworker.sandbox.store import BaseModel, JSONField, UUIDKey, now, register


@register
class Corpus(BaseModel):
    id = UUIDKey()
    name = CharField()
    description = TextField(default="")
    public = BooleanField(default=False)
    created = CharField(default=now)

    class Meta:
        table_name = "corpora"


@register
class ElementType(BaseModel):
    id = UUIDKey()
    corpus = ForeignKeyField(Corpus)
    corpus_id: str
    slug = CharField()
    display_name = CharField()
    folder = BooleanField(default=False)
    color = CharField(default="28b62c")

    class Meta:
        table_name = "element_types"
        indexes = ((("corpus", "slug"), True),)


@register
class Image(BaseModel):
    """An image; ``url`` NULL means "served by the sandbox itself" (``<sandbox url>/iiif/<id>``).

    The sandbox URL is only known once a server is listening (the port may be picked by the
    system, and a reused state file outlives the port), so it is resolved per request.
    ``path`` is a local file the sandbox's own IIIF endpoint will serve.
    """

    id = UUIDKey()
    name = CharField(null=True, unique=True)
    url = CharField(null=True)
    width = IntegerField()
    height = IntegerField()
    s3_url = CharField(null=True)
    max_width = IntegerField(null=True)
    max_height = IntegerField(null=True)
    path = CharField(null=True)

    class Meta:
        table_name = "images"


@register
class Element(BaseModel):
    worker_output = True
    noun = "element"

    id = UUIDKey()
    corpus = ForeignKeyField(Corpus)
    corpus_id: str
    type = CharField()
    name = CharField()
    image = ForeignKeyField(Image, null=True)
    image_id: str | None
    polygon = JSONField(null=True)
    rotation_angle = IntegerField(default=0)
    mirrored = BooleanField(default=False)
    confidence = FloatField(null=True)
    worker_version_id = CharField(null=True)
    worker_run_id = CharField(null=True)
    created = CharField(default=now)

    class Meta:
        table_name = "elements"


@register
class ElementPath(BaseModel):
    """A parent → child link; ``ordering`` is the child's position among its parent's children."""

    id = AutoField()
    parent = ForeignKeyField(Element)
    parent_id: str
    child = ForeignKeyField(Element)
    child_id: str
    ordering = IntegerField()

    class Meta:
        table_name = "element_paths"
        indexes = ((("parent", "child"), True),)


@register
class Worker(BaseModel):
    id = UUIDKey()
    name = CharField()
    slug = CharField()
    type = CharField(default="worker")

    class Meta:
        table_name = "workers"


@register
class WorkerVersion(BaseModel):
    id = UUIDKey()
    worker = ForeignKeyField(Worker)
    worker_id: str
    configuration = JSONField(default=dict)

    class Meta:
        table_name = "worker_versions"


@register
class Process(BaseModel):
    """A process; ``element_ids`` is the ordered list of elements it runs on.

    ``skip_elements_json`` true means the workers take their elements from the queue
    (StartWorkerActivity) instead of a JSON list; NULL means the field is not sent at all, as
    by an instance that predates it (which current workers also read as the queue).
    """

    id = UUIDKey()
    name = CharField()
    corpus = ForeignKeyField(Corpus, null=True)
    corpus_id: str | None
    mode = CharField(default="workers")
    activity_state = CharField(default="ready")
    skip_elements_json = BooleanField(null=True, default=False)
    element_ids = JSONField(default=list)

    class Meta:
        table_name = "processes"


@register
class WorkerRun(BaseModel):
    """A worker run; ``model_version`` and ``configuration`` are stored as served (or NULL).

    ``configuration_items`` is what RetrieveWorkerRunConfiguration answers: the run's
    configuration resolved against its version's fields, ``[{key, value, secret}]``.
    """

    id = UUIDKey()
    process = ForeignKeyField(Process)
    process_id: str
    version = ForeignKeyField(WorkerVersion)
    version_id: str
    summary = CharField()
    model_version = JSONField(null=True)
    configuration = JSONField(null=True)
    configuration_items = JSONField(default=list)

    class Meta:
        table_name = "worker_runs"


@register
class Activity(BaseModel):
    id = UUIDKey()
    worker_run = ForeignKeyField(WorkerRun)
    worker_run_id: str
    element = ForeignKeyField(Element)
    element_id: str
    process = ForeignKeyField(Process)
    process_id: str
    state = CharField()
    updated = CharField(default=now)

    class Meta:
        table_name = "activities"
        indexes = ((("worker_run", "element"), True),)


@register
class Transcription(BaseModel):
    worker_output = True
    noun = "transcription"

    id = UUIDKey()
    element = ForeignKeyField(Element)
    element_id: str
    text = TextField()
    confidence = FloatField(null=True)
    orientation = CharField(default="horizontal-lr")
    worker_version_id = CharField(null=True)
    worker_run_id = CharField(null=True)
    created = CharField(default=now)

    class Meta:
        table_name = "transcriptions"
