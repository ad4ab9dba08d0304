"""Four worker processes, one of them SIGKILLed and restarted several times, run at least 50
executions of a DAG with a diamond, a retry and an optional failing step; every run ends
as its steps dictate, no step is finished by a worker that lost its lease, and every
counter is exact."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from agentical.db import history
from agentical.db.models.audit import AuditEntry
from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    PlaybookStep,
    PlaybookStepExecution,
    StepStatus,
)
from tests.concurrency.worker_builders import Step, dag_playbook_id, started_execution

pytestmark = pytest.mark.slow

WORKERS = 4
EXECUTIONS = 50  # to begin with; more while a kill is still due, so the run outlasts the kills
KEEP_RUNNING = 2 * WORKERS
DOOMED_EVERY = 10  # every tenth execution's required step "left" fails for good
KILLS = 3
KILL_EVERY_SECONDS = 1.5
HARD_TIMEOUT_SECONDS = 120
ROOT = Path(__file__).resolve().parents[2]

STEPS = [
    Step("start"),
    Step("left", after=["start"], parameters={"doomed": "{{ doomed }}"}),
    Step("right", after=["start"]),
    Step("flaky", after=["start"], retry_attempts=1),
    Step("optional", after=["start"], optional=True),
    Step("join", after=["left", "right", "flaky"]),
]


def _doomed(index: int) -> bool:
    return index % DOOMED_EVERY == 3


def _spawn(url: str, worker_id: str, folder: Path) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "LOGFIRE_IGNORE_NO_CONFIG": "1"}
    module = "tests.concurrency.worker_process"
    command = [sys.executable, "-m", module, url, worker_id, str(folder / "markers")]
    with (folder / f"{worker_id}.log").open("wb") as log:  # the child keeps its own copy
        return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)


def _start_execution(sessions: sessionmaker[Session], playbook_id: int) -> None:
    """One more execution; every tenth (by order of creation) is doomed."""
    with sessions() as session:
        mine = PlaybookExecution.playbook_id == playbook_id
        index = session.scalar(select(func.count(PlaybookExecution.id)).where(mine))
        assert index is not None
        started_execution(session, playbook_id, {"doomed": "yes" if _doomed(index) else "no"})
        session.commit()


def _running(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return len(
            session.scalars(
                select(PlaybookExecution.id).where(
                    PlaybookExecution.status == ExecutionStatus.RUNNING
                )
            ).all()
        )


def _holds_a_step(sessions: sessionmaker[Session], worker_id: str) -> bool:
    with sessions() as session:
        return (
            session.scalars(
                select(PlaybookStepExecution.id).where(
                    PlaybookStepExecution.claimed_by == worker_id,
                    PlaybookStepExecution.status == StepStatus.RUNNING,
                )
            ).first()
            is not None
        )


def _run_workers(
    engine: Engine, sessions: sessionmaker[Session], folder: Path, more_work: Callable[[], None]
) -> list[int]:
    """Run the workers until no execution is running, calling ``more_work()`` while a kill
    is due and fewer than ``KEEP_RUNNING`` executions run; the exit codes of the workers
    stopped by SIGTERM at the end."""
    url = engine.url.render_as_string(hide_password=False)
    (folder / "markers").mkdir()
    names = [f"worker-{index}" for index in range(WORKERS)]
    workers = [_spawn(url, name, folder) for name in names]
    every: list[subprocess.Popen[bytes]] = list(workers)
    try:
        deadline = time.monotonic() + HARD_TIMEOUT_SECONDS
        kills, last_kill, victim = 0, time.monotonic(), "worker-0"
        while running := _running(sessions):
            assert time.monotonic() < deadline, "the workers did not finish in time"
            if kills < KILLS and running < KEEP_RUNNING:
                more_work()
            due = kills < KILLS and time.monotonic() - last_kill > KILL_EVERY_SECONDS
            if due and _holds_a_step(sessions, victim):  # killed in the middle of a step
                workers[0].kill()
                workers[0].wait(10)
                kills += 1
                last_kill = time.monotonic()
                victim = names[0] = f"worker-0.{kills}"
                workers[0] = _spawn(url, victim, folder)
                every.append(workers[0])
            time.sleep(0.02)
        assert kills == KILLS
        while not all((folder / f"{name}.ready").exists() for name in names):
            assert time.monotonic() < deadline, "a worker never started"
            time.sleep(0.05)
        for worker in workers:
            worker.terminate()
        return [worker.wait(30) for worker in workers]
    finally:
        for process in every:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def test_four_worker_processes_with_kills_finish_every_run_exactly(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as session:
        playbook_id = dag_playbook_id(session, STEPS, variables=("doomed",))
        session.commit()
    for _ in range(EXECUTIONS):
        _start_execution(sessions, playbook_id)
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")

    exit_codes = _run_workers(
        engine, sessions, tmp_path, lambda: _start_execution(sessions, playbook_id)
    )
    logs = {path.name: path.read_text() for path in tmp_path.glob("*.log")}
    assert exit_codes == [0] * WORKERS, logs  # SIGTERM: a clean stop
    assert not any("Traceback" in log for log in logs.values()), logs

    with sessions() as session:
        executions = session.scalars(select(PlaybookExecution).order_by(PlaybookExecution.id)).all()
        runs = session.scalars(select(PlaybookStepExecution)).all()
        playbook = session.get(Playbook, playbook_id)
        steps = session.scalars(select(PlaybookStep)).all()
        assert playbook is not None
        by_execution: dict[int, dict[str, PlaybookStepExecution]] = {}
        for run in runs:
            by_execution.setdefault(run.playbook_execution_id, {})[run.step_name] = run

        for index, execution in enumerate(executions):
            states = {name: run.status for name, run in by_execution[execution.id].items()}
            expected = dict.fromkeys(("start", "right", "flaky", "join"), StepStatus.COMPLETED)
            expected |= {"left": StepStatus.COMPLETED, "optional": StepStatus.FAILED}
            if _doomed(index):
                expected |= {"left": StepStatus.FAILED, "join": StepStatus.SKIPPED}
            assert states == expected, (index, states)
            outcome = ExecutionStatus.FAILED if _doomed(index) else ExecutionStatus.COMPLETED
            assert execution.status is outcome
            assert execution.overall_success is (not _doomed(index))
            counted = Counter(states.values())
            assert (
                execution.completed_steps,
                execution.failed_steps,
                execution.skipped_steps,
            ) == (
                counted[StepStatus.COMPLETED],
                counted[StepStatus.FAILED],
                counted[StepStatus.SKIPPED],
            )
            assert execution.progress_percentage == 100

        # No transition lacks its audit row, and none has two: the trail and the row's
        # history agree, the end written by whichever worker finished the run.
        trail: dict[str | None, list[tuple[str, str | None, str | None]]] = {}
        for entry in session.scalars(history.audit_trail().order_by(None).order_by(AuditEntry.id)):
            trail.setdefault(entry.execution_id, []).append(
                (entry.actor, entry.from_status, entry.to_status)
            )
        for execution in executions:
            transitions = [
                (change["by"], change["from"], change["to"]) for change in execution.status_history
            ]
            assert [to_status for _by, _from, to_status in transitions] == [
                "running",
                str(execution.status),
            ]
            assert trail.get(execution.execution_id) == transitions, execution.execution_id

        for run in runs:
            signature = f"by {run.claimed_by} attempt {run.attempt}"
            if run.status is StepStatus.COMPLETED:
                assert run.output_data == {"worker": run.claimed_by, "attempt": run.attempt}
            elif run.status is StepStatus.FAILED:
                assert (run.error_message or "").endswith(signature), run.error_message
        taken_over = [run for run in runs if run.attempt > run.retry_count + 1]
        assert taken_over, "no kill left a step to take over"
        retried = [run.retry_count for run in runs if run.step_name == "flaky"]
        assert set(retried) <= {0, 1}
        # A kill between the marker and the failure skips one.
        assert sum(retried) >= len(executions) - KILLS

        doomed = sum(_doomed(index) for index in range(len(executions)))
        assert (
            playbook.total_executions,
            playbook.successful_executions,
            playbook.failed_executions,
        ) == (len(executions), len(executions) - doomed, doomed)
        for step in steps:
            finished = Counter(
                run.status
                for run in runs
                if run.playbook_step_id == step.id
                and run.status in (StepStatus.COMPLETED, StepStatus.FAILED)
            )
            assert (
                step.total_executions,
                step.successful_executions,
                step.failed_executions,
            ) == (
                finished.total(),
                finished[StepStatus.COMPLETED],
                finished[StepStatus.FAILED],
            ), step.step_name
