"""Loading playbooks and serialising them."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from agentical.db.enums import PlaybookStatus
from agentical.db.models.playbook import Playbook, PlaybookStep, step_dependencies
from agentical.db.testing.databases import rollback_session
from agentical.db.testing.queries import count_queries
from tests.perf.report import Result, Results, best_time, compare, timing
from tests.perf.seed import PLAYBOOKS, STEPS, VARIABLES, insert_playbooks


@pytest.fixture
def bench_session(bench_engine: Engine) -> Iterator[Session]:
    """A session in a transaction that is rolled back: every benchmark starts empty."""
    with rollback_session(bench_engine) as session:
        yield session


def serialise(playbook: Playbook) -> dict[str, Any]:
    """What an API shows for a playbook: its ``to_dict`` and each step's."""
    return {**playbook.to_dict(), "steps": [step.to_dict() for step in playbook.steps]}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _performance(row: PlaybookStep | Playbook) -> dict[str, Any]:
    total = row.total_executions
    return {
        "total_executions": total,
        "successful_executions": row.successful_executions,
        "failed_executions": row.failed_executions,
        "average_execution_time": row.average_execution_time,
        "last_execution_at": _iso(row.last_execution_at),
        "success_rate": row.successful_executions / total if total else 0.0,
    }


def _step_by_hand(step: PlaybookStep) -> dict[str, Any]:
    return {
        "id": step.id,
        "uuid": str(step.uuid),
        "created_at": _iso(step.created_at),
        "updated_at": _iso(step.updated_at),
        "is_active": step.is_active,
        **_performance(step),
        "playbook_id": step.playbook_id,
        "step_name": step.step_name,
        "display_name": step.display_name,
        "description": step.description,
        "step_type": step.step_type.value,
        "step_order": step.step_order,
        "status": step.status.value,
        "is_optional": step.is_optional,
        "is_manual": step.is_manual,
        "configuration": dict(step.configuration),
        "instructions": step.instructions,
        "automation_script": step.automation_script,
        "conditions": dict(step.conditions),
        "agent_type": step.agent_type,
        "tool_name": step.tool_name,
        "parameters": dict(step.parameters),
        "verification_method": step.verification_method,
        "verification_criteria": dict(step.verification_criteria),
        "success_indicators": list(step.success_indicators),
        "estimated_duration_minutes": step.estimated_duration_minutes,
        "timeout_minutes": step.timeout_minutes,
        "retry_attempts": step.retry_attempts,
        "retry_delay_seconds": step.retry_delay_seconds,
        "depends_on_step_ids": [dependency.id for dependency in step.depends_on],
    }


def serialise_by_hand(playbook: Playbook) -> dict[str, Any]:
    """The baseline: the same document written field by field, no schema."""
    return {
        "id": playbook.id,
        "uuid": str(playbook.uuid),
        "created_at": _iso(playbook.created_at),
        "updated_at": _iso(playbook.updated_at),
        "is_active": playbook.is_active,
        **_performance(playbook),
        "name": playbook.name,
        "description": playbook.description,
        "category": playbook.category.value,
        "purpose": playbook.purpose,
        "strategy": playbook.strategy,
        "tags": list(playbook.tags),
        "success_criteria": list(playbook.success_criteria),
        "status": playbook.status.value,
        "is_public": playbook.is_public,
        "is_template": playbook.is_template,
        "configuration": dict(playbook.configuration),
        "input_schema": playbook.input_schema,
        "output_schema": playbook.output_schema,
        "max_concurrent_executions": playbook.max_concurrent_executions,
        "timeout_minutes": playbook.timeout_minutes,
        "retry_attempts": playbook.retry_attempts,
        "version": playbook.version,
        "published_at": _iso(playbook.published_at),
        "parent_playbook_id": playbook.parent_playbook_id,
        "template_id": playbook.template_id,
        "created_by": playbook.created_by,
        "created_by_user_id": playbook.created_by_user_id,
        "step_count": len(playbook.steps),
        "is_executable": playbook.is_executable,
        "steps": [_step_by_hand(step) for step in playbook.steps],
    }


@pytest.mark.parametrize("count", [10, 100, 1000])
def test_select_full_query_count(
    bench_session: Session, bench_database: str, results: Results, count: int
) -> None:
    ids = insert_playbooks(bench_session.connection(), count, steps=5, variables=2)
    bench_session.commit()
    ours = Playbook.id >= ids[0]  # the database may hold other benchmarks' playbooks

    bench_session.expunge_all()
    with count_queries(bench_session.connection()) as default:
        for playbook in bench_session.scalars(select(Playbook).where(ours)).all():
            serialise(playbook)
    bench_session.expunge_all()
    start = time.perf_counter()
    with count_queries(bench_session.connection()) as log:
        playbooks = bench_session.scalars(Playbook.select_full().where(ours)).all()
        documents = [serialise(playbook) for playbook in playbooks]
    seconds = time.perf_counter() - start

    assert len(documents) == count
    results.add(
        Result(
            benchmark=f"load {count} playbooks (5 steps, 2 variables) + to_dict",
            database=bench_database,
            figure=log.count,
            unit="queries",
            baseline=default.count,
            baseline_name="default selectin loaders",
            target="<= 3, same for every N",
            met=log.count <= 3,
            note=f"{seconds * 1000:.0f} ms",
        )
    )


def test_to_dict_of_a_20_step_playbook(
    bench_session: Session, bench_database: str, results: Results
) -> None:
    (playbook_id,) = insert_playbooks(bench_session.connection(), 1, steps=20, variables=3)
    bench_session.commit()
    playbook = bench_session.scalars(Playbook.select_full().where(Playbook.id == playbook_id)).one()
    assert serialise(playbook) == serialise_by_hand(playbook)
    loops = 200

    def project() -> float:
        start = time.perf_counter()
        for _ in range(loops):
            serialise(playbook)
        return (time.perf_counter() - start) / loops

    def baseline() -> float:
        start = time.perf_counter()
        for _ in range(loops):
            serialise_by_hand(playbook)
        return (time.perf_counter() - start) / loops

    results.add(
        timing(
            "to_dict of a playbook and its 20 steps",
            bench_database,
            compare(project, baseline, repeat=7),
            "hand-written dict",
            limit=3,
            unit="µs",
        )
    )


def _rows_as_objects(connection: Connection, ids: list[int]) -> list[SimpleNamespace]:
    """Core selects of playbooks, steps (with their dependency ids) and variables, as plain
    objects ``serialise_by_hand`` can read: the least a hand-written loader does."""
    playbooks = PLAYBOOKS.c.id.in_(ids)
    steps: dict[int, list[SimpleNamespace]] = {}
    by_id: dict[int, SimpleNamespace] = {}
    for row in connection.execute(
        select(STEPS).where(STEPS.c.playbook_id.in_(ids)).order_by(STEPS.c.step_order)
    ).mappings():
        step = SimpleNamespace(**row, depends_on=[])
        steps.setdefault(row["playbook_id"], []).append(step)
        by_id[step.id] = step
    edges = select(step_dependencies).where(step_dependencies.c.step_id.in_(list(by_id)))
    for edge in connection.execute(edges):
        by_id[edge.step_id].depends_on.append(SimpleNamespace(id=edge.depends_on_step_id))
    variables: dict[int, list[Any]] = {}
    for variable in connection.execute(select(VARIABLES).where(VARIABLES.c.playbook_id.in_(ids))):
        variables.setdefault(variable.playbook_id, []).append(variable)
    documents = []
    for row in connection.execute(select(PLAYBOOKS).where(playbooks)).mappings():
        own = steps.get(row["id"], [])
        retired = row["status"] in (PlaybookStatus.ARCHIVED, PlaybookStatus.DEPRECATED)
        documents.append(
            SimpleNamespace(
                **row,
                steps=own,
                variables=variables.get(row["id"], []),
                is_executable=bool(row["is_active"]) and not retired and bool(own),
            )
        )
    return documents


def tracked_objects_kept(load: Callable[[], object]) -> int:
    """How many more objects the cyclic collector tracks while ``load()``'s result lives."""
    gc.collect()
    before = len(gc.get_objects())
    loaded = load()
    gc.collect()
    kept = len(gc.get_objects()) - before
    del loaded
    return kept


@contextmanager
def collector_paused() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_load_1000_playbooks_and_to_dict_them_as_json(
    bench_session: Session, bench_database: str, results: Results
) -> None:
    ids = insert_playbooks(bench_session.connection(), 1000, steps=5, variables=2)
    bench_session.commit()

    def library() -> str:
        bench_session.expunge_all()
        playbooks = bench_session.scalars(
            Playbook.select_full().where(Playbook.id.in_(ids)).order_by(Playbook.id)
        ).all()
        return json.dumps([serialise(playbook) for playbook in playbooks])

    def by_hand() -> str:
        playbooks = _rows_as_objects(bench_session.connection(), ids)
        playbooks.sort(key=lambda playbook: playbook.id)
        return json.dumps([serialise_by_hand(playbook) for playbook in playbooks])  # type: ignore[arg-type]

    assert json.loads(library()) == json.loads(by_hand())
    seconds = compare(lambda: best_time(library), lambda: best_time(by_hand), repeat=3)
    results.add(
        timing(
            "load 1,000 playbooks (5 steps, 2 variables) + to_dict as JSON",
            bench_database,
            seconds,
            "Core selects + hand-built dict",
            limit=2,
        )
    )
    # Where the difference goes: the cyclic collector's passes over what each side keeps
    # alive (ORM objects, their states and collections against plain rows).
    bench_session.expunge_all()
    kept_by_library = tracked_objects_kept(
        lambda: bench_session.scalars(Playbook.select_full().where(Playbook.id.in_(ids))).all()
    )
    bench_session.expunge_all()
    kept_by_hand = tracked_objects_kept(lambda: _rows_as_objects(bench_session.connection(), ids))
    with collector_paused():
        paused = compare(lambda: best_time(library), lambda: best_time(by_hand), repeat=3)
    results.add(
        timing(
            "the same, the cyclic collector paused (informational)",
            bench_database,
            paused,
            "Core selects + hand-built dict, collector paused",
            limit=None,
            note=f"objects the collector tracks, per playbook loaded: library "
            f"{kept_by_library / 1000:.0f}, baseline {kept_by_hand / 1000:.0f}",
        )
    )
