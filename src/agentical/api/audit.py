"""The audit trail: ``/audit`` (filtered by actor, action, time), an execution's
(``/executions/{execution_id}/audit``) and a playbook's (``/playbooks/{name}/audit``,
every version or one). Newest first, in keyset pages; each page is one SELECT.

An execution's or a playbook's trail is answered even when the execution was purged or
the playbook deleted: the trail outlives what it speaks about (an unknown one has an
empty trail, not a 404).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import Session

from agentical.api.errors import FieldError
from agentical.api.paging import Cursor, Limit, page_of
from agentical.api.wiring import Wiring
from agentical.db.audit import ACTOR_MAX_LENGTH, AuditAction, check_actor
from agentical.db.errors import InvalidInputError
from agentical.db.history import audit_trail
from agentical.db.models.audit import AuditEntry
from agentical.db.schemas.audit import AuditEntryRead


class AuditPage(BaseModel):
    """One page, newest first; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[AuditEntryRead]
    next_cursor: str | None


@dataclass(frozen=True)
class TrailFilter:
    actor: str | None
    actions: list[AuditAction] | None
    since: AwareDatetime | None
    limit: int
    cursor: str | None


def trail_filter(
    actor: Annotated[
        str | None, Query(max_length=ACTOR_MAX_LENGTH, description="Only what this person did.")
    ] = None,
    action: Annotated[
        list[AuditAction] | None, Query(description="Only these actions (repeat it for more).")
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Only entries from this time on (with a zone).")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> TrailFilter:
    if actor is not None:
        try:
            actor = check_actor(actor)
        except InvalidInputError as error:
            raise FieldError("actor", str(error).removeprefix("actor ")) from None
    return TrailFilter(actor, action or None, since, limit, cursor)


Filter = Annotated[TrailFilter, Depends(trail_filter)]


def _page(
    session: Session, narrowed: TrailFilter, statement: Select[AuditEntry] | None
) -> Response:
    """A page of ``statement`` (``None``: a subject no stored text can name, an empty
    trail without a query)."""
    if statement is None:
        return JSONResponse({"items": [], "next_cursor": None})
    page = page_of(session, statement, narrowed.cursor, narrowed.limit)
    items = [entry.to_dict() for entry in page.items]
    return JSONResponse({"items": items, "next_cursor": page.next_cursor})


def _trail(
    narrowed: TrailFilter, *, playbook: str | None = None, execution: str | None = None
) -> Select[AuditEntry] | None:
    # A NUL is in no stored text, and PostgreSQL refuses one in a query.
    if any("\x00" in (text or "") for text in (playbook, execution)):
        return None
    return audit_trail(
        playbook=playbook,
        execution=execution,
        actor=narrowed.actor,
        action=narrowed.actions,
        since=narrowed.since,
    )


def add_routes(router: APIRouter, wiring: Wiring) -> None:
    @router.get("/audit", response_model=AuditPage, summary="The audit trail, newest first")
    def whole_trail(narrowed: Filter, session: Session = wiring.session) -> Response:
        return _page(session, narrowed, _trail(narrowed))

    @router.get(
        "/executions/{execution_id}/audit",
        response_model=AuditPage,
        summary="An execution's audit trail: who started, decided, paused, ended it",
    )
    def execution_trail(
        execution_id: str, narrowed: Filter, session: Session = wiring.session
    ) -> Response:
        return _page(session, narrowed, _trail(narrowed, execution=execution_id))

    @router.get(
        "/playbooks/{name}/audit",
        response_model=AuditPage,
        summary="A playbook's audit trail (every version, or one)",
    )
    def playbook_trail(
        name: str,
        narrowed: Filter,
        version: Annotated[
            int | None, Query(ge=1, le=2**31 - 1, description="Only this version's entries.")
        ] = None,
        session: Session = wiring.session,
    ) -> Response:
        statement = _trail(narrowed, playbook=name)
        if statement is not None and version is not None:
            statement = statement.where(AuditEntry.playbook_version == version)
        return _page(session, narrowed, statement)
