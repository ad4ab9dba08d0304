"""The worker: claim ready steps, run their handlers, finish them, until stopped.

Every step goes through two short transactions of the worker's own session, neither of
them open while its handler runs (a heartbeat thread extends the lease meanwhile): the
claim, with the rendering of the parameters, and the finish (``complete_step`` or
``fail_step`` and the settlement it implies, one commit).
Finishing is fenced by the lease: a worker whose lease was taken over gets
``LeaseLostError`` and drops the work. A database error (a killed connection, a deadlock,
SQLite's "database is locked") rolls back and the loop goes on after a short pause: a
worker never dies of one. Delivery is at least once: a worker killed mid-step has its
step claimed again when the lease expires.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import FrameType
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from agentical.db.enums import StepType
from agentical.db.errors import LeaseLostError
from agentical.db.models.playbook.binding import bind_for
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.observability import lifecycle_event
from agentical.db.rendering import RenderError
from agentical.db.runs import (
    Lease,
    claim_ready_steps,
    complete_step,
    enforce_timeouts,
    fail_step,
    lease_of,
    release_step,
)
from agentical.db.runs.claims import check_lease_seconds
from agentical.db.runs.wakeup import ReadyListener
from agentical.db.types import ensure_json
from agentical.db.worker.failures import exception_text, failure_message, secret_texts
from agentical.db.worker.handlers import Handler, HandlerTable, StepFailed
from agentical.db.worker.heartbeat import Heartbeat
from agentical.db.worker.parameters import step_parameters

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60.0
FINISH_ATTEMPTS = 5
# The longest a waiting worker goes without looking at its stop flag: how late a stop()
# can take effect.
STOP_CHECK_SECONDS = 0.1
# How often a worker on PostgreSQL tries to LISTEN again while it cannot.
LISTEN_RETRY_SECONDS = 5.0
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class _Job:
    lease: Lease
    step_type: StepType
    parameters: dict[str, Any] | None
    render_error: str | None


@dataclass(frozen=True)
class _Outcome:
    output: dict[str, Any] | None = None
    failure: str | None = None
    retry: bool = True
    unstorable: bool = False  # the failure that says the result could not be stored


_current: ContextVar[Lease] = ContextVar("agentical_worker_lease")


def current_lease() -> Lease:
    """The lease of the step whose handler is running (its id, attempt, worker): for a
    handler that needs an idempotency key or to say who did the work. ``LookupError``
    outside a handler."""
    return _current.get()


def _positive(name: str, value: Any) -> float:
    try:
        return check_lease_seconds(value)
    except ValueError:
        raise ValueError(f"{name} must be a number > 0") from None


class Worker:
    """Runs the steps whose types or names ``handlers`` maps to a callable.

    A handler receives the step's rendered parameters and returns its output (a dict, or
    ``None`` for none). An exception fails the attempt with its message (retries apply);
    ``StepFailed`` fails the step for good. ``run()`` loops until ``stop()``, SIGTERM or
    SIGINT; ``run_once()`` does one pass. ``execution_ids`` keeps the worker to those
    executions (a simulation).
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        handlers: Mapping[StepType | str, Handler],
        *,
        worker_id: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        poll_interval: float = 0.5,
        max_poll_interval: float = 5.0,
        batch_size: int = 1,
        timeouts_every: float = 30.0,
        execution_ids: Collection[int] | None = None,
    ) -> None:
        if not isinstance(worker_id, str) or not worker_id.strip():
            raise ValueError("worker_id must be a non-empty string")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError("batch_size must be an integer >= 1")
        self.worker_id = worker_id
        self.handlers = HandlerTable.of(handlers)
        self.lease_seconds = _positive("lease_seconds", lease_seconds)
        self.poll_interval = _positive("poll_interval", poll_interval)
        self.max_poll_interval = max(
            _positive("max_poll_interval", max_poll_interval), self.poll_interval
        )
        self.batch_size = batch_size
        self.timeouts_every = _positive("timeouts_every", timeouts_every)
        self.execution_ids = None if execution_ids is None else sorted(set(execution_ids))
        self._session_factory = session_factory
        self._stop_requested = False
        self._heartbeat = Heartbeat(session_factory, self.lease_seconds / 3)
        self._timeouts_due = 0.0
        self._listener: ReadyListener | None = None
        self._listen_again_at = float("inf")  # set when a LISTEN connection is first tried

    def stop(self) -> None:
        """Finish the step whose handler is running, release the others, then return
        from ``run()``; for good (a stopped worker claims nothing more). Safe from any
        thread and from a signal handler: it only sets a flag, which a waiting worker reads
        every ``STOP_CHECK_SECONDS``. (A ``threading.Event`` would take a lock that the
        signal handler can find held by the very wait it interrupted: a deadlock.)"""
        self._stop_requested = True

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    def _sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``, or until ``stop()``."""
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, STOP_CHECK_SECONDS))

    def run(self) -> None:
        """Process steps until ``stop()`` (or SIGTERM / SIGINT in the main thread); a
        worker stopped before it ran returns at once."""
        lifecycle_event("worker.started", worker=self.worker_id, lease_seconds=self.lease_seconds)
        idle = self.poll_interval
        self._listener = self._open_listener()  # before the first claim: no wake-up lost
        try:
            with self._signals():
                while not self.stopping:
                    if self.run_once():
                        idle = self.poll_interval
                        continue
                    self.wait_for_work(idle)
                    idle = min(idle * 2, self.max_poll_interval)
        finally:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            lifecycle_event("worker.stopped", worker=self.worker_id)

    def _open_listener(self) -> ReadyListener | None:
        """A LISTEN connection on PostgreSQL; ``None`` elsewhere (the worker polls), and
        while the database cannot be reached (tried again every ``LISTEN_RETRY_SECONDS``)."""
        with self._session_factory() as session:
            bind = bind_for(session, PlaybookStepExecution)
        if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
            return None
        self._listen_again_at = time.monotonic() + LISTEN_RETRY_SECONDS
        try:
            return ReadyListener(bind)
        except Exception:  # the driver's own error too: the listener opens a raw connection
            logger.warning("worker %s: no LISTEN connection, polling", self.worker_id)
            return None

    def wait_for_work(self, seconds: float) -> None:
        """Wait up to ``seconds`` for a step to become ready (or for ``stop()``).

        On PostgreSQL a commit that makes a step ready ends the wait at once (``NOTIFY``,
        see ``runs.wakeup``); elsewhere, and for retries that become due with time, the
        worker polls with backoff. Waits in short slices, so ``stop()`` still interrupts.
        A LISTEN connection that was lost (a restart, a failover) is opened again.
        """
        listener = self._listener
        if listener is None and time.monotonic() >= self._listen_again_at:
            listener = self._listener = self._open_listener()
        if listener is None or not listener.listens:
            self._sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            try:
                if listener.wait(min(left, STOP_CHECK_SECONDS)):
                    return
            except Exception:  # the driver's own error: its connection is gone
                logger.warning("worker %s: LISTEN connection lost", self.worker_id)
                listener.discard()
                # LISTEN again now, then look for work: a step may have become ready while
                # nobody listened. Until it can, the worker polls.
                self._listener = self._open_listener()
                if self._listener is None:
                    self._sleep(deadline - time.monotonic())
                return

    def run_once(self) -> int:
        """One pass: enforce timeouts when due, claim, run and finish; returns how many
        claimed steps were handled (finished, failed, or dropped for a lost lease)."""
        if self.stopping:
            return 0
        self._enforce_timeouts()
        jobs = self._claim()
        if not jobs:
            return 0
        handled = 0
        for job in jobs:  # every claimed step, also those waiting for their turn
            self._heartbeat.hold(job.lease)
        self._heartbeat.start(f"{self.worker_id}-heartbeat")
        try:
            for job in jobs:
                if self.stopping:
                    self._release(job.lease)
                else:
                    self._finish(job.lease, self._call(job))
                    handled += 1
                self._heartbeat.drop(job.lease)
        finally:
            self._heartbeat.stop()
        return handled

    def _database_error(self, what: str, error: SQLAlchemyError) -> None:
        logger.warning("worker %s: %s failed (%s); retrying", self.worker_id, what, error.code)
        self._sleep(self.poll_interval)

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        if now < self._timeouts_due:
            return
        self._timeouts_due = now + self.timeouts_every
        with self._session_factory() as session:
            try:
                report = enforce_timeouts(session)
                session.commit()
            except SQLAlchemyError as error:
                session.rollback()
                self._database_error("enforcing timeouts", error)
                return
        if report:
            lifecycle_event(
                "worker.timeouts_enforced",
                worker=self.worker_id,
                steps=len(report.steps),
                executions=len(report.executions),
            )

    def _claim(self) -> list[_Job]:
        with self._session_factory() as session:
            try:
                claimed = claim_ready_steps(
                    session,
                    worker_id=self.worker_id,
                    limit=self.batch_size,
                    lease_seconds=self.lease_seconds,
                    execution_ids=self.execution_ids,
                    **self.handlers.claim_scope(),
                )
                jobs = [self._job(session, run.step_type, lease_of(run)) for run in claimed]
                session.commit()
            except SQLAlchemyError as error:
                session.rollback()
                self._database_error("claiming", error)
                return []
        return jobs

    @staticmethod
    def _job(session: Session, step_type: StepType, lease: Lease) -> _Job:
        try:
            parameters = step_parameters(
                session, lease.execution_id, lease.step_name, lease.definition_hash
            )
        except RenderError as error:
            return _Job(lease, step_type, None, str(error))
        return _Job(lease, step_type, parameters, None)

    def _call(self, job: _Job) -> _Outcome:
        if job.render_error is not None:
            return _Outcome(failure=job.render_error, retry=False)  # the same inputs next time
        handler = self.handlers.for_step(job.lease.step_name, job.step_type)
        assert handler is not None, "claimed outside the handlers' scope"
        assert job.parameters is not None
        token = _current.set(job.lease)
        try:
            output = handler(job.parameters)
        except StepFailed as error:
            return _Outcome(failure=exception_text(error), retry=False)
        except Exception as error:
            logger.info(
                "worker %s: step %s failed (%s)",
                self.worker_id,
                job.lease.step_name,
                type(error).__name__,
            )
            return _Outcome(failure=exception_text(error))
        finally:
            _current.reset(token)
        if output is None:
            return _Outcome(output={})
        # A handler that breaks its contract would break it again: no retry.
        if not isinstance(output, Mapping):
            failure = f"handler returned a {type(output).__name__}, not a dict"
            return _Outcome(failure=failure, retry=False)
        try:
            ensure_json("handler output", dict(output))
        except ValueError as error:
            return _Outcome(failure=str(error), retry=False)
        return _Outcome(output=dict(output))

    def _finish(self, lease: Lease, outcome: _Outcome) -> None:
        """Complete or fail the step in one transaction, retrying a database error: the
        handler's work is done and worth recording while the lease holds. A result that
        no database can store fails the step for good, saying so: retried, it would fail
        again, and the step would run again at every lease."""
        for attempt in range(1, FINISH_ATTEMPTS + 1):
            with self._session_factory() as session:
                try:
                    if outcome.failure is None:
                        complete_step(session, lease, outcome.output)
                    else:
                        secrets = secret_texts(session, lease.execution_id)
                        message = failure_message(outcome.failure, secrets)
                        fail_step(session, lease, message, retry=outcome.retry)
                    session.commit()
                    return
                except LeaseLostError as error:
                    session.rollback()
                    logger.warning("worker %s: %s; work dropped", self.worker_id, error)
                    return
                except (DataError, IntegrityError, ValueError) as error:
                    session.rollback()
                    if outcome.unstorable:
                        self._not_finished(lease, type(error).__name__)
                        return
                    logger.warning(
                        "worker %s: the result of step run %s cannot be stored (%s)",
                        self.worker_id,
                        lease.step_run_id,
                        type(error).__name__,
                    )
                    outcome = _Outcome(
                        failure=f"the step's result could not be stored ({type(error).__name__})",
                        retry=False,
                        unstorable=True,
                    )
                except SQLAlchemyError as error:
                    session.rollback()
                    if attempt == FINISH_ATTEMPTS:
                        self._not_finished(lease, error.code)
                        return
                    self._database_error("finishing a step", error)

    def _not_finished(self, lease: Lease, reason: str | None) -> None:
        logger.error(
            "worker %s: could not finish step run %s (%s); its lease will expire and another "
            "worker will run it",
            self.worker_id,
            lease.step_run_id,
            reason,
        )

    def _release(self, lease: Lease) -> None:
        with self._session_factory() as session:
            try:
                release_step(session, lease)
                session.commit()
            except LeaseLostError:
                session.rollback()
            except SQLAlchemyError as error:
                session.rollback()  # the lease expires on its own
                logger.warning("worker %s: release failed (%s)", self.worker_id, error.code)

    @contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT call ``stop()`` while ``run()`` runs; handlers can only be
        installed from the main thread, and the previous ones come back afterwards."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_signal(_number: int, _frame: FrameType | None) -> None:
            self.stop()

        previous = {number: signal.signal(number, on_signal) for number in _SIGNALS}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler if handler is not None else signal.SIG_DFL)
