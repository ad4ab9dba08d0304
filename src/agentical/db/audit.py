"""Who acts: the actor of the audit trail, named by an argument or by the context.

``with acting_as("alice"):`` names the person (or service) on whose behalf everything in
the block is done: the run functions, the model methods and the imports and purges called
inside it record ``alice`` in the audit trail (``agentical.db.models.audit``). A function's
own ``actor=`` argument (or the parameter it always had for it: ``started_by``,
``created_by``, an approver, ``completed_by``) wins over the context; with neither, the
actor is ``system``. The actor of a model method is the one in effect when the method is
called, not when the session flushes.

A context may also carry a request id (an HTTP request's, say), recorded beside the actor.
Pure: no database, no models.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agentical.db.enums import ExecutionStatus, PlaybookStatus
from agentical.db.errors import InvalidInputError

SYSTEM = "system"
ACTOR_MAX_LENGTH = 255
REQUEST_ID_MAX_LENGTH = 255


class AuditAction(StrEnum):
    """What an audit entry records: an operator's action or a run's own end."""

    IMPORT = "import"
    PUBLISH = "publish"
    ARCHIVE = "archive"
    DEPRECATE = "deprecate"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    COMPLETE = "complete"  # a run completed: its last step finished, or its caller said so
    FAIL = "fail"  # a run failed: a required step failed for good, a timeout, its caller
    APPROVE = "approve"
    REJECT = "reject"
    COMPLETE_STEP = "complete_step"  # a person finished a manual step
    FAIL_STEP = "fail_step"  # a person failed a manual step
    RETRY = "retry"  # a person ran a failed step again (runs.retry_step)
    PURGE = "purge"


# Every transition of an execution, and the action that names it in the trail.
EXECUTION_ACTIONS: Mapping[tuple[ExecutionStatus, ExecutionStatus], AuditAction] = {
    (ExecutionStatus.PENDING, ExecutionStatus.RUNNING): AuditAction.START,
    (ExecutionStatus.RUNNING, ExecutionStatus.PAUSED): AuditAction.PAUSE,
    (ExecutionStatus.PAUSED, ExecutionStatus.RUNNING): AuditAction.RESUME,
    (ExecutionStatus.PENDING, ExecutionStatus.CANCELLED): AuditAction.CANCEL,
    (ExecutionStatus.RUNNING, ExecutionStatus.CANCELLED): AuditAction.CANCEL,
    (ExecutionStatus.PAUSED, ExecutionStatus.CANCELLED): AuditAction.CANCEL,
    (ExecutionStatus.RUNNING, ExecutionStatus.COMPLETED): AuditAction.COMPLETE,
    (ExecutionStatus.RUNNING, ExecutionStatus.FAILED): AuditAction.FAIL,
}

# A playbook's transitions, by the status it moves to.
PLAYBOOK_ACTIONS: Mapping[PlaybookStatus, AuditAction] = {
    PlaybookStatus.PUBLISHED: AuditAction.PUBLISH,
    PlaybookStatus.ARCHIVED: AuditAction.ARCHIVE,
    PlaybookStatus.DEPRECATED: AuditAction.DEPRECATE,
}


@dataclass(frozen=True)
class Acting:
    """The actor in effect, and the request it acts for (if any)."""

    actor: str
    request_id: str | None = None


_acting: ContextVar[Acting | None] = ContextVar("agentical_acting", default=None)


def _checked(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{field} must name who acts (a non-blank string), got {value!r}")
    if len(value) > limit:
        raise InvalidInputError(f"{field} is longer than {limit} characters")
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise InvalidInputError(f"{field} must not contain control characters")
    return value.strip()


def check_actor(actor: Any, field: str = "actor") -> str:
    """``actor`` stripped, or ``InvalidInputError`` naming ``field`` and the reason."""
    return _checked(field, actor, ACTOR_MAX_LENGTH)


@contextmanager
def acting_as(actor: str, *, request_id: str | None = None) -> Iterator[str]:
    """Act as ``actor`` in the block (and in what it calls); an inner block wins, and
    keeps the outer request id unless it names its own."""
    name = check_actor(actor)
    outer = _acting.get()
    if request_id is not None:
        request_id = _checked("request_id", request_id, REQUEST_ID_MAX_LENGTH)
    elif outer is not None:
        request_id = outer.request_id
    token = _acting.set(Acting(name, request_id))
    try:
        yield name
    finally:
        _acting.reset(token)


@contextmanager
def acting(actor: str | None) -> Iterator[None]:
    """``acting_as(actor)`` when a function was given one; otherwise the context as it is."""
    if actor is None:
        yield
        return
    with acting_as(actor):
        yield


def current_actor() -> str | None:
    """The actor named by the innermost ``acting_as``, or ``None`` outside any."""
    current = _acting.get()
    return None if current is None else current.actor


def current_request_id() -> str | None:
    current = _acting.get()
    return None if current is None else current.request_id


def resolve_actor(actor: str | None = None) -> str:
    """``actor`` if given (checked), else the context's, else ``system``."""
    if actor is not None:
        return check_actor(actor)
    return current_actor() or SYSTEM


def one_actor(actor: str | None, other: str | None, other_name: str) -> str | None:
    """The actor given under either name (``actor=`` or ``started_by=``, say), checked;
    ``InvalidInputError`` when both are given and differ: one person acts."""
    if actor is not None:
        actor = check_actor(actor)
    if other is not None:
        other = check_actor(other, other_name)
    if actor is not None and other is not None and actor != other:
        raise InvalidInputError(
            f"actor ({actor!r}) and {other_name} ({other!r}) must name the same person"
        )
    return actor if actor is not None else other


def transition_actor(by: str | None = None) -> dict[str, str]:
    """What a status transition keeps of who made it: ``{"by": ...}``, and the request id
    when there is one (an execution's ``status_history`` entries)."""
    kept = {"by": by or current_actor() or SYSTEM}
    request_id = current_request_id()
    if request_id is not None:
        kept["request_id"] = request_id
    return kept
