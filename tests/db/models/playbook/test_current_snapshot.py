"""The snapshot a playbook's rows produce, built once per session until the definition
changes: the Nth run of an unchanged playbook reuses it, and every edit made through the
ORM gives the next run the new definition while earlier runs keep theirs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agentical.db.enums import StepType
from agentical.db.models.playbook import (
    Playbook,
    PlaybookStep,
    PlaybookVariable,
    builder,
    create_execution,
    current_snapshot,
)
from agentical.db.models.playbook.snapshot import DefinitionSnapshot
from agentical.db.testing.factories import make_playbook, make_variable

RUNS = 200


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the playbooks whose whole definition was built into a snapshot."""
    built: list[str] = []
    build = builder.snapshot_of

    def counting(playbook: Playbook) -> tuple[dict[str, Any], str]:
        built.append(playbook.name)
        return build(playbook)

    monkeypatch.setattr(current_snapshot, "snapshot_of", counting)
    return built


def snapshot_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(DefinitionSnapshot)) or 0


def test_many_runs_of_one_definition_store_one_snapshot_built_once(
    session: Session, builds: list[str]
) -> None:
    playbook = make_playbook(session, steps=5, variables=[make_variable()])
    before = snapshot_count(session)
    executions = [create_execution(session, playbook) for _ in range(RUNS)]
    assert snapshot_count(session) == before + 1
    assert len({execution.snapshot_id for execution in executions}) == 1
    assert builds == [playbook.name]


def test_finished_runs_and_their_counters_do_not_rebuild_the_snapshot(
    session: Session, builds: list[str]
) -> None:
    playbook = make_playbook(session, steps=1, step_type=StepType.MANUAL)
    first = create_execution(session, playbook)
    first.start_execution()
    first.step_executions[0].start_step()
    first.step_executions[0].complete_step()
    session.flush()
    playbook.update_performance_metrics(3.0, True)
    Playbook.record_run(session, playbook.id, 2.0, True)
    session.flush()
    second = create_execution(session, playbook)
    assert second.snapshot_id == first.snapshot_id
    assert builds == [playbook.name]


def add_step(playbook: Playbook) -> None:
    playbook.steps.append(
        PlaybookStep(step_name="added", step_order=len(playbook.steps) + 1, step_type="script")
    )


def remove_step(playbook: Playbook) -> None:
    playbook.steps.remove(playbook.steps[-1])


def mutate_parameters(playbook: Playbook) -> None:
    playbook.steps[0].parameters["region"] = "us"  # MutableDict: changed in place


def add_edge(playbook: Playbook) -> None:
    playbook.steps[2].add_dependency(playbook.steps[0])


def remove_edge(playbook: Playbook) -> None:
    playbook.steps[1].remove_dependency(playbook.steps[0])


def make_sensitive(playbook: Playbook) -> None:
    playbook.variables[0].is_sensitive = True


def add_variable(playbook: Playbook) -> None:
    playbook.variables.append(PlaybookVariable(variable_name="region", default_value="eu"))


def set_configuration(playbook: Playbook) -> None:
    playbook.set_configuration("owner", "sre")


EDITS: dict[str, Callable[[Playbook], None]] = {
    "step field": lambda playbook: setattr(playbook.steps[1], "retry_attempts", 4),
    "step parameters in place": mutate_parameters,
    "step added": add_step,
    "step removed": remove_step,
    "dependency added": add_edge,
    "dependency removed": remove_edge,
    "variable field": make_sensitive,
    "variable added": add_variable,
    "playbook field": lambda playbook: setattr(playbook, "description", "Edited"),
    "playbook configuration": set_configuration,
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_an_orm_edit_gives_the_next_run_the_new_definition_and_the_old_run_keeps_its_own(
    session: Session, edit: str
) -> None:
    playbook = make_playbook(session, steps=3, variables=[make_variable()])
    playbook.steps[0].parameters = {"region": "eu"}
    session.flush()
    before = create_execution(session, playbook)
    old_document = dict(before.snapshot.document) if before.snapshot else None
    EDITS[edit](playbook)
    session.flush()

    after = create_execution(session, playbook)

    assert after.definition_hash == playbook.to_definition().content_hash()
    assert after.definition_hash != before.definition_hash
    assert after.snapshot_id != before.snapshot_id
    session.expire_all()
    assert before.snapshot is not None
    assert before.snapshot.document == old_document
    assert len(before.step_executions) == 3
    assert len(after.step_executions) == len(playbook.steps)


def test_an_edit_not_flushed_yet_is_followed_by_new_execution(session: Session) -> None:
    playbook = make_playbook(session, steps=2)
    first = playbook.new_execution()
    playbook.steps[1].timeout_minutes = 7
    second = playbook.new_execution()
    session.flush()
    assert first.definition_hash != second.definition_hash
    assert second.definition_hash == playbook.to_definition().content_hash()


def test_a_change_committed_by_another_session_is_followed_after_a_reload(
    session: Session, fresh_session: Callable[[], Session], builds: list[str]
) -> None:
    playbook = make_playbook(session, steps=2)
    session.commit()
    first = create_execution(session, playbook)
    session.commit()
    with fresh_session() as other:
        other.get_one(PlaybookStep, playbook.steps[0].id).description = "Edited elsewhere"
        other.commit()

    session.expire_all()  # what a commit does by default
    second = create_execution(session, playbook)

    assert second.definition_hash != first.definition_hash
    assert second.definition_hash == playbook.to_definition().content_hash()
    assert builds == [playbook.name, playbook.name]


def test_playbooks_with_the_same_definition_share_one_snapshot(session: Session) -> None:
    document = make_playbook(session, steps=2).to_definition()
    first = Playbook.import_definition(session, document)
    second = Playbook.import_definition(session, document.model_copy(update={"name": "Copy"}))
    renamed = first.to_definition().model_copy(update={"name": second.name})
    assert renamed.content_hash() == second.to_definition().content_hash()
    runs = [create_execution(session, playbook) for playbook in (first, first, second)]
    assert runs[0].snapshot_id == runs[1].snapshot_id
    assert runs[0].snapshot_id != runs[2].snapshot_id  # the name is part of the definition


def test_the_stored_document_keeps_sensitive_defaults_redacted(session: Session) -> None:
    secret = "hunter2-default"
    playbook = make_playbook(
        session,
        steps=1,
        variables=[
            PlaybookVariable(variable_name="token", is_sensitive=True, default_value=secret)
        ],
    )
    execution = create_execution(session, playbook)
    session.commit()
    stored = session.scalar(
        select(DefinitionSnapshot.document).where(DefinitionSnapshot.id == execution.snapshot_id)
    )
    assert stored is not None
    assert secret not in repr(stored)
    assert execution.snapshot is not None
    assert secret not in repr(execution.snapshot.to_dict())
