"""Which steps of a run may start, and which are blocked: pure functions over step states.

The graph is ``{step: [steps it depends on]}``; states are ``StepStatus`` values by step.
Both functions are linear in steps plus edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from agentical.db.enums import StepStatus
from agentical.db.graph import ready_nodes

N = TypeVar("N")

FINISHED = frozenset({StepStatus.COMPLETED, StepStatus.SKIPPED})


def finished_steps(states: Mapping[N, StepStatus], optional: Mapping[N, bool]) -> set[N]:
    """Steps that no longer hold their dependants back: completed, skipped, failed optional."""
    return {
        step
        for step, state in states.items()
        if state in FINISHED or (state is StepStatus.FAILED and optional.get(step, False))
    }


def ready_steps(
    graph: Mapping[N, Sequence[N]],
    states: Mapping[N, StepStatus],
    optional: Mapping[N, bool],
    order: Sequence[N],
) -> list[N]:
    """Pending steps (in ``order``) whose every dependency is finished."""
    pending = [step for step in order if states.get(step) is StepStatus.PENDING]
    return ready_nodes(graph, pending, finished_steps(states, optional))


def blocked_steps(
    graph: Mapping[N, Sequence[N]],
    states: Mapping[N, StepStatus],
    optional: Mapping[N, bool],
) -> dict[N, N]:
    """Each pending step that can never run, with the failed required step that blocks it.

    A failed required step blocks its dependants, and theirs, transitively.
    """
    dependants: dict[N, list[N]] = {}
    for step, dependencies in graph.items():
        for dependency in dependencies:
            dependants.setdefault(dependency, []).append(step)
    roots = {
        step
        for step, state in states.items()
        if state is StepStatus.FAILED and not optional.get(step, False)
    }
    cause: dict[N, N] = {}
    queue = [(root, root) for root in roots]
    while queue:
        step, root = queue.pop()
        for dependant in dependants.get(step, ()):
            if dependant not in cause and dependant not in roots:
                cause[dependant] = root
                queue.append((dependant, root))
    return {step: root for step, root in cause.items() if states.get(step) is StepStatus.PENDING}
