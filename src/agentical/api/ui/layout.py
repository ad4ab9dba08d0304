"""Where each step of a plan is drawn: layers top to bottom, computed here, not in a browser.

A step's layer is one below its deepest dependency, so every edge points down. Within a
layer, steps sit in the mean position of their dependencies (then in run order), which
keeps most edges short and uncrossed. Linear in steps plus edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentical.db.graph import walk_dependencies

NODE_WIDTH = 200
NODE_HEIGHT = 50
GAP_X = 28
GAP_Y = 44
MARGIN = 12 + GAP_X // 2  # room for a lane beside the outermost nodes


@dataclass(frozen=True)
class Node:
    name: str
    layer: int
    x: int
    y: int


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: str


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


def layers_of(graph: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each step's layer: 0 without dependencies, else one more than its deepest one."""
    layer: dict[str, int] = {}
    for component in walk_dependencies(graph).components:  # dependencies come first
        for name in component:
            layer[name] = 1 + max((layer[d] for d in graph[name] if d in layer), default=-1)
    return layer


def lay_out(graph: Mapping[str, Sequence[str]]) -> Layout:
    """``graph`` maps each step, in run order, to the steps it depends on."""
    layer = layers_of(graph)
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    run_order = {name: index for index, name in enumerate(graph)}
    for name in graph:
        rows[layer[name]].append(name)
    column: dict[str, float] = {}
    for row in rows:

        def place(name: str) -> tuple[float, int]:
            parents = [column[d] for d in graph[name] if d in column]
            return (sum(parents) / len(parents) if parents else -1.0, run_order[name])

        row.sort(key=place)
        column.update({name: float(index) for index, name in enumerate(row)})
    widest = max((len(row) for row in rows), default=0)
    width = 2 * MARGIN + widest * NODE_WIDTH + max(widest - 1, 0) * GAP_X
    nodes: dict[str, Node] = {}
    for depth, row in enumerate(rows):
        row_width = len(row) * NODE_WIDTH + (len(row) - 1) * GAP_X
        left = (width - row_width) // 2
        for index, name in enumerate(row):
            x = left + index * (NODE_WIDTH + GAP_X)
            nodes[name] = Node(name, depth, x, MARGIN + depth * (NODE_HEIGHT + GAP_Y))
    edges = [
        Edge(dependency, name, _edge_path(nodes[dependency], nodes[name], rows, nodes))
        for name in graph
        for dependency in graph[name]
    ]
    height = 2 * MARGIN + len(rows) * NODE_HEIGHT + max(len(rows) - 1, 0) * GAP_Y
    return Layout([nodes[name] for name in graph], edges, width, height)


def _edge_path(source: Node, target: Node, rows: list[list[str]], nodes: Mapping[str, Node]) -> str:
    """An S-curve from the bottom of ``source`` to the top of ``target``; an edge that
    skips layers runs down a lane beside the nodes between, never through them."""
    x1, y1 = source.x + NODE_WIDTH // 2, source.y + NODE_HEIGHT
    x2, y2 = target.x + NODE_WIDTH // 2, target.y - 4
    between = [nodes[name] for row in rows[source.layer + 1 : target.layer] for name in row]
    if not between:
        middle = (y1 + y2) // 2
        return f"M{x1},{y1} C{x1},{middle} {x2},{middle} {x2},{y2}"
    left = min(node.x for node in between) - GAP_X // 2
    right = max(node.x for node in between) + NODE_WIDTH + GAP_X // 2
    lane = left if abs(x1 - left) <= abs(x1 - right) else right
    top, bottom = y1 + GAP_Y // 2, y2 - GAP_Y // 2
    return (
        f"M{x1},{y1} C{x1},{top} {lane},{y1} {lane},{top} L{lane},{bottom} "
        f"C{lane},{y2} {x2},{bottom} {x2},{y2}"
    )
