"""Result helpers on ``ctx``: one mixin per family, named and shaped like arkindex-base-worker's.

Each family (transcriptions, elements, classifications, entities, metadata, worker
versions, datasets, tasks) is a mixin class that :class:`arkworker.run.context.Context`
inherits, so porting a worker is replacing ``self.`` with ``ctx.``. Every write helper validates its arguments
first (:class:`arkworker.errors.InvalidArgument`, before any request), writes nothing in
read-only mode, sends the current worker run, and then updates the cache if the run has one.
"""
