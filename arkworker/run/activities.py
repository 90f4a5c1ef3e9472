"""Element activities: each element's ``started``, ``processed`` or ``error``, as Arkindex records them.

A 409 to ``started`` means another process has the element: the loop skips it. Updates are
repeated under the retry policy like any write that can be; a repeat answered with the
error an earlier, lost, attempt would cause is that attempt's success (see
:data:`_OWN_EARLIER_UPDATE`).
"""

from __future__ import annotations

import logging

from arkindex.exceptions import ErrorResponse

from arkworker.api.client import LANDED_EARLIER
from arkworker.enums import ActivityState
from arkworker.run.context import Context

logger = logging.getLogger("arkworker")

#: The errors that, answered to a repeat of an activity update whose earlier attempt may have
#: been applied (its answer lost), mean that attempt was: ``started`` again is a 409, and
#: ``processed``/``error`` again an invalid transition (400) or a conflict (409).
_OWN_EARLIER_UPDATE = {
    ActivityState.Started: frozenset({409}),
    ActivityState.Processed: frozenset({400, 409}),
    ActivityState.Error: frozenset({400, 409}),
}


def update_activity(ctx: Context, element_id: str, state: ActivityState) -> bool:
    """Report an element's activity; False when another process already started it (409).

    A 409 to ``started`` only means "another process has it" when no earlier attempt of
    this update may have been applied: after a lost answer, it is this run's own ``started``,
    and the element is processed instead of being skipped unprocessed.
    """
    if not ctx.store_activity:
        logger.debug("Activity of element %s not updated to %s: disabled", element_id, state.value)
        return True
    assert ctx.process_information is not None
    try:
        answer = ctx.request(
            "UpdateWorkerActivity",
            id=ctx.worker_run_id,
            body={
                "element_id": str(element_id),
                "process_id": ctx.process_information["id"],
                "state": state.value,
            },
            accept_after_repeat=_OWN_EARLIER_UPDATE[state],
        )
    except ErrorResponse as exc:
        if exc.status_code == 409 and state is ActivityState.Started:
            return False
        logger.warning(
            "Failed to update activity of element %s to %s due to an API error: %s",
            element_id,
            state.value,
            exc.content,
        )
        raise
    if answer is LANDED_EARLIER:
        logger.info(
            "The %s activity of element %s was recorded by an attempt whose answer was lost",
            state.value,
            element_id,
        )
    return True
