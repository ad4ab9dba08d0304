"""``/executions``: create (idempotent), list by keyset pages, show, cancel, pause, resume.

Creating answers 201 with the new execution; the same ``Idempotency-Key`` with the same
body answers 200 with the execution it made; with another body, 409.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy.orm import Session

from agentical.api.bodies import CancelBody, ExecutionCreate
from agentical.api.lookup import find_execution
from agentical.api.paging import Cursor, Limit, page_of
from agentical.api.wiring import Caller, Wiring
from agentical.db import history, runs
from agentical.db.details import execution_detail
from agentical.db.lookups import find_playbook
from agentical.db.models.playbook import (
    ExecutionDetailRead,
    ExecutionStatus,
    PlaybookExecution,
    PlaybookExecutionRead,
    create_execution,
)
from agentical.db.models.playbook.idempotency import IDEMPOTENCY_KEY_MAX_LENGTH

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        description="Repeat a request with the same key and body: the same execution.",
    ),
]


class ExecutionPage(BaseModel):
    """One page, newest first; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[PlaybookExecutionRead]
    next_cursor: str | None


@contextmanager
def inserted_objects(session: Session) -> Iterator[set[int]]:
    """The ``id()`` of every object this session inserts inside the block."""
    seen: set[int] = set()

    def note(_session: Session, instance: Any) -> None:
        seen.add(id(instance))

    event.listen(session, "pending_to_persistent", note)
    try:
        yield seen
    finally:
        event.remove(session, "pending_to_persistent", note)


def detail_response(session: Session, execution_id: str, status_code: int = 200) -> JSONResponse:
    execution = find_execution(session, execution_id, detail=True)
    return JSONResponse(execution_detail(execution), status_code=status_code)


def add_routes(router: APIRouter, wiring: Wiring) -> None:
    @router.post(
        "/playbooks/{name}/executions",
        status_code=201,
        response_model=ExecutionDetailRead,
        responses={200: {"model": ExecutionDetailRead, "description": "A replayed request"}},
        summary="Create an execution (and start it), idempotent under Idempotency-Key",
    )
    def create(
        name: str,
        body: ExecutionCreate = Body(default_factory=ExecutionCreate),
        idempotency_key: IdempotencyKey = None,
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        playbook = find_playbook(session, name, body.version)
        person = caller.person(body.by)
        with caller.acting(person):
            with inserted_objects(session) as inserted:
                execution = create_execution(
                    session,
                    playbook,
                    body.inputs,
                    triggered_by="api",
                    idempotency_key=idempotency_key,
                )
            is_new = id(execution) in inserted
            if is_new and body.start:
                runs.start_execution(session, execution, started_by=person)
            session.commit()
        return detail_response(session, execution.execution_id, 201 if is_new else 200)

    @router.get("/executions", response_model=ExecutionPage, summary="Executions, newest first")
    def list_executions(
        session: Session = wiring.session,
        playbook_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
        status: ExecutionStatus | None = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Response:
        statement = (
            history.recent_executions(status)
            if playbook_id is None
            else history.executions_by_status(playbook_id, status)
        )
        page = page_of(session, statement, cursor, limit)
        items = [execution.to_dict() for execution in page.items]
        return JSONResponse({"items": items, "next_cursor": page.next_cursor})

    @router.get(
        "/executions/{execution_id}",
        response_model=ExecutionDetailRead,
        summary="An execution with its step runs (secrets masked)",
    )
    def get_execution(execution_id: str, session: Session = wiring.session) -> Response:
        return detail_response(session, execution_id)

    def control(
        session: Session,
        caller: Caller,
        execution_id: str,
        act: Callable[[PlaybookExecution], None],
    ) -> Response:
        with caller.acting():
            act(find_execution(session, execution_id))
            session.commit()
        return detail_response(session, execution_id)

    @router.post(
        "/executions/{execution_id}/cancel",
        response_model=ExecutionDetailRead,
        summary="Cancel: pending and claimed steps are skipped",
    )
    def cancel(
        execution_id: str,
        body: CancelBody = Body(default_factory=CancelBody),
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        return control(
            session, caller, execution_id, lambda e: runs.cancel_execution(session, e, body.reason)
        )

    @router.post(
        "/executions/{execution_id}/pause",
        response_model=ExecutionDetailRead,
        summary="Pause: nothing more is claimed until it resumes",
    )
    def pause(
        execution_id: str, session: Session = wiring.session, caller: Caller = wiring.caller
    ) -> Response:
        return control(session, caller, execution_id, lambda e: runs.pause_execution(session, e))

    @router.post(
        "/executions/{execution_id}/resume", response_model=ExecutionDetailRead, summary="Resume"
    )
    def resume(
        execution_id: str, session: Session = wiring.session, caller: Caller = wiring.caller
    ) -> Response:
        return control(session, caller, execution_id, lambda e: runs.resume_execution(session, e))
