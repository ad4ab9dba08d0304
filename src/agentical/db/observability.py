"""Logfire events for lifecycle changes, through ``logfire-api``.

``logfire-api`` is a no-op shim until the application configures the full SDK: the library
never configures anything itself. Attributes are ids, names, states and durations, never
variable values.

Model methods change objects that may belong to no session: they report at once
(``lifecycle_event``). The run engine's functions change stored rows in a session's
transaction: they report once it commits (``event_at_commit``), so that a claim or a finish
that was rolled back is never reported, and Logfire's work is done after the transaction
instead of inside it, where it would hold the transaction's locks (on SQLite, the one write
lock that every worker waits for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import logfire_api
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session, SessionTransaction

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

_logfire = logfire_api.with_settings(custom_scope_suffix="playbooks", tags=["agentical"])


# Moves named for what happened rather than the state reached; others: after the new state.
_TRANSITION_EVENTS = {("pending", "running"): "started", ("paused", "running"): "resumed"}


def transition_event(kind: str, previous: str, target: str) -> str:
    """The event name of a move between states: ``execution.started``, ``step.failed``..."""
    return f"{kind}.{_TRANSITION_EVENTS.get((str(previous), str(target)), str(target))}"


def lifecycle_event(event: str, **attributes: Any) -> None:
    """Record one lifecycle event (``execution.started``...) as a Logfire log."""
    present = {key: value for key, value in attributes.items() if value is not None}
    _logfire.info(event, **present)


_PENDING = "agentical.pending_events"


@dataclass(frozen=True, slots=True)
class _Pending:
    transaction: SessionTransaction
    event: str
    attributes: dict[str, Any]


def event_at_commit(session: Session, event: str, **attributes: Any) -> None:
    """Record ``event`` when ``session``'s transaction commits; never if it rolls back.

    Within a savepoint, the event waits for the outermost commit and is dropped if the
    savepoint is rolled back. Outside a transaction it is recorded at once.
    """
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:
        lifecycle_event(event, **attributes)
        return
    session.info.setdefault(_PENDING, []).append(_Pending(transaction, event, attributes))


def _rolled_back_by(transaction: SessionTransaction) -> SessionTransaction:
    """The transaction whose work a rollback of ``transaction`` undoes: itself when it is a
    savepoint or the outermost one, else (the ORM's own flush) the nearest such parent."""
    while not transaction.nested and transaction.parent is not None:
        transaction = transaction.parent
    return transaction


def _within(transaction: SessionTransaction | None, boundary: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is boundary:
            return True
        transaction = transaction.parent
    return False


@listens_for(Session, "after_commit")
def _report_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its events wait for the outermost commit
    for pending in session.info.pop(_PENDING, ()):
        lifecycle_event(pending.event, **pending.attributes)


@listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    pending: list[_Pending] | None = session.info.get(_PENDING)
    if pending:
        boundary = _rolled_back_by(previous)
        kept = [entry for entry in pending if not _within(entry.transaction, boundary)]
        session.info[_PENDING] = kept


@listens_for(Session, "after_transaction_end")
def _drop_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # ended without a commit (closed): nothing to report
        session.info.pop(_PENDING, None)


def instrument(*engines: Engine | AsyncEngine) -> bool:
    """Trace every query of ``engines`` with Logfire.

    OpenTelemetry's SQLAlchemy instrumentation is switched on once per process: call this
    once, with the engines made so far. Engines made afterwards through
    ``sqlalchemy.create_engine`` (which ``agentical.db.session`` calls) are traced too.
    Returns ``False`` and does nothing when the full SDK or its SQLAlchemy integration
    (extra ``logfire``) is not installed, or when the instrumentation is already on.
    Configuring Logfire stays the application's job; until it does, spans go nowhere.
    """
    try:
        import logfire
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    except ImportError:
        return False
    if SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry:
        return False
    # The instrumentor declares SQLAlchemy < 2.1 although it works with 2.1.
    logfire.instrument_sqlalchemy(engines=engines, skip_dep_check=True)
    return True
