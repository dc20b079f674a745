"""Canvas edits on the draft graph: add, move, delete (with dependents), branch paths."""

from __future__ import annotations

import pytest

from workflows.builder import canvas
from workflows.graph import successors


def linear(*titles):
    graph, slot = canvas.empty_graph(), "start"
    for title in titles:
        graph, new_id = canvas.step_add(
            graph, slot=slot, step={"type": "create_task", "config": {"title": title}}
        )
        slot = f"after:{new_id}"
    return graph


def order(graph, slot_start=None):
    chain, _nodes = canvas.layout(graph)
    return [n.step["config"]["title"] for n in chain.nodes]


def test_it_adds_at_the_end_and_between_two_steps():
    graph = linear("a", "b")
    graph, new = canvas.step_add(
        graph, slot="after:1", step={"type": "create_task", "config": {"title": "between"}}
    )
    assert order(graph) == ["a", "between", "b"]
    assert new == 3


def test_it_adds_before_the_first_step():
    graph, _ = canvas.step_add(
        linear("a"), slot="start", step={"type": "create_task", "config": {"title": "first"}}
    )
    assert order(graph) == ["first", "a"]


def test_ids_are_never_reused_after_a_delete():
    graph = canvas.step_delete(linear("a", "b", "c"), step_id=3)
    graph, new = canvas.step_add(graph, slot="after:2", step={"type": "delay", "config": {}})
    assert new == 4


def test_it_moves_a_step_up_and_down_within_its_chain():
    graph = linear("a", "b", "c")
    assert order(canvas.step_move(graph, step_id=3, direction="up")) == ["a", "c", "b"]
    assert order(canvas.step_move(graph, step_id=1, direction="down")) == ["b", "a", "c"]
    with pytest.raises(canvas.GraphError):
        canvas.step_move(graph, step_id=1, direction="up")
    with pytest.raises(canvas.GraphError):
        canvas.step_move(graph, step_id=3, direction="down")


def test_a_branch_added_mid_chain_takes_the_following_steps_onto_none_met():
    graph, branch = canvas.step_add(
        linear("a", "b"),
        slot="after:1",
        step={"type": "branch", "config": {"paths": [{"name": "Hot", "groups": [], "next": None}]}},
    )
    chain, nodes = canvas.layout(graph)
    assert [n.id for n in chain.nodes] == [1, branch]
    hot, none = nodes[branch].paths
    assert (hot.name, hot.chain.nodes) == ("Hot", [])
    assert none.is_none and [n.step["config"]["title"] for n in none.chain.nodes] == ["b"]
    graph, _ = canvas.step_add(
        graph, slot=f"path:{branch}:0", step={"type": "create_task", "config": {"title": "hot"}}
    )
    _chain, nodes = canvas.layout(graph)
    assert [n.step["config"]["title"] for n in nodes[branch].paths[0].chain.nodes] == ["hot"]
    # Numbering reads top to bottom, paths left to right.
    assert [(n.number, n.id) for n in sorted(nodes.values(), key=lambda n: n.number)] == [
        (1, 1),
        (2, branch),
        (3, 4),
        (4, 2),
    ]


def test_deleting_a_step_links_its_neighbours_and_a_branch_takes_its_paths(branched):
    graph = canvas.step_delete(branched.graph, step_id=3)
    assert graph["steps"]["2"]["config"]["paths"][0]["next"] == 4
    graph = canvas.step_delete(branched.graph, step_id=2)
    assert sorted(graph["steps"]) == ["1"] and graph["steps"]["1"]["next"] is None
    assert all(str(t) in graph["steps"] for s in graph["steps"].values() for t in successors(s))


def test_dependents_are_the_steps_using_outputs_of_what_is_deleted(branched):
    assert canvas.dependents(branched.graph, 3) == [4]
    # Deleting step 1 breaks the branch condition (1.task_id) and step 3's title.
    assert canvas.dependents(branched.graph, 1) == [2, 3]
    # Deleting the branch removes 3, 4, 5 with it: nobody left depends on them.
    assert canvas.dependents(branched.graph, 2) == []


def test_ancestors_are_the_steps_before_on_the_same_path(branched):
    assert canvas.ancestors(branched.graph, 4) == [3, 2, 1]
    assert canvas.ancestors(branched.graph, 5) == [2, 1]
    assert canvas.ancestors(branched.graph, 1) == []


def test_unknown_slots_are_refused():
    for slot in ["after:99", "path:1:0", "nonsense", "after:"]:
        with pytest.raises(canvas.GraphError):
            canvas.step_add(linear("a"), slot=slot, step={"type": "delay", "config": {}})
