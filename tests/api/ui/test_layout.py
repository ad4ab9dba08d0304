"""The DAG's layout: layers follow the dependencies, nodes never overlap, edges point down
and an edge that skips layers goes around the nodes between."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from agentical.api.ui.layout import NODE_HEIGHT, NODE_WIDTH, lay_out, layers_of

DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["a", "d"]}


def test_a_step_sits_one_layer_below_its_deepest_dependency() -> None:
    assert layers_of(DIAMOND) == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3}


def test_nodes_of_a_layer_share_a_row_and_fit_the_drawing() -> None:
    layout = lay_out(DIAMOND)
    nodes = {node.name: node for node in layout.nodes}

    assert nodes["b"].y == nodes["c"].y > nodes["a"].y
    assert abs(nodes["b"].x - nodes["c"].x) >= NODE_WIDTH
    assert all(n.x >= 0 and n.x + NODE_WIDTH <= layout.width for n in layout.nodes)
    assert all(n.y >= 0 and n.y + NODE_HEIGHT <= layout.height for n in layout.nodes)


def _xs(path: str) -> list[int]:
    return [int(x) for x, _y in re.findall(r"(-?\d+),(-?\d+)", path)]


def test_an_edge_that_skips_a_layer_runs_beside_the_nodes_between() -> None:
    layout = lay_out(DIAMOND)
    nodes = {node.name: node for node in layout.nodes}
    (long_edge,) = [edge for edge in layout.edges if (edge.source, edge.target) == ("a", "e")]

    between = [nodes["b"], nodes["c"], nodes["d"]]
    lane = sorted(set(_xs(long_edge.path)))
    assert any(all(x < n.x or x > n.x + NODE_WIDTH for n in between) for x in lane)


graphs = st.integers(min_value=1, max_value=25).flatmap(
    lambda size: st.lists(
        st.lists(st.integers(min_value=0, max_value=size - 1), max_size=3),
        min_size=size,
        max_size=size,
    ).map(
        lambda parents: {
            f"s{i}": sorted({f"s{p % i}" for p in picks} if i else set())
            for i, picks in enumerate(parents)
        }
    )
)


@given(graphs)
def test_any_acyclic_plan_gets_non_overlapping_nodes_and_downward_edges(
    graph: dict[str, list[str]],
) -> None:
    layout = lay_out(graph)
    nodes = {node.name: node for node in layout.nodes}

    assert list(nodes) == list(graph)
    for name, dependencies in graph.items():
        assert all(nodes[d].layer < nodes[name].layer for d in dependencies)
    places = [(node.x, node.y) for node in layout.nodes]
    for index, (x, y) in enumerate(places):
        for other_x, other_y in places[index + 1 :]:
            assert y != other_y or abs(x - other_x) >= NODE_WIDTH
    assert len(layout.edges) == sum(len(dependencies) for dependencies in graph.values())
