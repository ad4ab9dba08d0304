"""Waking waiting workers when a step becomes ready, instead of having them poll.

On PostgreSQL the transaction that makes a step claimable now (a settlement releasing
dependants, an execution starting, a run given back) sends ``NOTIFY agentical_ready``:
delivered to listeners when it commits, dropped if it rolls back, and folded into one
however many it sends. A worker keeps a ``ReadyListener`` open and, when a claim comes
back empty, calls ``wait(timeout)``; the notification ends the wait as soon as the
commit is visible. A retry becoming due is a matter of time, not of a commit: the
timeout covers it. On MariaDB and SQLite ``wait`` sleeps, longer each time nothing came
(``reset()`` after a claim that found work).

Open the listener before the first claim: a step made ready between an empty claim and
``wait`` then ends the wait at once.
"""

from __future__ import annotations

import time
from contextlib import suppress
from types import TracebackType
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, case, func

CHANNEL = "agentical_ready"
POLL_FIRST_SECONDS = 0.05
POLL_LONGEST_SECONDS = 2.0


def listens_for_ready(connection: Connection) -> bool:
    """Whether workers on this database can be woken by ``announce_ready`` (PostgreSQL)."""
    return connection.dialect.name == "postgresql"


def announce_ready(connection: Connection) -> None:
    """Tell listeners, when this transaction commits, that a step may be claimable now
    (PostgreSQL; other databases poll)."""
    if listens_for_ready(connection):
        connection.exec_driver_sql(f"NOTIFY {CHANNEL}")


def announced_when(condition: ColumnElement[bool]) -> ColumnElement[None]:
    """An expression for a statement's RETURNING that does ``announce_ready``'s work for
    each row where ``condition`` holds (PostgreSQL): no NOTIFY of its own after it."""
    return case((condition, func.pg_notify(CHANNEL, "")))


class ReadyListener:
    """Waits until a step may have become ready: ``LISTEN`` on a connection of its own on
    PostgreSQL, a growing sleep elsewhere. Close it (or use ``with``) when done."""

    def __init__(
        self,
        engine: Engine,
        *,
        poll_first: float = POLL_FIRST_SECONDS,
        poll_longest: float = POLL_LONGEST_SECONDS,
    ) -> None:
        self.poll_first = poll_first
        self.poll_longest = poll_longest
        self._poll = poll_first
        self._pooled: Any = None
        self._driver: Any = None
        if engine.dialect.name == "postgresql":
            pooled = engine.raw_connection()
            driver: Any = pooled.driver_connection
            pooled.detach()  # never handed back to the pool with LISTEN still on
            try:
                driver.rollback()
                driver.autocommit = True
                driver.execute(f"LISTEN {CHANNEL}")
            except Exception:  # a connection that died in the pool: ours alone to close
                with suppress(Exception):
                    driver.close()
                raise
            self._pooled, self._driver = pooled, driver

    @property
    def listens(self) -> bool:
        """Whether notifications end the wait (PostgreSQL), rather than a sleep."""
        return self._driver is not None

    def wait(self, timeout: float) -> bool:
        """Block until a notification (``True``) or at most ``timeout`` seconds (``False``).

        Without notifications, sleep the current poll interval (never past ``timeout``)
        and lengthen it, up to ``poll_longest``; always ``False``.
        """
        if self._driver is None:
            time.sleep(max(min(self._poll, timeout), 0.0))
            self._poll = min(self._poll * 2, self.poll_longest)
            return False
        woken = False
        for _notify in self._driver.notifies(timeout=max(timeout, 0.0), stop_after=1):
            woken = True
        if woken:
            for _notify in self._driver.notifies(timeout=0.0):
                pass  # the rest of a burst: one claim round answers them all
        return woken

    def reset(self) -> None:
        """A claim found work: poll quickly again next time."""
        self._poll = self.poll_first

    def close(self) -> None:
        if self._pooled is not None:
            self._pooled.close()
            self._pooled = self._driver = None

    def discard(self) -> None:
        """Close a listener whose connection is gone, without the rollback that closing
        through the pool sends (it would fail, and the pool would log it as an error)."""
        if self._driver is not None:
            with suppress(Exception):
                self._driver.close()  # detached: no pool to hand it back to
            self._pooled = self._driver = None

    def __enter__(self) -> ReadyListener:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()
