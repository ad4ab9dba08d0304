"""``router(...)``: the HTTP API (and the live run pages) as one ``APIRouter``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from agentical.api import audit, executions, playbooks, steps, templates
from agentical.api.errors import ERROR_RESPONSES, MappedRoute
from agentical.api.ui import pages
from agentical.api.wiring import wiring

RESOURCES = (
    ("playbooks", playbooks),
    ("executions", executions),
    ("steps", steps),
    ("templates", templates),
    ("audit trail", audit),
    ("run pages", pages),
)


def router(
    session_dependency: Callable[..., Any],
    *,
    actor_dependency: Callable[..., Any] | None = None,
) -> APIRouter:
    """The API's routes on the service's sessions.

    ``session_dependency`` is a FastAPI dependency giving a ``Session`` (a generator that
    yields one and closes it); each write commits it, and a failed request rolls it back.
    ``actor_dependency`` gives the acting user's name (or ``None``): it is recorded as who
    imported, started, approved, rejected or completed; with ``None``, bodies may name the
    person in ``by``. Library errors become 422, 404, 409 and 429 (``ErrorBody``).
    """
    api = APIRouter()
    shared = wiring(session_dependency, actor_dependency)
    for tag, resource in RESOURCES:
        routes = APIRouter(route_class=MappedRoute, responses=ERROR_RESPONSES, tags=[tag])
        resource.add_routes(routes, shared)
        api.include_router(routes)
    return api
