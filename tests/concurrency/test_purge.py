"""A purge against real commits: killed at any moment it leaves whole runs and runs
again; beside a worker it deletes only finished runs and blocks no claim."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.history import purge_executions
from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    claim_ready_steps,
)
from agentical.db.runs import complete_step
from agentical.db.testing.factories import make_playbook
from agentical.db.types import utc_now
from tests.concurrency.builders import running_execution

STEPS = 3
LONG_AGO = timedelta(days=100)
CUT_OFF = timedelta(days=90)

# Archives slowly (inside each batch's transaction) and says when each batch is done.
PURGE_SCRIPT = textwrap.dedent(
    """
    import io, sys, time
    from datetime import timedelta
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session
    from agentical.db.history import purge_executions
    from agentical.db.types import utc_now

    class SlowArchive(io.StringIO):
        def write(self, text):
            time.sleep(0.02)
            return super().write(text)

    engine = create_engine(sys.argv[1])
    with Session(engine) as session:
        purge_executions(
            session,
            finished_before=utc_now() - timedelta(days=90),
            batch_size=4,
            archive=SlowArchive(),
            on_batch=lambda so_far: print(so_far.batches, flush=True),
        )
    """
)


def finished_runs(session: Session, playbook: Playbook, count: int) -> None:
    ended = utc_now() - LONG_AGO
    for _ in range(count):
        execution = PlaybookExecution(
            playbook=playbook,
            status=ExecutionStatus.COMPLETED,
            started_at=ended,
            completed_at=ended,
        )
        session.add(execution)
        session.add_all(
            PlaybookStepExecution(execution=execution, step=step, status=StepStatus.COMPLETED)
            for step in playbook.steps
        )
    session.commit()


def step_runs_per_execution(session: Session) -> list[int]:
    counts = session.execute(
        select(PlaybookExecution.id, func.count(PlaybookStepExecution.id))
        .outerjoin(PlaybookStepExecution)
        .group_by(PlaybookExecution.id)
    )
    return [count for _id, count in counts]


def test_a_purge_killed_mid_batch_leaves_whole_runs_and_finishes_when_run_again(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        finished_runs(session, make_playbook(session, steps=STEPS), 40)
    url = engine.url.render_as_string(hide_password=False)
    with subprocess.Popen(
        [sys.executable, "-c", PURGE_SCRIPT, url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "LOGFIRE_IGNORE_NO_CONFIG": "1"},
    ) as purge:
        assert purge.stdout is not None
        try:
            while purge.stdout.readline().strip() != "3":  # 3 batches done, the 4th begun
                assert purge.poll() is None, "the purge ended before it could be killed"
            threading.Event().wait(0.03)  # inside the fourth batch's archive writes
        finally:
            purge.send_signal(signal.SIGKILL)
            purge.wait(timeout=30)

    with sessions() as session:
        left = step_runs_per_execution(session)
        assert 0 < len(left) <= 40 - 12
        assert len(left) % 4 == 0  # whole batches only
        assert set(left) == {STEPS}  # every run kept has every step run
        again = purge_executions(session, finished_before=utc_now() - CUT_OFF)
        assert again.executions == len(left)
        assert step_runs_per_execution(session) == []


def test_a_purge_beside_a_worker_deletes_only_finished_runs_and_blocks_no_claim(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        finished_runs(session, make_playbook(session, steps=STEPS), 30)
        running = running_execution(session, steps=20)
        session.commit()
        running_id = running.id
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with sessions() as session:
                while claimed := claim_ready_steps(session, worker_id="worker"):
                    session.commit()
                    complete_step(session, claimed[0], {"ok": True})
                    session.commit()
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=work)
    worker.start()
    with sessions() as session:
        result = purge_executions(session, finished_before=utc_now() - CUT_OFF, batch_size=1)
    worker.join(timeout=60)

    assert not worker.is_alive()
    assert errors == []
    assert result.executions == 30
    with sessions() as session:
        execution = session.get(PlaybookExecution, running_id)
        assert execution is not None
        assert execution.status == ExecutionStatus.COMPLETED
        assert step_runs_per_execution(session) == [20]
