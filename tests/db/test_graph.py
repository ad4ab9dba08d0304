"""Pure dependency-graph functions."""

from __future__ import annotations

import itertools

import pytest

from agentical.db.graph import Reach, path_exists, ready_nodes, walk_dependencies


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    return walk_dependencies(graph).cycles


@pytest.mark.parametrize(
    "graph",
    [
        {},
        {"a": []},
        {"a": [], "b": ["a"], "c": ["a", "b"]},
        {"c": ["b"], "b": ["a"], "a": [], "d": ["a"]},
    ],
)
def test_a_dag_has_no_cycle(graph: dict[str, list[str]]) -> None:
    assert _cycles(graph) == []


@pytest.mark.parametrize(
    ("graph", "members"),
    [
        ({"a": ["a"]}, {"a"}),
        ({"a": ["b"], "b": ["a"]}, {"a", "b"}),
        ({"x": [], "a": ["c"], "b": ["a"], "c": ["b"]}, {"a", "b", "c"}),
        ({"a": ["b"], "b": ["c"], "c": ["d"], "d": ["b"]}, {"b", "c", "d"}),
    ],
)
def test_a_cycle_is_a_closed_path(graph: dict[str, list[str]], members: set[str]) -> None:
    [cycle] = _cycles(graph)
    assert cycle[0] == cycle[-1]
    assert set(cycle) == members
    for node, dependency in itertools.pairwise(cycle):
        assert dependency in graph[node]


def test_every_cycle_is_found_in_one_walk() -> None:
    graph = {f"{side}{pair}": [f"{'ba'[side == 'b']}{pair}"] for pair in range(3) for side in "ab"}
    assert _cycles(graph) == [["a0", "b0", "a0"], ["a1", "b1", "a1"], ["a2", "b2", "a2"]]


def test_cycles_past_the_listing_budget_are_counted_not_listed() -> None:
    graph = {"hub": [f"n{i}" for i in range(10)], **{f"n{i}": ["hub"] for i in range(10)}}
    walk = walk_dependencies(graph, max_cycle_nodes=6)
    assert walk.cycles == [["hub", "n0", "hub"], ["hub", "n1", "hub"], ["hub", "n2", "hub"]]
    assert walk.cycles_left_out == 7


def test_a_deep_chain_is_walked_without_recursion_error() -> None:
    chain = {i: [i + 1] for i in range(20_000)}
    assert walk_dependencies(chain).cycles == []
    chain[20_000] = [0]
    [cycle] = walk_dependencies(chain).cycles
    assert len(cycle) == 20_002


def test_nodes_that_only_appear_as_dependencies_are_followed() -> None:
    walk = walk_dependencies({"a": ["b"]})
    assert walk.cycles == []
    assert walk.components == [["b"], ["a"]]


def test_components_come_after_the_components_they_depend_on() -> None:
    graph = {"d": ["c"], "c": ["b"], "b": ["c", "a"], "a": []}
    components = walk_dependencies(graph).components
    assert [sorted(component) for component in components] == [["a"], ["b", "c"], ["d"]]


def test_reach_tells_which_targets_a_node_depends_on_transitively() -> None:
    graph = {"d": ["b", "c"], "c": ["a"], "b": ["a"], "a": [], "x": ["y"], "y": ["x"]}
    reach = Reach(graph, walk_dependencies(graph), ["a", "c", "x"])
    assert reach.depends_on("d", "a")
    assert reach.depends_on("d", "c")
    assert not reach.depends_on("b", "c")
    assert not reach.depends_on("a", "a")
    assert reach.depends_on("y", "x")
    assert reach.depends_on("x", "x")  # in a cycle, a node depends on itself
    assert not reach.depends_on("d", "b")  # not a target: never asked for


def test_path_exists_follows_edges_transitively() -> None:
    graph = {"c": ["b"], "b": ["a"], "a": []}
    assert path_exists(graph, "c", "a")
    assert path_exists(graph, "a", "a")
    assert not path_exists(graph, "a", "c")


def test_ready_nodes_keeps_the_given_order_and_needs_every_dependency_done() -> None:
    graph = {"a": [], "b": ["a"], "c": ["a", "b"], "d": []}
    assert ready_nodes(graph, ["d", "c", "b", "a"], done=set()) == ["d", "a"]
    assert ready_nodes(graph, ["c", "b"], done={"a"}) == ["b"]
    assert ready_nodes(graph, ["c"], done={"a", "b"}) == ["c"]
