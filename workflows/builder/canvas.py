"""The draft graph as the canvas draws it, and the edits the canvas makes.

The builder edits `Workflow.graph` (the draft) directly, without the engine's full
validation, so that an action can be saved half-configured: such a step carries
`"incomplete": true` and `"problems": [...]`; a step whose action type is no longer
registered (its integration was removed) is drawn incomplete too. Turning on (and
publishing an edit of a live workflow) goes through `workflows.services`, which
validates everything, so an incomplete draft can never become a live version.

A *slot* names a place a step can be inserted (a "+" on the canvas):
    "start"             before the first step
    "after:<id>"        right after step <id> (a non-branch step)
    "path:<id>:<n>"     at the top of path <n> of branch <id>
    "none:<id>"         at the top of branch <id>'s "None met" path
Branches end their chain: what follows them lives on their paths. A branch added in
the middle of a chain takes the steps below it onto its "None met" path.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from workflows.tokens import TOKEN

BRANCH = "branch"


class GraphError(ValueError):
    """A canvas edit that cannot be made (unknown step or slot, nothing to move past)."""


def empty_graph() -> dict[str, Any]:
    return {"start": None, "steps": {}}


def normalised(graph: Any) -> dict[str, Any]:
    if not isinstance(graph, dict) or not isinstance(graph.get("steps"), dict):
        return empty_graph()
    found = {"start": graph.get("start"), "steps": graph["steps"]}
    if graph.get("last_id"):
        found["last_id"] = graph["last_id"]
    return found


# --- Reading: chains, numbering, paths -------------------------------------------------


@dataclass
class Path:
    name: str
    slot: str
    chain: Chain
    is_none: bool = False


@dataclass
class Node:
    id: int
    number: int
    step: dict[str, Any]
    # Set for branches: one Path per named path, then "None met".
    paths: list[Path] = field(default_factory=list)
    # How the card is drawn (safe HTML for `icon` and `summary`): set by canvas_context.
    label: str = ""
    section: str = ""
    icon: str = ""
    summary: str = ""
    incomplete: bool = False
    can_move_up: bool = False
    can_move_down: bool = False

    @property
    def is_branch(self) -> bool:
        return self.step.get("type") == BRANCH

    @property
    def after_slot(self) -> str:
        return f"after:{self.id}"


@dataclass
class Chain:
    slot: str  # where a step goes at the top of this chain
    nodes: list[Node] = field(default_factory=list)


def layout(graph: dict[str, Any]) -> tuple[Chain, dict[int, Node]]:
    """The canvas: the main chain (nested chains for branch paths) and every node by id,
    numbered in reading order (top to bottom, branch paths left to right)."""
    graph = normalised(graph)
    steps = graph["steps"]
    nodes: dict[int, Node] = {}
    counter = [0]

    def build(first: Any, slot: str) -> Chain:
        chain = Chain(slot)
        current = first
        while current is not None and str(current) in steps and int(current) not in nodes:
            step = steps[str(current)]
            counter[0] += 1
            node = Node(int(current), counter[0], step)
            nodes[node.id] = node
            chain.nodes.append(node)
            if step.get("type") == BRANCH:
                config = step.get("config") or {}
                for index, path in enumerate(config.get("paths") or []):
                    node.paths.append(
                        Path(
                            str(path.get("name") or ""),
                            f"path:{node.id}:{index}",
                            build(path.get("next"), f"path:{node.id}:{index}"),
                        )
                    )
                node.paths.append(
                    Path(
                        "",
                        f"none:{node.id}",
                        build(config.get("none_next"), f"none:{node.id}"),
                        is_none=True,
                    )
                )
                break
            current = step.get("next")
        return chain

    return build(graph["start"], "start"), nodes


def parents(graph: dict[str, Any]) -> dict[int, str]:
    """The slot each step hangs from."""
    graph = normalised(graph)
    found: dict[int, str] = {}
    if graph["start"] is not None:
        found[int(graph["start"])] = "start"
    for key, step in graph["steps"].items():
        if step.get("type") == BRANCH:
            config = step.get("config") or {}
            for index, path in enumerate(config.get("paths") or []):
                if path.get("next") is not None:
                    found[int(path["next"])] = f"path:{key}:{index}"
            if config.get("none_next") is not None:
                found[int(config["none_next"])] = f"none:{key}"
        elif step.get("next") is not None:
            found[int(step["next"])] = f"after:{key}"
    return found


def slot_owner(slot: str) -> int | None:
    """The step a slot hangs from (None for "start")."""
    if slot == "start":
        return None
    return int(slot.split(":")[1])


def ancestors(graph: dict[str, Any], step_id: int) -> list[int]:
    """The steps that run before `step_id` on its path, nearest first."""
    up = parents(graph)
    found: list[int] = []
    current = up.get(step_id)
    while current is not None:
        owner = slot_owner(current)
        if owner is None or owner in found or owner == step_id:
            break  # a malformed, looping draft: stop rather than spin
        found.append(owner)
        current = up.get(owner)
    return found


# --- Writing: add, move, delete --------------------------------------------------------


def _target(graph: dict[str, Any], slot: str) -> Any:
    """The step currently at `slot` (None if the slot is empty)."""
    if slot == "start":
        return graph["start"]
    kind, _sep, rest = slot.partition(":")
    if kind not in {"after", "path", "none"} or not rest:
        raise GraphError(slot)
    owner_key, _sep, index = rest.partition(":")
    step = graph["steps"].get(owner_key)
    if step is None:
        raise GraphError(slot)
    if kind == "after":
        if step.get("type") == BRANCH:
            raise GraphError(slot)
        return step.get("next")
    config = step.get("config") or {}
    if kind == "none":
        return config.get("none_next")
    try:
        return config["paths"][int(index)].get("next")
    except (KeyError, IndexError, ValueError, TypeError):
        raise GraphError(slot) from None


def _link(graph: dict[str, Any], slot: str, target: Any) -> None:
    _target(graph, slot)  # validates the slot
    if slot == "start":
        graph["start"] = target
        return
    kind, _sep, rest = slot.partition(":")
    owner_key, _sep, index = rest.partition(":")
    step = graph["steps"][owner_key]
    if kind == "after":
        step["next"] = target
    elif kind == "none":
        step["config"]["none_next"] = target
    else:
        step["config"]["paths"][int(index)]["next"] = target


def next_id(graph: dict[str, Any]) -> int:
    """Ids are never reused, even after a delete (tokens keep pointing at the right step)."""
    used = [int(key) for key in graph["steps"]] + [int(graph.get("last_id") or 0)]
    return max(used, default=0) + 1


def step_add(
    graph: dict[str, Any], *, slot: str, step: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """A copy of `graph` with `step` inserted at `slot`; returns (graph, new id)."""
    graph = copy.deepcopy(normalised(graph))
    following = _target(graph, slot)
    new_id = next_id(graph)
    step = copy.deepcopy(step)
    if step.get("type") == BRANCH:
        step["next"] = None
        config = step.setdefault("config", {})
        config.setdefault("paths", [])
        config["none_next"] = following
    else:
        step["next"] = following
    graph["steps"][str(new_id)] = step
    graph["last_id"] = new_id
    _link(graph, slot, new_id)
    return graph, new_id


def branch_add_after(
    graph: dict[str, Any], *, step_id: int, paths: list[dict[str, Any]]
) -> dict[str, Any]:
    """A copy of `graph` with an If/then of `paths` right after `step_id`: its first
    path goes on to what followed the step, the others and "none met" end there."""
    graph, branch_id = step_add(
        graph,
        slot=f"after:{step_id}",
        step={"type": BRANCH, "config": {"paths": [{**p, "next": None} for p in paths]}},
    )
    config = graph["steps"][str(branch_id)]["config"]
    config["paths"][0]["next"], config["none_next"] = config["none_next"], None
    return graph


def _detach(graph: dict[str, Any], step_id: int) -> str:
    """Unlink a non-branch step (its successor takes its place); return its old slot."""
    slot = parents(graph).get(step_id)
    if slot is None:
        raise GraphError(step_id)
    _link(graph, slot, graph["steps"][str(step_id)].get("next"))
    return slot


def step_move(graph: dict[str, Any], *, step_id: int, direction: str) -> dict[str, Any]:
    """Swap a step with its neighbour in the same chain ("up" or "down")."""
    graph = copy.deepcopy(normalised(graph))
    step = graph["steps"].get(str(step_id))
    if step is None or step.get("type") == BRANCH:
        raise GraphError(step_id)
    slot = parents(graph).get(step_id)
    if direction == "up":
        previous = slot_owner(slot) if slot is not None and slot.startswith("after:") else None
        if previous is None:
            raise GraphError("first")
        previous_slot = parents(graph)[previous]
        _detach(graph, step_id)
        step["next"] = previous
        _link(graph, previous_slot, step_id)
    elif direction == "down":
        following = step.get("next")
        if following is None or graph["steps"][str(following)].get("type") == BRANCH:
            raise GraphError("last")
        _detach(graph, step_id)
        after = graph["steps"][str(following)]
        step["next"] = after.get("next")
        after["next"] = step_id
    else:
        raise GraphError(direction)
    return graph


def subtree(graph: dict[str, Any], step_id: int) -> list[int]:
    """`step_id` and, for a branch, every step on its paths."""
    graph = normalised(graph)
    step = graph["steps"].get(str(step_id))
    if step is None:
        return []
    found = [step_id]
    if step.get("type") == BRANCH:
        config = step.get("config") or {}
        heads = [p.get("next") for p in config.get("paths") or []] + [config.get("none_next")]
        for head in heads:
            current = head
            while current is not None and int(current) not in found:
                found += subtree(graph, int(current))
                current = graph["steps"].get(str(current), {}).get("next")
    return found


def step_delete(graph: dict[str, Any], *, step_id: int) -> dict[str, Any]:
    """Remove a step (a branch goes with every step on its paths)."""
    graph = copy.deepcopy(normalised(graph))
    step = graph["steps"].get(str(step_id))
    if step is None:
        raise GraphError(step_id)
    slot = parents(graph).get(step_id)
    following = None if step.get("type") == BRANCH else step.get("next")
    for gone in subtree(graph, step_id):
        graph["steps"].pop(str(gone), None)
    if slot is not None:
        _link(graph, slot, following)
    graph["last_id"] = max(next_id(graph) - 1, step_id, int(graph.get("last_id") or 0))
    if not graph["steps"]:
        graph["start"] = None
    return graph


def uses_of(config: Any) -> set[int]:
    """Step ids whose outputs `config` uses (tokens and branch output conditions)."""
    found: set[int] = set()
    if isinstance(config, str):
        for match in TOKEN.finditer(config):
            head = match["path"].split(".")[0]
            if match["root"] == "actions" and head.isdigit():
                found.add(int(head))
    elif isinstance(config, dict):
        output = config.get("output")
        if isinstance(output, str) and output.split(".")[0].isdigit():
            found.add(int(output.split(".")[0]))
        for value in config.values():
            found |= uses_of(value)
    elif isinstance(config, list):
        for value in config:
            found |= uses_of(value)
    return found


def dependents(graph: dict[str, Any], step_id: int) -> list[int]:
    """Steps (outside what the delete removes) that use the outputs of `step_id` or of a
    step removed with it."""
    graph = normalised(graph)
    removed = set(subtree(graph, step_id))
    return sorted(
        int(key)
        for key, step in graph["steps"].items()
        if int(key) not in removed and uses_of(step.get("config") or {}) & removed
    )
