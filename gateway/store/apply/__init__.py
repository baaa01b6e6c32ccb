"""Apply what a sync source currently says to the identity store (rules 1-10).

Both the Graph sync and the SCIM server call this one engine. A batch is loaded
into session-local staging tables (streamed, page by page if the caller likes)
and then applied in one transaction with set-based SQL. The audit entries that
transaction writes are the change set: a dry run applies, reads them back and
rolls back, so its diff is exact by construction.

Two kinds of batch:

* a **snapshot** says "this is everything source S has for tenant T". It stages
  only what differs from the store and, when the read was ``complete``, names
  what is gone (rule 10: absence is evidence only after a complete read);
* a **change batch** names upserts and removals explicitly (Graph delta pages,
  SCIM requests) and never infers removal from absence.

Modules: ``batch`` stages, ``run`` orders the steps of ``user_steps``,
``group_steps`` and ``team_steps``, which share the SQL helpers of ``sql``.
"""

from gateway.store.apply.batch import SyncBatch, apply_changes, apply_state, sync_batch
from gateway.store.apply.results import (
    ApplyOptions,
    ApplyResult,
    ApplyStatus,
    Change,
    StaleSnapshotError,
)

__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "ApplyStatus",
    "Change",
    "StaleSnapshotError",
    "SyncBatch",
    "apply_changes",
    "apply_state",
    "sync_batch",
]
