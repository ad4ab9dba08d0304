"""Writes that model methods leave on their session, done before anything can read them.

Model methods never do I/O (they run under async sessions too), yet some of their changes
must reach the database as atomic UPDATEs, not through the unit of work (``counters``,
``step_counts``). They are queued on the session and written when it next flushes (before
the flush's own statements, and after them for what the flush queued), before it commits
and, when it autoflushes, before its next statement, so that its own queries see them as
they would see a flushed change. A rollback drops them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Table, event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

_KEY = "agentical.deferred_writes"


class DeferredWrite(Protocol):
    def write(self, session: Session) -> None:
        """Execute on ``binding.connection_for(session, ...)``: ``session.execute`` would
        autoflush first."""


W = TypeVar("W", bound=DeferredWrite)


def deferred(session: Session, key: Hashable, create: Callable[[], W]) -> W:
    """The write queued on ``session`` under ``key``, queued now by ``create()`` if none is:
    changes to one row add up in one write."""
    writes: dict[Hashable, DeferredWrite] = session.info.setdefault(_KEY, {})
    write = writes.get(key)
    if write is None:
        write = writes[key] = create()
    return cast(W, write)


def queued(session: Session) -> list[DeferredWrite]:
    """The writes queued on ``session``, not yet written."""
    return list(session.info.get(_KEY, {}).values())


def stored_row(target: Any, attribute: str) -> tuple[Session, Table, int] | None:
    """``(session, table, id)`` for a deferred write of ``attribute`` of ``target``.

    ``None`` when it must be set like any attribute instead: the row is not stored yet,
    or the attribute was already changed by hand, a change the flush writes as it is.
    """
    state = inspect(target)
    session, identity, table = state.session, state.identity, state.mapper.local_table
    if not state.persistent or session is None or identity is None:
        return None
    if state.attrs[attribute].history.has_changes():
        return None
    assert isinstance(table, Table)
    return session, table, identity[0]


def _lock_order(write: DeferredWrite) -> tuple[int, int]:
    order: tuple[int, int] = getattr(write, "lock_order", (1, 0))
    return order


def write_deferred(session: Session, *, flushing: bool = False) -> None:
    """Run the queued writes, those that name a ``lock_order`` first and in that order
    (the run engine's settlements, by execution id: a fixed order in which every
    transaction takes its row locks), the rest as they were queued. Before a flush
    (``flushing``), writes that ask for ``after_flush`` wait for the flush to end."""
    while writes := session.info.pop(_KEY, None):
        later = {}
        for key, write in sorted(writes.items(), key=lambda item: _lock_order(item[1])):
            if flushing and getattr(write, "after_flush", False):
                later[key] = write
            else:
                write.write(session)
        if later:
            session.info.setdefault(_KEY, {}).update(later)
            return


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    # First: the row is locked before the flush's INSERTs take shared locks on it for
    # their foreign keys; in the other order two MariaDB transactions deadlock.
    write_deferred(session, flushing=True)


@event.listens_for(Session, "after_flush_postexec")
def _after_flush(session: Session, _context: Any) -> None:
    write_deferred(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write_deferred(session)


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    if state.session.autoflush:
        write_deferred(state.session)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous: Any) -> None:
    session.info.pop(_KEY, None)
