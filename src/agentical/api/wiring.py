"""What every route of one router shares: the service's session, and who acts.

Who acts is the service's actor dependency (its signed-in user, say), else the ``by``
field of a body that has one; the request is ``X-Request-ID`` when the caller sends it.
A route runs its action inside ``caller.acting(...)``: ``acting_as(person,
request_id=...)``, so the audit trail records the same person the action names (an
approver, ``started_by``, ``created_by``) and the request it came with. A body's ``by``
that names someone else than the service's actor is refused (422 on ``by``): one person
acts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header
from sqlalchemy.orm import Session

from agentical.api.errors import FieldError
from agentical.db.audit import REQUEST_ID_MAX_LENGTH, SYSTEM, acting_as

# Printable ASCII, not blank at either end: what the trail can keep as it came.
REQUEST_ID_PATTERN = r"^[!-~]([ -~]*[!-~])?$"

RequestId = Annotated[
    str | None,
    Header(
        alias="X-Request-ID",
        min_length=1,
        max_length=REQUEST_ID_MAX_LENGTH,
        pattern=REQUEST_ID_PATTERN,
        description="Kept with the audit entries this request writes.",
    ),
]


def _nobody() -> str | None:
    return None


@dataclass(frozen=True)
class Caller:
    """The service's actor for this request (``None``: it names nobody) and its id."""

    actor: str | None
    request_id: str | None = None

    def person(self, by: str | None = None, *, field: str = "by") -> str | None:
        """The service's actor, else ``by``; a ``by`` naming someone else is refused."""
        if self.actor is not None and by is not None and by != self.actor.strip():
            raise FieldError(field, f"the service acts as {self.actor!r} here, not {by!r}")
        return self.actor if self.actor is not None else by

    def required(self, by: str | None, field: str = "by") -> str:
        """``person(by)``, which a decision needs: someone must be named."""
        person = self.person(by, field=field)
        if person is None:
            raise FieldError(field, "name the person acting (the service names nobody here)")
        return person

    @contextmanager
    def acting(self, person: str | None = None) -> Iterator[str]:
        """Everything in the block acts as ``person`` (else the service's actor, else
        ``system``) for this request: the audit trail's actor and request id."""
        with acting_as(person or self.actor or SYSTEM, request_id=self.request_id) as name:
            yield name


@dataclass(frozen=True)
class Wiring:
    """``session`` and ``caller`` are ``Depends`` markers for the routes' signatures."""

    session: Any
    caller: Any


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

    def request_caller(
        actor: str | None = Depends(actor_dependency or _nobody), request_id: RequestId = None
    ) -> Caller:
        return Caller(actor, request_id)

    return Wiring(Depends(request_session), Depends(request_caller))
