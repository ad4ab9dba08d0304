"""``Playbook.record_run``: counters and the running mean in one UPDATE, exact under
concurrent writers; a template's ``usage_count`` likewise."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from agentical.db.errors import NotFoundError
from agentical.db.models.playbook import Playbook, PlaybookTemplate
from agentical.db.testing.factories import make_playbook, make_template
from tests.concurrency.conftest import run_in_threads

THREADS = 8
RUNS_PER_THREAD = 50


def _duration(thread: int, run: int) -> float:
    return float((thread * RUNS_PER_THREAD + run) % 17) + 0.5


def test_eight_threads_record_every_run_and_the_exact_mean(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        playbook_id = make_playbook(session, steps=1).id
        session.commit()

    def work(thread: int) -> int:
        with sessions() as session:
            for run in range(RUNS_PER_THREAD):
                Playbook.record_run(session, playbook_id, _duration(thread, run), run % 5 != 0)
                session.commit()
        return RUNS_PER_THREAD

    outcomes = run_in_threads(THREADS, work)
    assert outcomes == [RUNS_PER_THREAD] * THREADS
    durations = [_duration(t, r) for t in range(THREADS) for r in range(RUNS_PER_THREAD)]
    with sessions() as session:
        playbook = session.get(Playbook, playbook_id)
        assert playbook is not None
        assert playbook.total_executions == THREADS * RUNS_PER_THREAD
        assert playbook.successful_executions == THREADS * (RUNS_PER_THREAD * 4 // 5)
        assert playbook.failed_executions == THREADS * (RUNS_PER_THREAD // 5)
        assert playbook.average_execution_time == pytest.approx(
            sum(durations) / len(durations), rel=1e-9
        )
        assert playbook.last_execution_at is not None
        assert playbook.row_version == 1  # counting a run is not an edit of the definition


def test_a_loaded_playbook_reads_the_new_counters(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=1)
        session.commit()
        assert playbook.total_executions == 0
        Playbook.record_run(session, playbook.id, 10, True)
        Playbook.record_run(session, playbook.id, 20, False)
        assert (playbook.total_executions, playbook.successful_executions) == (2, 1)
        assert playbook.failed_executions == 1
        assert playbook.average_execution_time == pytest.approx(15.0)
        assert playbook.success_rate == pytest.approx(0.5)


def test_an_edit_made_while_runs_are_counted_keeps_both(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        playbook_id = make_playbook(session, steps=1).id
        session.commit()
    with sessions() as editor, sessions() as counter:
        playbook = editor.get(Playbook, playbook_id)
        assert playbook is not None
        Playbook.record_run(counter, playbook_id, 3.0, True)
        counter.commit()
        playbook.description = "edited"
        editor.commit()
    with sessions() as check:
        stored = check.get(Playbook, playbook_id)
        assert stored is not None
        assert (stored.description, stored.total_executions) == ("edited", 1)


@pytest.mark.parametrize(
    ("seconds", "success", "error"),
    [
        (-1.0, True, ValueError),
        (float("nan"), True, ValueError),
        (float("inf"), True, ValueError),
        (True, True, TypeError),
        ("5", True, TypeError),
        (1.0, 1, TypeError),
    ],
)
def test_a_bad_run_is_refused_and_nothing_is_counted(
    sessions: sessionmaker[Session], seconds: object, success: object, error: type[Exception]
) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=1)
        session.commit()
        with pytest.raises(error):
            Playbook.record_run(session, playbook.id, seconds, success)  # type: ignore[arg-type]
        session.rollback()
        assert playbook.total_executions == 0


def test_an_unknown_playbook_is_not_found(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(NotFoundError, match="no row with id"):
        Playbook.record_run(session, 987654321, 1.0, True)


def test_playbooks_made_from_one_template_at_once_are_all_counted(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        template_id = make_template(session).id
        session.commit()

    def work(thread: int) -> int:
        for run in range(5):
            with sessions() as session:
                template = session.get_one(PlaybookTemplate, template_id)
                session.add(template.create_playbook(f"From template {thread}-{run}"))
                session.commit()
        return 5

    assert run_in_threads(THREADS, work) == [5] * THREADS
    with sessions() as session:
        assert session.get_one(PlaybookTemplate, template_id).usage_count == THREADS * 5
