"""``/playbooks``: import a YAML or JSON definition, list, show, export, publish, archive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from agentical.api.errors import FieldError
from agentical.api.wiring import Caller, Wiring
from agentical.db.details import playbook_detail
from agentical.db.lookups import find_playbook, latest_versions
from agentical.db.models.playbook import (
    Playbook,
    PlaybookCategory,
    PlaybookDetailRead,
    PlaybookRead,
    PlaybookStatus,
    load_definition,
)
from agentical.db.models.playbook.importing import import_definition

Version = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="A version (default: the latest).")
]
DEFINITION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A playbook definition (see playbook.schema.json), YAML or JSON.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}
EXPORT_TYPES = {"yaml": "application/yaml", "json": "application/json"}


def detail_response(session: Session, playbook_id: int, status_code: int = 200) -> JSONResponse:
    playbook = session.scalars(Playbook.select_full().where(Playbook.id == playbook_id)).one()
    return JSONResponse(playbook_detail(playbook), status_code=status_code)


def add_routes(router: APIRouter, wiring: Wiring) -> None:
    @router.post(
        "/playbooks",
        status_code=201,
        response_model=PlaybookDetailRead,
        openapi_extra=DEFINITION_BODY,
        summary="Import a definition (a new name, or the next version of an existing one)",
    )
    async def import_playbook(
        request: Request,
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
        publish: bool = False,
    ) -> Response:
        body = await request.body()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FieldError("body", f"not UTF-8 text (byte {error.start})") from None
        return await run_in_threadpool(store, session, text, caller, publish)

    def store(session: Session, text: str, caller: Caller, publish: bool) -> Response:
        with caller.acting():
            playbook = import_definition(session, load_definition(text), created_by=caller.actor)
            if publish:
                playbook.publish()
            session.commit()
        return detail_response(session, playbook.id, 201)

    @router.get("/playbooks", response_model=list[PlaybookRead], summary="List playbooks")
    def list_playbooks(
        session: Session = wiring.session,
        status: PlaybookStatus | None = None,
        category: PlaybookCategory | None = None,
        all_versions: Annotated[
            bool, Query(description="Every version, not only the latest.")
        ] = False,
    ) -> Response:
        statement = (
            Playbook.select_full().where(Playbook.is_active.is_(True))
            if all_versions
            else latest_versions(Playbook.select_full())
        )
        if status is not None:
            statement = statement.where(Playbook.status == status)
        if category is not None:
            statement = statement.where(Playbook.category == category)
        playbooks = session.scalars(statement.order_by(Playbook.name, Playbook.version))
        return JSONResponse([playbook.to_dict() for playbook in playbooks])

    @router.get(
        "/playbooks/{name}",
        response_model=PlaybookDetailRead,
        summary="A playbook with its steps and variables (secrets masked)",
    )
    def get_playbook(
        name: str, version: Version = None, session: Session = wiring.session
    ) -> Response:
        return JSONResponse(playbook_detail(find_playbook(session, name, version, full=True)))

    @router.get(
        "/playbooks/{name}/export",
        response_class=Response,
        responses={
            200: {
                "description": "The definition (secrets masked)",
                "content": {
                    media: {"schema": {"type": "string"}} for media in EXPORT_TYPES.values()
                },
            }
        },
        summary="Export a playbook as YAML or JSON",
    )
    def export_playbook(
        name: str,
        version: Version = None,
        format: Literal["yaml", "json"] = "yaml",
        session: Session = wiring.session,
    ) -> Response:
        definition = find_playbook(session, name, version, full=True).to_definition()
        text = definition.to_yaml() if format == "yaml" else definition.to_json()
        return Response(text, media_type=EXPORT_TYPES[format])

    def transition(
        name: str,
        version: int | None,
        session: Session,
        caller: Caller,
        move: Callable[[Playbook], None],
    ) -> Response:
        playbook = find_playbook(session, name, version)
        with caller.acting():
            move(playbook)
            session.commit()
        return detail_response(session, playbook.id)

    @router.post("/playbooks/{name}/publish", response_model=PlaybookDetailRead, summary="Publish")
    def publish_playbook(
        name: str,
        version: Version = None,
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        return transition(name, version, session, caller, Playbook.publish)

    @router.post("/playbooks/{name}/archive", response_model=PlaybookDetailRead, summary="Archive")
    def archive_playbook(
        name: str,
        version: Version = None,
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        return transition(name, version, session, caller, Playbook.archive)
