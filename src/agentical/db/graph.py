"""Pure functions over dependency graphs given as ``{node: [nodes it depends on]}``."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

N = TypeVar("N", bound=Hashable)


def find_cycle(graph: Mapping[N, Iterable[N]]) -> list[N] | None:
    """Return one cycle as a closed path (``[a, b, a]``), or ``None`` for a DAG.

    Iterative depth-first search, so deep chains do not hit the recursion limit.
    """
    state: dict[N, int] = {}  # 1 = on the current path, 2 = finished
    for root in graph:
        if root in state:
            continue
        path: list[N] = [root]
        iterators = [iter(graph.get(root, ()))]
        state[root] = 1
        while iterators:
            child = next(iterators[-1], None)
            if child is None:
                state[path.pop()] = 2
                iterators.pop()
                continue
            seen = state.get(child)
            if seen == 1:
                return [*path[path.index(child) :], child]
            if seen is None:
                state[child] = 1
                path.append(child)
                iterators.append(iter(graph.get(child, ())))
    return None


def path_exists(graph: Mapping[N, Iterable[N]], start: N, goal: N) -> bool:
    """Whether ``goal`` is reachable from ``start`` following dependency edges."""
    stack, seen = [start], {start}
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for child in graph.get(node, ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return False


def ancestors(graph: Mapping[N, Iterable[N]], node: N) -> set[N]:
    """Every node that ``node`` depends on, directly or transitively."""
    found: set[N] = set()
    stack = list(graph.get(node, ()))
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(graph.get(current, ()))
    return found


def ready_nodes(graph: Mapping[N, Sequence[N]], pending: Iterable[N], done: set[N]) -> list[N]:
    """The pending nodes whose every dependency is in ``done``, in the order given."""
    return [node for node in pending if done.issuperset(graph.get(node, ()))]
