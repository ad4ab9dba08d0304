"""Pure dependency-graph functions."""

from __future__ import annotations

import itertools

import pytest

from agentical.db.graph import ancestors, find_cycle, path_exists, ready_nodes


@pytest.mark.parametrize(
    "graph",
    [
        {},
        {"a": []},
        {"a": [], "b": ["a"], "c": ["a", "b"]},
        {"c": ["b"], "b": ["a"], "a": [], "d": ["a"]},
    ],
)
def test_find_cycle_returns_none_for_a_dag(graph: dict[str, list[str]]) -> None:
    assert find_cycle(graph) is None


@pytest.mark.parametrize(
    ("graph", "members"),
    [
        ({"a": ["a"]}, {"a"}),
        ({"a": ["b"], "b": ["a"]}, {"a", "b"}),
        ({"x": [], "a": ["c"], "b": ["a"], "c": ["b"]}, {"a", "b", "c"}),
        ({"a": ["b"], "b": ["c"], "c": ["d"], "d": ["b"]}, {"b", "c", "d"}),
    ],
)
def test_find_cycle_returns_a_closed_path(graph: dict[str, list[str]], members: set[str]) -> None:
    cycle = find_cycle(graph)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == members
    for node, dependency in itertools.pairwise(cycle):
        assert dependency in graph[node]


def test_find_cycle_handles_a_deep_chain_without_recursion_error() -> None:
    chain = {i: [i + 1] for i in range(20_000)}
    assert find_cycle(chain) is None
    chain[20_000] = [0]
    cycle = find_cycle(chain)
    assert cycle is not None
    assert len(cycle) == 20_002


def test_find_cycle_follows_nodes_that_only_appear_as_dependencies() -> None:
    assert find_cycle({"a": ["b"]}) is None


def test_path_exists_follows_edges_transitively() -> None:
    graph = {"c": ["b"], "b": ["a"], "a": []}
    assert path_exists(graph, "c", "a")
    assert path_exists(graph, "a", "a")
    assert not path_exists(graph, "a", "c")


def test_ancestors_are_every_transitive_dependency() -> None:
    graph = {"d": ["b", "c"], "c": ["a"], "b": ["a"], "a": []}
    assert ancestors(graph, "d") == {"a", "b", "c"}
    assert ancestors(graph, "a") == set()


def test_ready_nodes_keeps_the_given_order_and_needs_every_dependency_done() -> None:
    graph = {"a": [], "b": ["a"], "c": ["a", "b"], "d": []}
    assert ready_nodes(graph, ["d", "c", "b", "a"], done=set()) == ["d", "a"]
    assert ready_nodes(graph, ["c", "b"], done={"a"}) == ["b"]
    assert ready_nodes(graph, ["c"], done={"a", "b"}) == ["c"]
