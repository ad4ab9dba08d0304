"""Extending a worker's leases while its handlers run, from a thread of its own.

A handler may run longer than its lease; without a heartbeat another worker would claim
the step and run it a second time. The thread has its own session (a session is not
shared between threads) and extends each held lease in its own short transaction every
``interval`` seconds, so it never holds a row lock while the worker's thread finishes a
step. A lease found lost is remembered; the worker's own finish is fenced anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from agentical.db.errors import LeaseLostError
from agentical.db.runs import Lease, heartbeat

logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, session_factory: Callable[[], Session], interval: float) -> None:
        self._session_factory = session_factory
        self._interval = interval
        self._held: dict[int, Lease] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, name: str) -> None:
        self._stopped.clear()
        self._thread = threading.Thread(target=self._beat_until_stopped, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and forget every lease (a pass that ended early leaves none)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._held.clear()

    def hold(self, lease: Lease) -> None:
        with self._lock:
            self._held[lease.step_run_id] = lease

    def drop(self, lease: Lease) -> None:
        with self._lock:
            self._held.pop(lease.step_run_id, None)

    def _beat_until_stopped(self) -> None:
        while not self._stopped.wait(self._interval):
            with self._lock:
                leases = list(self._held.values())
            for lease in leases:
                try:
                    self._extend(lease)
                except Exception:  # a bug must not stop the beats of the other leases
                    logger.exception("heartbeat of step run %s failed", lease.step_run_id)

    def _extend(self, lease: Lease) -> None:
        with self._session_factory() as session:
            try:
                heartbeat(session, lease)
                session.commit()
            except LeaseLostError:
                session.rollback()
                self.drop(lease)
                logger.warning("lease lost on step run %s (%s)", lease.step_run_id, lease.step_name)
            except SQLAlchemyError as error:
                session.rollback()  # the next beat tries again, well within the lease
                logger.warning("heartbeat failed (%s); retrying", type(error).__name__)
