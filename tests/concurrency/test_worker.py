"""``Worker``: handlers by type and name, rendered parameters, failures and retries, stop,
signals, heartbeats that keep a long step, fencing, and a killed database connection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from agentical.db.models.playbook import (
    ExecutionStatus,
    LeaseLostError,
    PlaybookExecution,
    PlaybookStepExecution,
    StepStatus,
    StepType,
    claim_ready_steps,
)
from agentical.db.runs import complete_step
from agentical.db.session import create_engine, session_factory
from agentical.db.types import utc_now
from agentical.db.worker import Handler, StepFailed, Worker, current_lease
from tests.concurrency.worker_builders import Step, dag_playbook_id, started_execution
from tests.db.runs.builders import started_run, step

BOUND_SECONDS = 30
ROOT = Path(__file__).resolve().parents[2]


def _runs(sessions: sessionmaker[Session], execution_id: int) -> dict[str, PlaybookStepExecution]:
    with sessions() as session:
        runs = session.scalars(
            select(PlaybookStepExecution).where(
                PlaybookStepExecution.playbook_execution_id == execution_id
            )
        )
        return {run.step_name: run for run in runs}


def _execution(sessions: sessionmaker[Session], execution_id: int) -> PlaybookExecution:
    with sessions() as session:
        execution = session.get(PlaybookExecution, execution_id)
        assert execution is not None
        return execution


def _start(
    sessions: sessionmaker[Session],
    steps: list[Step],
    inputs: dict[str, Any] | None = None,
    variables: tuple[str, ...] = (),
) -> int:
    with sessions() as session:
        playbook_id = dag_playbook_id(session, steps, variables=variables)
        execution_id = started_execution(session, playbook_id, inputs).id
        session.commit()
    return execution_id


def _drain(worker: Worker) -> int:
    """``run_once`` until a pass handles nothing; how many steps were handled."""
    handled, deadline = 0, time.monotonic() + BOUND_SECONDS
    while time.monotonic() < deadline:
        done = worker.run_once()
        if not done:
            return handled
        handled += done
    raise AssertionError("the worker never ran out of work")


def test_a_step_name_handler_wins_over_its_type_and_unhandled_types_are_not_claimed(
    sessions: sessionmaker[Session],
) -> None:
    execution_id = _start(
        sessions,
        [Step("a"), Step("b"), Step("c", step_type=StepType.SCRIPT), Step("d", after=["c"])],
    )
    calls: list[str] = []

    def recorder(by: str) -> Handler:
        def handler(_: dict[str, Any]) -> dict[str, Any]:
            calls.append(by)
            return {"by": by}

        return handler

    handlers = {StepType.AUTOMATED: recorder("type"), "b": recorder("name")}
    worker = Worker(sessions, handlers, worker_id="w1", lease_seconds=30)
    assert _drain(worker) == 2
    runs = _runs(sessions, execution_id)
    assert sorted(calls) == ["name", "type"]
    assert runs["a"].output_data == {"by": "type"}
    assert runs["b"].output_data == {"by": "name"}
    assert runs["c"].status is StepStatus.PENDING  # a script step: no handler here
    assert runs["c"].claimed_by is None

    by_name_only = Worker(sessions, {"c": lambda _: {"by": "c"}}, worker_id="w2")
    assert _drain(by_name_only) == 1
    assert _runs(sessions, execution_id)["c"].output_data == {"by": "c"}
    assert _runs(sessions, execution_id)["d"].status is StepStatus.PENDING


def test_the_handler_receives_the_rendered_parameters_and_the_run_completes(
    sessions: sessionmaker[Session],
) -> None:
    execution_id = _start(
        sessions,
        [
            Step("probe"),
            Step(
                "fix",
                after=["probe"],
                parameters={"host": "{{ steps.probe.output.host }}", "for": ["{{ service }}"]},
            ),
        ],
        inputs={"service": "checkout"},
        variables=("service",),
    )
    received: list[dict[str, Any]] = []

    def handler(parameters: dict[str, Any]) -> dict[str, Any]:
        received.append(parameters)
        return {"host": "db-2"}

    worker = Worker(sessions, {StepType.AUTOMATED: handler}, worker_id="w1")
    assert _drain(worker) == 2
    assert received == [{}, {"host": "db-2", "for": ["checkout"]}]
    execution = _execution(sessions, execution_id)
    assert execution.status is ExecutionStatus.COMPLETED
    assert (execution.completed_steps, execution.progress_percentage) == (2, 100)


def test_a_parameter_that_cannot_render_fails_the_step_for_good(
    sessions: sessionmaker[Session],
) -> None:
    execution_id = _start(
        sessions, [Step("a", parameters={"to": "{{ nobody }}"}, retry_attempts=3)]
    )
    called: list[dict[str, Any]] = []
    worker = Worker(sessions, {StepType.AUTOMATED: called.append}, worker_id="w1")
    assert _drain(worker) == 1
    run = _runs(sessions, execution_id)["a"]
    assert called == []
    assert run.status is StepStatus.FAILED
    assert "undefined variable 'nobody'" in (run.error_message or "")
    assert run.retry_count == 0  # the same inputs would fail the same way
    assert _execution(sessions, execution_id).status is ExecutionStatus.FAILED


def test_an_exception_fails_the_attempt_with_its_message_and_the_retry_runs(
    sessions: sessionmaker[Session],
) -> None:
    execution_id = _start(sessions, [Step("flaky", retry_attempts=1), Step("broken")])
    attempts: list[int] = []

    def flaky(_: dict[str, Any]) -> dict[str, Any]:
        attempts.append(current_lease().token)
        if len(attempts) == 1:
            raise RuntimeError("connection reset by peer")
        return {"ok": True}

    def broken(_: dict[str, Any]) -> None:
        raise StepFailed("disk full")

    worker = Worker(sessions, {"flaky": flaky, "broken": broken}, worker_id="w1")
    assert worker.run_once() + worker.run_once() == 2
    first = _runs(sessions, execution_id)["flaky"]
    assert (first.status, first.error_message, first.retry_count) == (
        StepStatus.PENDING,
        "connection reset by peer",
        1,
    )
    assert _drain(worker) == 1
    runs = _runs(sessions, execution_id)
    assert (runs["flaky"].status, runs["flaky"].attempt, attempts) == (
        StepStatus.COMPLETED,
        2,
        [1, 2],
    )
    assert (runs["broken"].status, runs["broken"].error_message) == (
        StepStatus.FAILED,
        "disk full",
    )
    execution = _execution(sessions, execution_id)
    assert execution.status is ExecutionStatus.FAILED
    assert (execution.completed_steps, execution.failed_steps) == (1, 1)


def test_an_output_that_is_not_a_json_dict_fails_the_step_for_good(
    sessions: sessionmaker[Session],
) -> None:
    execution_id = _start(sessions, [Step("a", retry_attempts=2), Step("b", retry_attempts=2)])

    def not_json(_: dict[str, Any]) -> dict[str, Any]:
        return {"when": object()}

    def not_a_dict(_: dict[str, Any]) -> Any:
        return ["x"]

    assert _drain(Worker(sessions, {"a": not_json, "b": not_a_dict}, worker_id="w1")) == 2
    runs = _runs(sessions, execution_id)
    assert runs["a"].status is StepStatus.FAILED
    assert (runs["a"].error_message or "").startswith("handler output must be JSON-serialisable")
    assert runs["b"].error_message == "handler returned a list, not a dict"
    assert runs["b"].retry_count == 0


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message")


def test_a_failure_no_database_could_store_is_stored_escaped_and_never_run_again(
    sessions: sessionmaker[Session],
) -> None:
    """A NUL, a lone surrogate (``os.fsdecode`` of bytes that are not UTF-8), a message
    longer than a text column, an exception that cannot say itself, an output that holds
    a surrogate: each step fails once, for good, and the worker goes on."""
    names = ["nul", "surrogate", "long", "unprintable", "output"]
    execution_id = _start(sessions, [Step(name) for name in names])
    calls: list[str] = []

    def failing(name: str, error: Exception | None) -> Handler:
        def handler(_: dict[str, Any]) -> dict[str, Any]:
            calls.append(name)
            if error is not None:
                raise error
            return {"path": "/srv/\udcff"}

        return handler

    handlers = {
        "nul": failing("nul", RuntimeError("bad\x00byte")),
        "surrogate": failing("surrogate", OSError("no such file: /srv/\udcff")),
        "long": failing("long", RuntimeError("é" * 40_000)),
        "unprintable": failing("unprintable", Unprintable()),
        "output": failing("output", None),
    }
    assert _drain(Worker(sessions, handlers, worker_id="w1")) == len(names)
    runs = _runs(sessions, execution_id)
    assert sorted(calls) == sorted(names)  # once each
    assert {runs[name].status for name in names} == {StepStatus.FAILED}
    assert runs["nul"].error_message == "bad\\x00byte"
    assert runs["surrogate"].error_message == "no such file: /srv/\\udcff"
    long_message = runs["long"].error_message or ""
    assert long_message.endswith(" [cut]")
    assert len(long_message.encode()) <= 65_535
    assert runs["unprintable"].error_message == "Unprintable"
    assert "lone surrogate U+DCFF" in (runs["output"].error_message or "")
    assert _execution(sessions, execution_id).status is ExecutionStatus.FAILED


def test_a_secret_a_handler_quotes_in_its_error_is_stored_masked(
    sessions: sessionmaker[Session],
) -> None:
    token = "tok-5f1c9a-never-stored"
    with sessions() as session:
        execution_id = started_run(
            session,
            [step("call", parameters={"url": "https://api.example/x?token={{ token }}"})],
            variables=[{"name": "token", "type": "string", "sensitive": True}],
            inputs={"token": token},
        ).id

    def call(parameters: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(f"401 Unauthorized for url: {parameters['url']}")

    assert _drain(Worker(sessions, {"call": call}, worker_id="w1")) == 1
    assert _runs(sessions, execution_id)["call"].error_message == (
        "401 Unauthorized for url: https://api.example/x?token=********"
    )


def test_a_pass_enforces_timeouts_on_steps_other_workers_hold(
    sessions: sessionmaker[Session],
) -> None:
    execution_id = _start(sessions, [Step("stuck", timeout_minutes=1)])
    with sessions() as session:
        (held,) = claim_ready_steps(session, worker_id="gone", lease_seconds=3600)
        held.deadline_at = utc_now() - timedelta(seconds=1)  # its worker hung a minute ago
        session.commit()
    assert Worker(sessions, {"other": dict}, worker_id="w1").run_once() == 0
    run = _runs(sessions, execution_id)["stuck"]
    assert (run.status, run.error_message) == (StepStatus.FAILED, "timed out after 1 min")
    assert _execution(sessions, execution_id).status is ExecutionStatus.FAILED


def test_stop_finishes_the_running_step_and_releases_the_others(
    sessions: sessionmaker[Session],
) -> None:
    execution_id = _start(sessions, [Step("a"), Step("b")])
    worker: Worker

    def stop_at_first(_: dict[str, Any]) -> dict[str, Any]:
        worker.stop()
        return {"done": True}

    worker = Worker(sessions, {StepType.AUTOMATED: stop_at_first}, worker_id="w1", batch_size=2)
    assert worker.run_once() == 1
    runs = sorted(_runs(sessions, execution_id).values(), key=lambda run: run.status)
    assert [run.status for run in runs] == [StepStatus.COMPLETED, StepStatus.PENDING]
    released = runs[1]
    assert (released.claimed_by, released.lease_expires_at) == (None, None)
    with sessions() as session:
        (taken,) = claim_ready_steps(session, worker_id="w2")
        assert taken.id == released.id


@pytest.mark.parametrize(
    ("handlers", "message"),
    [
        ({}, "handlers must map"),
        ({StepType.APPROVAL: dict}, "finished by people"),
        ({"manual": dict}, "finished by people"),
        ({"a": "not callable"}, "is not callable"),
    ],
)
def test_handlers_a_worker_cannot_use_are_refused(handlers: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Worker(sessionmaker(), handlers, worker_id="w1")


def test_run_once_with_nothing_ready_returns_0(sessions: sessionmaker[Session]) -> None:
    assert Worker(sessions, {StepType.AUTOMATED: dict}, worker_id="w1").run_once() == 0


def test_sigterm_stops_run_and_the_previous_handler_comes_back(
    sessions: sessionmaker[Session],
) -> None:
    received: list[int] = []

    def previous(number: int, _frame: object) -> None:
        received.append(number)

    original = signal.signal(signal.SIGTERM, previous)
    try:
        worker = Worker(sessions, {StepType.AUTOMATED: dict}, worker_id="w1", poll_interval=0.05)
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        started = time.monotonic()
        worker.run()
        timer.join()
        assert time.monotonic() - started < 5
        assert received == []  # the worker's handler took it
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, original)


def test_stop_from_a_signal_handler_never_hangs_the_wait_it_interrupts() -> None:
    """SIGTERM reaches a worker at any point of its wait for work; with a lock in
    ``stop()``, one landing while the wait held it hung the worker for good. In a process
    of its own, which the test can kill."""
    command = [sys.executable, "-m", "tests.concurrency.stop_under_signals", "2"]
    try:
        finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a stop() from a signal handler hung the worker's wait")
    assert finished.returncode == 0, finished.stderr
    assert int(finished.stdout) >= 20  # workers stopped by a signal, each mid-wait


def test_a_handler_longer_than_its_lease_keeps_the_step_through_heartbeats(
    sessions: sessionmaker[Session],
) -> None:
    """Also the step claimed with it, waiting for its turn."""
    execution_id = _start(sessions, [Step("slow"), Step("next")])
    stolen: list[int] = []
    running, done = threading.Event(), threading.Event()

    def thief() -> None:
        running.wait(BOUND_SECONDS)
        with sessions() as session:
            while not done.is_set():
                stolen.extend(run.id for run in claim_ready_steps(session, worker_id="thief"))
                session.commit()
                done.wait(0.2)

    def slow(_: dict[str, Any]) -> dict[str, Any]:
        running.set()
        time.sleep(3)
        return {"slept": 3}

    thread = threading.Thread(target=thief)
    thread.start()
    try:
        handlers: dict[StepType | str, Handler] = {"slow": slow, "next": dict}
        worker = Worker(sessions, handlers, worker_id="w1", lease_seconds=1, batch_size=2)
        assert worker.run_once() == 2
    finally:
        running.set()
        done.set()
        thread.join(BOUND_SECONDS)
    assert stolen == []
    for run in _runs(sessions, execution_id).values():
        assert (run.status, run.claimed_by, run.attempt) == (StepStatus.COMPLETED, "w1", 1)


def test_a_worker_whose_step_was_taken_over_drops_its_result_and_goes_on(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    execution_id = _start(sessions, [Step("a")])
    worker_b = Worker(sessions, {"a": lambda _: {"by": "B"}}, worker_id="B")

    def stalled(_: dict[str, Any]) -> dict[str, Any]:
        with sessions.begin() as session:  # A stalls past its lease: B takes the step over
            session.execute(
                update(PlaybookStepExecution)
                .where(PlaybookStepExecution.playbook_execution_id == execution_id)
                .values(claim_due_at=utc_now() - timedelta(seconds=1))
            )
        assert worker_b.run_once() == 1
        return {"by": "A"}

    assert Worker(sessions, {"a": stalled}, worker_id="A").run_once() == 1
    run = _runs(sessions, execution_id)["a"]
    assert (run.claimed_by, run.attempt, run.output_data) == ("B", 2, {"by": "B"})
    assert _execution(sessions, execution_id).completed_steps == 1
    assert any("lease lost" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("reload", ["commit", "rollback"])
def test_a_late_completion_after_a_takeover_raises_and_changes_nothing(
    engine: Engine, reload: str
) -> None:
    """With ``session_factory`` defaults (``expire_on_commit=True``): A's copy reloads B's
    row after the commit or the rollback, and the fence still refuses A."""
    sessions = session_factory(engine)
    execution_id = _start(sessions, [Step("a")])
    with sessions() as worker_a, sessions() as worker_b:
        (mine,) = claim_ready_steps(worker_a, worker_id="A", lease_seconds=0.5)
        worker_a.commit()
        time.sleep(0.8)
        (theirs,) = claim_ready_steps(worker_b, worker_id="B", lease_seconds=60)
        worker_b.commit()
        if reload == "rollback":
            worker_a.rollback()
        assert (mine.claimed_by, mine.attempt) == ("B", 2)  # reloaded: B's row
        with pytest.raises(LeaseLostError):
            complete_step(worker_a, mine, {"by": "A"})
        worker_a.rollback()
        complete_step(worker_b, theirs, {"by": "B"})
        worker_b.commit()
    run = _runs(sessions, execution_id)["a"]
    assert (run.status, run.claimed_by, run.attempt, run.output_data) == (
        StepStatus.COMPLETED,
        "B",
        2,
        {"by": "B"},
    )
    assert _execution(sessions, execution_id).completed_steps == 1


KILL_OTHERS = {
    "postgresql": "SELECT pg_terminate_backend({id})",
    "mariadb": "KILL {id}",
}
CONNECTION_ID = {"postgresql": "SELECT pg_backend_pid()", "mariadb": "SELECT CONNECTION_ID()"}


@pytest.fixture
def unpinged_engine(engine: Engine, database: str) -> Iterator[tuple[Engine, list[int]]]:
    """An engine that does not ping its pooled connections (so a killed one is found in
    the middle of the worker's work) and the server ids of the connections it opened."""
    if database == "sqlite":
        pytest.skip("SQLite has no connection to kill")
    opened: list[int] = []
    worker_engine = create_engine(
        engine.url.render_as_string(hide_password=False), pool_pre_ping=False
    )

    @event.listens_for(worker_engine, "connect")
    def _remember(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(CONNECTION_ID[database])
        opened.append(int(cursor.fetchone()[0]))
        cursor.close()
        dbapi_connection.rollback()  # a new connection leaves "connect" outside a transaction

    try:
        yield worker_engine, opened
    finally:
        worker_engine.dispose()


def test_a_killed_connection_is_survived_and_the_work_finished(
    sessions: sessionmaker[Session],
    engine: Engine,
    database: str,
    unpinged_engine: tuple[Engine, list[int]],
) -> None:
    worker_engine, opened = unpinged_engine
    execution_id = _start(sessions, [Step("a"), Step("b", after=["a"]), Step("c", after=["b"])])

    def kill_the_workers_connections(_: dict[str, Any]) -> dict[str, Any]:
        with engine.connect() as admin:
            for connection_id in set(opened):
                try:
                    admin.execute(text(KILL_OTHERS[database].format(id=connection_id)))
                except Exception:  # already gone
                    admin.rollback()
        return {"killed": True}

    worker = Worker(
        session_factory(worker_engine),
        {StepType.AUTOMATED: kill_the_workers_connections},
        worker_id="w1",
        poll_interval=0.05,
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        deadline = time.monotonic() + BOUND_SECONDS
        while _execution(sessions, execution_id).status is ExecutionStatus.RUNNING:
            assert time.monotonic() < deadline, "the worker did not finish the run"
            time.sleep(0.1)
    finally:
        worker.stop()
        thread.join(BOUND_SECONDS)
    assert not thread.is_alive()
    assert len(set(opened)) > 1  # connections were killed and replaced
    runs = _runs(sessions, execution_id)
    assert {(run.status, run.attempt) for run in runs.values()} == {(StepStatus.COMPLETED, 1)}
    assert _execution(sessions, execution_id).status is ExecutionStatus.COMPLETED


def test_sqlite_database_is_locked_is_waited_out_and_the_work_finished(
    sessions: sessionmaker[Session],
    engine: Engine,
    database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A writer holding the lock longer than the worker's busy timeout: the worker's
    transactions fail with "database is locked", roll back and are retried."""
    if database != "sqlite":
        pytest.skip("SQLite's write lock")
    execution_id = _start(sessions, [Step("a"), Step("b", after=["a"])])
    impatient = create_engine(
        engine.url.render_as_string(hide_password=False), connect_args={"timeout": 0.05}
    )
    worker = Worker(
        session_factory(impatient), {StepType.AUTOMATED: dict}, worker_id="w1", poll_interval=0.05
    )
    thread = threading.Thread(target=worker.run)
    try:
        with engine.connect() as blocker:
            blocker.exec_driver_sql("BEGIN IMMEDIATE")
            thread.start()
            time.sleep(1)  # every claim in the meantime finds the database locked
            assert _execution(sessions, execution_id).completed_steps == 0
            blocker.exec_driver_sql("COMMIT")
        deadline = time.monotonic() + BOUND_SECONDS
        while _execution(sessions, execution_id).status is ExecutionStatus.RUNNING:
            assert time.monotonic() < deadline, "the worker did not finish the run"
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(BOUND_SECONDS)
        impatient.dispose()
    assert not thread.is_alive()
    assert _execution(sessions, execution_id).status is ExecutionStatus.COMPLETED
    assert any("claiming failed" in record.getMessage() for record in caplog.records)


def test_a_worker_whose_database_cannot_be_reached_waits_for_it_until_stopped() -> None:
    unreachable = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    worker = Worker(
        session_factory(unreachable), {"script": dict}, worker_id="w1", poll_interval=0.05
    )
    failures: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as error:  # what the thread would otherwise swallow
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    worker.stop()
    thread.join(BOUND_SECONDS)
    unreachable.dispose()
    assert not thread.is_alive()
    assert failures == []


@contextmanager
def waiting_worker(
    engine: Engine, database: str
) -> Iterator[tuple[sessionmaker[Session], threading.Event]]:
    """A worker on PostgreSQL that found nothing to do and waits, polling every 30 s only:
    what it does within seconds, a wake-up made it do. Its sessions, and an event its
    handler sets."""
    if database != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; the others poll")
    sessions = session_factory(engine)
    done = threading.Event()
    worker = Worker(
        sessions,
        {"script": lambda _parameters: done.set()},
        worker_id="sleeper",
        poll_interval=30.0,
        max_poll_interval=30.0,
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # the worker found nothing and waits
        yield sessions, done
    finally:
        worker.stop()
        thread.join(timeout=10)


def test_a_waiting_worker_on_postgresql_wakes_when_a_step_becomes_ready(
    engine: Engine, database: str
) -> None:
    with waiting_worker(engine, database) as (sessions, done):
        with sessions() as session:
            started_run(session, [step("a")])
        assert done.wait(timeout=5.0)


def test_a_worker_on_postgresql_listens_again_after_its_connection_is_lost(
    engine: Engine, database: str
) -> None:
    with waiting_worker(engine, database) as (sessions, done):
        with engine.connect() as admin:
            killed = admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                )
            ).all()
        assert killed
        time.sleep(1.0)  # the wait that lost it listens again, and looks for work
        with sessions() as session:
            started_run(session, [step("a")])
        assert done.wait(timeout=10.0)
