"""``/templates``: list, show, save a playbook as a template, make a playbook from one."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agentical.api.bodies import TemplateCreate, TemplateInstantiate
from agentical.api.errors import NameTakenError
from agentical.api.playbooks import detail_response
from agentical.api.wiring import Caller, Wiring
from agentical.db.lookups import (
    PlaybookNameTakenError,
    find_playbook,
    find_template,
    instantiate_template,
)
from agentical.db.models.playbook import (
    PlaybookCategory,
    PlaybookDetailRead,
    PlaybookTemplate,
    PlaybookTemplateRead,
)


def add_new(session: Session, row: object, field: str, taken: str) -> None:
    """Insert ``row``; a unique name (and version) already taken is a 409 naming ``field``
    (never the database's message: it would quote the row's values). The request's
    session is rolled back after a failure, so no savepoint is needed."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise NameTakenError(field, taken) from None


def add_routes(router: APIRouter, wiring: Wiring) -> None:
    @router.get("/templates", response_model=list[PlaybookTemplateRead], summary="Templates")
    def list_templates(
        session: Session = wiring.session, category: PlaybookCategory | None = None
    ) -> Response:
        statement = select(PlaybookTemplate).where(PlaybookTemplate.is_active.is_(True))
        if category is not None:
            statement = statement.where(PlaybookTemplate.category == category)
        templates = session.scalars(statement.order_by(PlaybookTemplate.name, PlaybookTemplate.id))
        return JSONResponse([template.to_dict() for template in templates])

    @router.get(
        "/templates/{name}", response_model=PlaybookTemplateRead, summary="The newest template"
    )
    def get_template(name: str, session: Session = wiring.session) -> Response:
        return JSONResponse(find_template(session, name).to_dict())

    @router.post(
        "/templates",
        status_code=201,
        response_model=PlaybookTemplateRead,
        summary="Save a playbook as a template (sensitive defaults left out)",
    )
    def save_template(
        body: TemplateCreate,
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        playbook = find_playbook(session, body.playbook, body.playbook_version, full=True)
        template = PlaybookTemplate.from_playbook(
            playbook, body.name, body.version, created_by=caller.actor
        )
        add_new(session, template, "name", f"template {body.name!r} {body.version!r} exists")
        session.commit()
        return JSONResponse(template.to_dict(), status_code=201)

    @router.post(
        "/templates/{name}/instantiate",
        status_code=201,
        response_model=PlaybookDetailRead,
        summary="A new playbook from a template (its name must be new)",
    )
    def instantiate(
        name: str,
        body: TemplateInstantiate,
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        template = find_template(session, name)
        person = caller.person(body.by)
        with caller.acting(person):
            try:
                playbook = instantiate_template(session, template, body.name, created_by=person)
            except IntegrityError:  # another request took the name meanwhile
                error = PlaybookNameTakenError(body.name)
                raise NameTakenError("name", str(error)) from None
            except PlaybookNameTakenError as error:
                raise NameTakenError("name", str(error)) from None
            session.commit()
        return detail_response(session, playbook.id, 201)
