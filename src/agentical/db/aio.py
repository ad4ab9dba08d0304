"""Awaitable counterparts of the session-level functions, for code on an ``AsyncSession``.

Each is the synchronous function run through ``AsyncSession.run_sync``, so it keeps its
locks, retries and errors exactly; it takes the ``AsyncSession`` where the original takes
a ``Session`` and the same arguments after it::

    from agentical.db import aio

    async with Session() as session:
        playbook = await aio.import_definition(session, definition)
        execution = await aio.create_execution(session, playbook, {"service": "api"},
                                               idempotency_key=request_id)
        await aio.start_execution(session, execution)
        await session.commit()

Adding one is one line: ``name = awaitable(sync_function)``.

What needs no counterpart: the history queries (``agentical.db.history``) and the detail
statements (``agentical.db.details``) are plain ``select()``\\ s to ``await
session.scalars(...)``; ``iter_executions_jsonl`` streams, which ``run_sync`` cannot
(``export_executions_jsonl`` writes the same lines to a file); lifecycle methods
(``start_step``, ``complete_execution``...) and ``to_dict()`` read and write loaded
attributes only. Under asyncio a relationship that is not loaded must be loaded
explicitly (``selectinload``, ``awaitable_attrs``, or the statements of
``agentical.db.details``): ``ready_steps()`` and ``render_parameters()`` read the
execution's ``step_executions``, and a person's ``complete_step(completed_by=...)`` of a
pending manual step its ``execution``. ``playbook.new_execution(..., idempotency_key=...)``
queries the database: use ``create_execution`` here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from agentical.db import history, runs
from agentical.db.models.playbook import (
    Playbook,
)
from agentical.db.models.playbook import (
    claim_ready_steps as _claim_ready_steps,
)
from agentical.db.models.playbook import (
    create_execution as _create_execution,
)
from agentical.db.models.playbook import (
    start_execution as _start_execution,
)
from agentical.db.models.playbook.importing import import_definition as _import_definition

P = ParamSpec("P")
R = TypeVar("R")


def awaitable(
    function: Callable[Concatenate[Session, P], R],
) -> Callable[Concatenate[AsyncSession, P], Coroutine[Any, Any, R]]:
    """``function(session, ...)`` as ``await counterpart(async_session, ...)``."""

    @functools.wraps(function)
    async def counterpart(session: AsyncSession, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await session.run_sync(function, *args, **kwargs)

    counterpart.__doc__ = (
        f"Awaitable ``{function.__qualname__}``, run through ``AsyncSession.run_sync``.\n\n"
        f"{function.__doc__ or ''}"
    )
    return counterpart


import_definition = awaitable(_import_definition)
create_execution = awaitable(_create_execution)
start_execution = awaitable(_start_execution)
claim_ready_steps = awaitable(_claim_ready_steps)
record_run = awaitable(Playbook.record_run)
export_executions_jsonl = awaitable(history.export_executions_jsonl)
purge_executions = awaitable(history.purge_executions)
page_of = awaitable(history.page_of)
counts_by_status = awaitable(history.counts_by_status)
complete_step = awaitable(runs.complete_step)
fail_step = awaitable(runs.fail_step)
heartbeat = awaitable(runs.heartbeat)
release_step = awaitable(runs.release_step)
approve_step = awaitable(runs.approve_step)
reject_step = awaitable(runs.reject_step)
pause_execution = awaitable(runs.pause_execution)
resume_execution = awaitable(runs.resume_execution)
cancel_execution = awaitable(runs.cancel_execution)
enforce_timeouts = awaitable(runs.enforce_timeouts)
retry_step = awaitable(runs.retry_step)

__all__ = [
    "approve_step",
    "awaitable",
    "cancel_execution",
    "claim_ready_steps",
    "complete_step",
    "counts_by_status",
    "create_execution",
    "enforce_timeouts",
    "export_executions_jsonl",
    "fail_step",
    "heartbeat",
    "import_definition",
    "page_of",
    "pause_execution",
    "purge_executions",
    "record_run",
    "reject_step",
    "release_step",
    "resume_execution",
    "retry_step",
    "start_execution",
]
