"""Which steps of a run may start, and which a failed required step blocks (pure)."""

from __future__ import annotations

import time

from agentical.db.enums import StepStatus
from agentical.db.scheduling import blocked_steps, finished_steps, ready_steps

P, R, C, F, S = (
    StepStatus.PENDING,
    StepStatus.RUNNING,
    StepStatus.COMPLETED,
    StepStatus.FAILED,
    StepStatus.SKIPPED,
)
GRAPH = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["d"]}
ORDER = ["a", "b", "c", "d", "e"]


def test_only_pending_steps_with_finished_dependencies_are_ready() -> None:
    states = {"a": C, "b": R, "c": P, "d": P, "e": P}
    assert ready_steps(GRAPH, states, {}, ORDER) == ["c"]
    assert ready_steps(GRAPH, {**states, "b": C, "c": S}, {}, ORDER) == ["d"]


def test_a_failed_optional_step_is_finished_a_failed_required_one_is_not() -> None:
    assert finished_steps({"a": F, "b": F, "c": C, "d": S, "e": R}, {"a": True}) == {"a", "c", "d"}


def test_a_failed_required_step_blocks_every_step_downstream() -> None:
    states = {"a": C, "b": F, "c": P, "d": P, "e": P}
    assert ready_steps(GRAPH, states, {}, ORDER) == ["c"]
    assert blocked_steps(GRAPH, states, {}) == {"d": "b", "e": "b"}
    assert blocked_steps(GRAPH, states, {"b": True}) == {}


def test_steps_that_are_no_longer_pending_are_not_reported_as_blocked() -> None:
    states = {"a": F, "b": S, "c": C, "d": P, "e": P}
    assert blocked_steps(GRAPH, states, {}) == {"d": "a", "e": "a"}


def test_large_runs_are_planned_in_linear_time() -> None:
    size = 50_000
    chain = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(size)}
    order = list(chain)
    states = dict.fromkeys(order[: size // 2], C) | dict.fromkeys(order[size // 2 :], P)
    begin = time.perf_counter()
    assert ready_steps(chain, states, {}, order) == [f"s{size // 2}"]
    states[f"s{size // 2}"] = F
    assert len(blocked_steps(chain, states, {})) == size // 2 - 1
    assert time.perf_counter() - begin < 2.0
