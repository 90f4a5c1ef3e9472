"""Result helpers on ``ctx``: one mixin per family, named and shaped like arkindex-base-worker's.

Each family (transcriptions, elements, classifications, entities, metadata, worker
versions, datasets, tasks, embeddings) is a mixin class that :class:`arkworker.run.context.Context`
inherits, so porting a worker is replacing ``self.`` with ``ctx.``. Every write helper validates its arguments
first (:class:`arkworker.errors.InvalidArgument`, before any request), writes nothing in
read-only mode, sends the current worker run, and then updates the cache if the run has one.

The helpers of both Arkindex generations are there (0.3.7's, and those of 0.4 to 0.6): one
whose body differs follows ``ctx.api_level``, and one whose operation the instance lacks
raises :class:`arkworker.errors.OperationUnavailable` before any request.
"""
