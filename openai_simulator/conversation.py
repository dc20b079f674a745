"""A Responses conversation as the simulated model reads it, and what it costs.

Input items (already checked against the spec) become `Turn` items: messages with their
text, function calls and their outputs. A response continued with
`previous_response_id` sees the stored chain before its own input, as the API's
conversation-state guide describes (instructions are not carried over).

Token rule, the same everywhere: ceil(characters / 4) of each part — instructions, the
JSON of the function tools, and each item of the whole conversation (a message's text,
a call's name and arguments, an output) — summed. Reasoning items are not re-billed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from .errors import ApiError


def tokens_of(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def content_text(content: object) -> str:
    """Text of a message's content: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


@dataclass(frozen=True)
class Item:
    kind: str  # "message", "function_call" or "function_call_output"
    text: str = ""  # message text, call arguments, or output
    role: str = ""  # messages
    call_id: str = ""  # calls and outputs
    name: str = ""  # calls

    def tokens(self) -> int:
        return tokens_of(self.name) + tokens_of(self.text)

    def prompt_text(self) -> str:
        """How the item reads in the prompt (prompt caching compares these)."""
        if self.kind == "message":
            return f"{self.role}: {self.text}"
        if self.kind == "function_call":
            return f"call {self.call_id} {self.name}({self.text})"
        return f"output {self.call_id}: {self.text}"


def items_from_input(raw: object) -> list[Item]:
    if isinstance(raw, str):
        return [Item("message", raw, role="user")]
    items: list[Item] = []
    for index, entry in enumerate(raw or ()):
        kind = entry.get("type") or "message"
        if kind == "message":
            items.append(Item("message", content_text(entry.get("content")), role=entry["role"]))
        elif kind == "function_call":
            items.append(
                Item(
                    "function_call",
                    entry["arguments"],
                    call_id=entry["call_id"],
                    name=entry["name"],
                )
            )
        elif kind == "function_call_output":
            if not entry.get("call_id"):
                # The spec leaves it optional; a function output belongs to a call.
                param = f"input[{index}].call_id"
                raise ApiError(
                    400,
                    f"Missing required parameter: '{param}'.",
                    param=param,
                    code="missing_required_parameter",
                )
            output = entry["output"]
            text = output if isinstance(output, str) else content_text(output)
            items.append(Item("function_call_output", text, call_id=entry["call_id"]))
        # Reasoning items and references carry nothing the simulated model reads.
    return items


def check_calls_answered(history: list[Item], new: list[Item]) -> None:
    """Every function output answers a call, and every call has its output."""
    items = [*history, *new]
    calls = {item.call_id for item in items if item.kind == "function_call"}
    outputs = {item.call_id for item in items if item.kind == "function_call_output"}
    for item in new:
        if item.kind == "function_call_output" and item.call_id not in calls:
            raise ApiError(
                400,
                f"No tool call found for function call output with call_id {item.call_id}.",
                param="input",
            )
    for item in items:
        if item.kind == "function_call" and item.call_id not in outputs:
            raise ApiError(
                400, f"No tool output found for function call {item.call_id}.", param="input"
            )


@dataclass
class Prompt:
    """Everything the model reads for one response."""

    instructions: str
    tools: list[dict]
    items: list[Item]  # the whole conversation: history, then this request's input

    def system_text(self) -> str:
        """Instructions plus system/developer messages: where the rules look for the task."""
        system = [
            i.text for i in self.items if i.kind == "message" and i.role in ("system", "developer")
        ]
        return "\n".join(t for t in (self.instructions, *system) if t)

    def current_turn(self) -> tuple[str, list[Item]]:
        """The user's latest message(s), and what happened since (calls, outputs)."""
        last_user = max(
            (n for n, i in enumerate(self.items) if i.kind == "message" and i.role == "user"),
            default=-1,
        )
        start = last_user
        while (
            start > 0
            and self.items[start - 1].kind == "message"
            and self.items[start - 1].role == "user"
        ):
            start -= 1
        user = (
            "\n".join(i.text for i in self.items[start : last_user + 1]) if last_user >= 0 else ""
        )
        return user, self.items[last_user + 1 :]

    def input_text(self) -> str:
        """Every message's text (json_object needs the word JSON somewhere in it)."""
        return "\n".join(i.text for i in self.items if i.kind == "message")

    def tokens(self) -> int:
        tools = tokens_of(json.dumps(self.tools)) if self.tools else 0
        return tokens_of(self.instructions) + tools + sum(i.tokens() for i in self.items)

    def cache_text(self) -> str:
        """The prompt as prompt caching compares it: instructions, tools, then items."""
        parts = [self.instructions]
        if self.tools:
            parts.append(json.dumps(self.tools, sort_keys=True))
        parts.extend(i.prompt_text() for i in self.items)
        return "\n".join(parts)
