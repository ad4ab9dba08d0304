"""Execution history: the documented queries, pages, a streamed JSON-lines export, retention.

Each query function returns a ``select()``: run it with ``session.scalars(...)`` (or
``session.execute(...)`` for the aggregate), add ``limit``/``offset`` or more criteria.
Every one of them is served by an index (of migrations 0001 and 0003) on a history of any
size (``tests/db/test_query_plans.py`` checks the plans on PostgreSQL):

| function | index |
| --- | --- |
| ``executions_by_status`` | ``ix_playbook_executions_playbook_id_status_created_at`` |
| ``failed_executions`` | ``ix_playbook_executions_status_created_at`` |
| ``running_executions`` | ``ix_playbook_executions_status_created_at`` |
| ``recent_executions`` | with a status, ``ix_playbook_executions_status_created_at``;
  without one, ``ix_playbook_executions_created_at`` (migration 0009) |
| ``step_executions_in_order`` | ``ix_playbook_step_executions_execution_id_order`` |
| ``most_failing_steps`` | ``ix_playbook_executions_playbook_id_status_created_at``, then
  ``ix_playbook_step_executions_execution_id_status`` |

``page_of`` pages the newest-first queries by keyset (an opaque cursor), served by the
same indexes and by ``ix_playbook_executions_playbook_id_created_at`` (migration 0005) for
one playbook's runs of every status; ``execution_counts_by_status`` reads
``ix_playbook_executions_playbook_id_status_created_at`` alone.

``audit_trail`` reads the audit trail (``agentical.db.models.audit``), newest first, by
playbook, execution, actor or action, each through its ``(..., created_at, id)`` index.

Retention (``purge_executions``) deletes finished executions in batches, each its own
transaction; see ``agentical.db.history.retention``.
"""

from agentical.db.history.audit import audit_trail
from agentical.db.history.export import export_executions_jsonl, iter_executions_jsonl
from agentical.db.history.pagination import (
    Page,
    counts_by_status,
    decode_cursor,
    encode_cursor,
    execution_counts_by_status,
    page_of,
    page_statement,
)
from agentical.db.history.queries import (
    executions_by_status,
    failed_executions,
    most_failing_steps,
    recent_executions,
    running_executions,
    step_executions_in_order,
)
from agentical.db.history.retention import PurgeResult, purge_executions

__all__ = [
    "Page",
    "PurgeResult",
    "audit_trail",
    "counts_by_status",
    "decode_cursor",
    "encode_cursor",
    "execution_counts_by_status",
    "executions_by_status",
    "export_executions_jsonl",
    "failed_executions",
    "iter_executions_jsonl",
    "most_failing_steps",
    "page_of",
    "page_statement",
    "purge_executions",
    "recent_executions",
    "running_executions",
    "step_executions_in_order",
]
