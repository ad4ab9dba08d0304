"""Pure functions over dependency graphs given as ``{node: [nodes it depends on]}``."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

N = TypeVar("N", bound=Hashable)


@dataclass(frozen=True)
class DependencyWalk(Generic[N]):
    """What one depth-first walk of a graph finds.

    ``cycles``: each closed path (``[a, b, a]``) found at the edge that closes it, in the
    order the walk meets them, until ``max_cycle_nodes`` nodes have been listed;
    ``cycles_left_out`` counts the others. ``components``: the strongly connected
    components, each listed after every component it depends on.
    """

    cycles: list[list[N]]
    cycles_left_out: int
    components: list[list[N]]


def walk_dependencies(
    graph: Mapping[N, Iterable[N]], *, max_cycle_nodes: int = 100_000
) -> DependencyWalk[N]:
    """One iterative depth-first walk (Tarjan's algorithm): linear in nodes plus edges,
    plus the length of the cycles listed, and no recursion however deep the graph."""
    index: dict[N, int] = {}
    low: dict[N, int] = {}
    pending: list[N] = []  # Tarjan's stack: visited nodes not yet in a component
    waiting: set[N] = set()
    cycles: list[list[N]] = []
    left_out = 0
    components: list[list[N]] = []
    for root in graph:
        if root in index:
            continue
        path: list[N] = []
        position: dict[N, int] = {}
        iterators: list[Iterator[N]] = []
        child: N | None = root
        while True:
            if child is not None and child not in index:
                index[child] = low[child] = len(index)
                pending.append(child)
                waiting.add(child)
                position[child] = len(path)
                path.append(child)
                iterators.append(iter(graph.get(child, ())))
            if not iterators:
                break
            node = path[-1]
            child = next(iterators[-1], None)
            if child is None:
                iterators.pop()
                path.pop()
                del position[node]
                if path:
                    low[path[-1]] = min(low[path[-1]], low[node])
                if low[node] == index[node]:
                    components.append(_pop_component(pending, waiting, node))
            elif child in waiting:
                low[node] = min(low[node], index[child])
                if child in position:  # on the current path: this edge closes a cycle
                    ring = path[position[child] :]
                    if max_cycle_nodes >= len(ring):
                        max_cycle_nodes -= len(ring)
                        cycles.append([*ring, child])
                    else:
                        left_out += 1
                child = None
    return DependencyWalk(cycles, left_out, components)


def _pop_component(pending: list[N], waiting: set[N], head: N) -> list[N]:
    component: list[N] = []
    while True:
        member = pending.pop()
        waiting.discard(member)
        component.append(member)
        if member == head:
            return component


class Reach(Generic[N]):
    """Which of a few ``targets`` each node depends on, directly or transitively.

    Computed once, component by component in dependency order, as one bit per target:
    linear in nodes plus edges times the number of targets / 64.
    """

    def __init__(
        self, graph: Mapping[N, Iterable[N]], walk: DependencyWalk[N], targets: Iterable[N]
    ) -> None:
        self._bits = {target: 1 << number for number, target in enumerate(dict.fromkeys(targets))}
        self._masks: dict[N, int] = {}
        for component in walk.components:
            members = set(component)
            mask = 0
            for node in component:
                for dependency in graph.get(node, ()):
                    if dependency not in members:
                        mask |= self._masks.get(dependency, 0) | self._bits.get(dependency, 0)
            if len(component) > 1:  # in a cycle every member depends on every member
                for member in component:
                    mask |= self._bits.get(member, 0)
            for node in component:
                self._masks[node] = mask

    def depends_on(self, node: N, target: N) -> bool:
        """Whether ``node`` depends on ``target``, one of the targets given."""
        return bool(self._masks.get(node, 0) & self._bits.get(target, 0))


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


def ready_nodes(graph: Mapping[N, Sequence[N]], pending: Iterable[N], done: set[N]) -> list[N]:
    """The pending nodes whose every dependency is in ``done``, in the order given."""
    return [node for node in pending if done.issuperset(graph.get(node, ()))]
