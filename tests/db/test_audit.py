"""Who acts: ``acting_as`` and the rules that pick an action's actor."""

from __future__ import annotations

import threading

import pytest

from agentical.db.audit import (
    EXECUTION_ACTIONS,
    SYSTEM,
    AuditAction,
    acting_as,
    current_actor,
    current_request_id,
    one_actor,
    resolve_actor,
)
from agentical.db.enums import ExecutionStatus
from agentical.db.errors import InvalidInputError
from agentical.db.lifecycle import EXECUTION_TRANSITIONS


def test_outside_any_context_nobody_acts_and_actions_are_the_systems() -> None:
    assert current_actor() is None
    assert resolve_actor() == SYSTEM


def test_acting_as_names_the_actor_in_the_block_and_forgets_it_after() -> None:
    with acting_as("alice", request_id="req-1"):
        assert (current_actor(), current_request_id()) == ("alice", "req-1")
        assert resolve_actor() == "alice"
    assert (current_actor(), current_request_id()) == (None, None)


def test_an_inner_block_wins_and_keeps_the_outer_request_id_unless_it_names_one() -> None:
    with acting_as("gateway", request_id="req-1"):
        with acting_as("alice"):
            assert (current_actor(), current_request_id()) == ("alice", "req-1")
        with acting_as("bob", request_id="req-2"):
            assert current_request_id() == "req-2"
        assert current_actor() == "gateway"


def test_an_explicit_actor_wins_over_the_context() -> None:
    with acting_as("alice"):
        assert resolve_actor("bob") == "bob"


def test_a_thread_does_not_see_another_threads_actor() -> None:
    seen: list[str | None] = []
    with acting_as("alice"):
        thread = threading.Thread(target=lambda: seen.append(current_actor()))
        thread.start()
        thread.join()
    assert seen == [None]


@pytest.mark.parametrize(
    ("actor", "reason"),
    [
        ("", "non-blank"),
        ("   ", "non-blank"),
        (42, "non-blank"),
        ("a" * 256, "longer than 255"),
        ("al\nice", "control characters"),
        ("al\x00ice", "control characters"),
    ],
)
def test_an_actor_that_names_nobody_is_refused_with_the_reason(actor: object, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason), acting_as(actor):  # type: ignore[arg-type]
        pass
    with pytest.raises(InvalidInputError, match=f"actor.*{reason}"):
        resolve_actor(actor)  # type: ignore[arg-type]
    assert current_actor() is None


def test_two_names_for_one_actor_must_agree() -> None:
    assert one_actor("alice", None, "started_by") == "alice"
    assert one_actor(None, " alice ", "started_by") == "alice"
    assert one_actor("alice", "alice", "started_by") == "alice"
    assert one_actor(None, None, "started_by") is None
    with pytest.raises(InvalidInputError, match=r"actor .*'alice'.* and started_by .*'bob'"):
        one_actor("alice", "bob", "started_by")


def test_every_execution_transition_has_an_action() -> None:
    transitions = {
        (source, target) for source, targets in EXECUTION_TRANSITIONS.items() for target in targets
    }
    assert set(EXECUTION_ACTIONS) == transitions
    assert EXECUTION_ACTIONS[(ExecutionStatus.PAUSED, ExecutionStatus.RUNNING)] is (
        AuditAction.RESUME
    )
