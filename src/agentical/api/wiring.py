"""What every route of one router shares: the service's session and actor dependencies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends
from sqlalchemy.orm import Session

from agentical.api.errors import FieldError


def _nobody() -> str | None:
    return None


@dataclass(frozen=True)
class Wiring:
    """``session`` and ``actor`` are ``Depends`` markers for the routes' signatures."""

    session: Any
    actor: Any


def wiring(
    session_dependency: Callable[..., Any], actor_dependency: Callable[..., Any] | None
) -> Wiring:
    def request_session(session: Session = Depends(session_dependency)) -> Iterator[Session]:
        # A route commits what it writes; whatever a request leaves uncommitted (it failed
        # halfway) is rolled back, so the session and the stored data stay as they were.
        try:
            yield session
        finally:
            session.rollback()

    return Wiring(Depends(request_session), Depends(actor_dependency or _nobody))


def acting_person(actor: str | None, by: str | None, field: str = "by") -> str:
    """The service's actor, else the person the body names; one of them is needed."""
    person = actor or by
    if person is None:
        raise FieldError(field, "name the person acting (the service names nobody here)")
    return person
