"""Simulator configuration: keys, models, assistants, latency, faults.

A config is a plain mapping (JSON or YAML file, or a dict from a test). Any section
left out falls back to the built-in demo defaults, so `{"keys": [...]}` alone is a
complete config.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .faults import FaultRule, LatencySpec

DEMO_KEY = "sk-demo-crmflow-0000000000000000000000000000"
DEMO_REVOKED_KEY = "sk-demo-revoked-000000000000000000000000dead"
DEMO_MISSING_SCOPES_KEY = "sk-demo-noscope-00000000000000000000000scop"
DEMO_NO_QUOTA_KEY = "sk-demo-noquota-00000000000000000000000quot"

KEY_KINDS = ("valid", "revoked", "missing_scopes", "no_quota")
MODEL_KINDS = ("chat", "embedding", "audio", "image")

# Creation dates are fixed so every run of the simulator lists the same objects.
_DEMO_CREATED = 1_735_689_600  # 2025-01-01


@dataclass
class ModelSpec:
    id: str
    owned_by: str = "system"
    created: int = _DEMO_CREATED
    kind: str = "chat"
    reasoning: bool = False
    # Served on the Flex processing tier when a request asks (`service_tier: "flex"`);
    # a request asking it of another model is refused (400).
    flex: bool = False


@dataclass
class AssistantSpec:
    id: str
    name: str | None
    model: str
    instructions: str | None = None
    description: str | None = None
    created_at: int = _DEMO_CREATED
    metadata: dict[str, str] = field(default_factory=dict)
    temperature: float | None = 1.0
    top_p: float | None = 1.0
    response_format: Any = "auto"
    tools: list[dict] = field(default_factory=list)


@dataclass
class KeySpec:
    key: str
    name: str = ""  # shown in the request log; defaults to the key's last four characters
    kind: str = "valid"
    rpm: int = 500
    tpm: int = 200_000
    # None means "everything the simulator knows".
    models: list[str] | None = None
    assistants: list[str] | None = None
    organization: str | None = "org-crmflowdemo000000000000"
    project: str | None = "proj_crmflowdemo0000000000"
    sunset: bool = False
    # For kind "missing_scopes": the scopes this key lacks (None = all of them).
    missing_scopes: list[str] | None = None


@dataclass
class ToolCallRule:
    """A scripted round of function calling in /v1/responses (see tools.py): when a
    request matches every pattern given, the model calls `calls` (those among the
    request's tools); once their outputs are in, it answers `answer` if given."""

    calls: list[dict] = field(default_factory=list)  # [{"name": ..., "arguments": {...}}]
    instructions: str | None = None  # regex searched in the instructions (any case)
    input: str | None = None  # regex searched in the user's latest message (any case)
    key: str | None = None  # key name or the key itself
    model: str | None = None
    answer: str | None = None  # "{output}" stands for the function outputs

    @classmethod
    def from_mapping(cls, raw: dict) -> ToolCallRule:
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown tool_calls fields: {sorted(unknown)}")
        rule = cls(**raw)
        for call in rule.calls:
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise ValueError("tool_calls: each call needs a function 'name'")
            if not isinstance(call.get("arguments", {}), (dict, str)):
                raise ValueError("tool_calls: 'arguments' is an object or a JSON string")
        for pattern in (rule.instructions, rule.input):
            try:
                re.compile(pattern or "")
            except re.error as error:
                raise ValueError(f"tool_calls: bad pattern {pattern!r}: {error}") from None
        return rule

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DeploymentSpec:
    """An Azure OpenAI deployment: the name a request sends as `model` under /openai/v1,
    and the model it runs."""

    id: str
    model: str
    created: int = _DEMO_CREATED


@dataclass
class SimulatorConfig:
    keys: list[KeySpec]
    models: list[ModelSpec]
    assistants: list[AssistantSpec]
    latency: LatencySpec = field(default_factory=LatencySpec)
    faults: list[FaultRule] = field(default_factory=list)
    tool_calls: list[ToolCallRule] = field(default_factory=list)
    sunset: bool = False
    seed: int = 0
    hang_seconds: float = 30.0
    request_log_size: int = 100_000
    # Keep each POST's parsed JSON body in the request log (its `body`): for tests that
    # assert on what was sent. Off by default (memory).
    log_bodies: bool = False
    deployments: list[DeploymentSpec] = field(default_factory=list)
    # A bare OpenAI-compatible server (vLLM, Ollama, LiteLLM): no rate-limit or
    # openai-* headers, and a request without a key is let in as the first valid key.
    bare: bool = False
    # The Batch API (batches.py): how long a batch spends in each status, and its
    # completion window (a batch whose processing would end after it expires).
    batch_validating_seconds: float = 1.0
    batch_in_progress_seconds: float = 2.0
    batch_finalizing_seconds: float = 1.0
    batch_window_seconds: float = 86_400.0


BATCH_TIMES = (
    "batch_validating_seconds",
    "batch_in_progress_seconds",
    "batch_finalizing_seconds",
    "batch_window_seconds",
)


def demo_deployments() -> list[DeploymentSpec]:
    return [
        DeploymentSpec(id="crm-gpt-4o-mini", model="gpt-4o-mini"),
        DeploymentSpec(id="crm-gpt-4o", model="gpt-4o"),
        DeploymentSpec(id="crm-o4-mini", model="o4-mini"),
    ]


def demo_models() -> list[ModelSpec]:
    chat = ["gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini"]
    reasoning = ["o3", "o4-mini", "gpt-5", "gpt-5-mini"]
    return (
        [ModelSpec(id=m) for m in chat]
        + [ModelSpec(id=m, reasoning=True, flex=True) for m in reasoning]
        + [
            ModelSpec(id="text-embedding-3-small", kind="embedding"),
            ModelSpec(id="whisper-1", kind="audio", owned_by="openai-internal"),
            ModelSpec(id="dall-e-3", kind="image"),
        ]
    )


def demo_assistants() -> list[AssistantSpec]:
    return [
        AssistantSpec(
            id="asst_demoLeadQualifier0000001",
            name="Lead qualifier",
            model="gpt-4o-mini",
            description="Rates a visitor's free text as HOT, WARM or COLD.",
            instructions="Rate the lead's interest from their message as HOT, WARM or COLD "
            "and give a one-sentence reason.",
            created_at=_DEMO_CREATED + 100,
        ),
        AssistantSpec(
            id="asst_demoStateFormatter00002",
            name="US state formatter",
            model="gpt-4.1-mini",
            description="Turns a US state name into its two-letter code.",
            instructions="Convert the US state in the input to its two-letter USPS code. Answer with the code only.",
            temperature=0.0,
            created_at=_DEMO_CREATED + 200,
        ),
        AssistantSpec(
            id="asst_demoEmailDrafter0000003",
            name="Sales email drafter",
            model="gpt-4o",
            description="Drafts a short prospecting email from record properties.",
            instructions="Draft a short, friendly prospecting email to the contact using the record properties given.",
            created_at=_DEMO_CREATED + 300,
        ),
        AssistantSpec(
            id="asst_demoRecordSummary000004",
            name="Record summariser",
            model="gpt-4.1",
            description="Summarises a CRM record in one or two sentences.",
            instructions="Summarise the record in one or two sentences.",
            created_at=_DEMO_CREATED + 400,
        ),
        AssistantSpec(
            id="asst_demoReasoningHelper0005",
            name="Account researcher",
            model="o4-mini",
            description="General helper on a reasoning model.",
            instructions="Answer the user's question about the account.",
            temperature=None,
            top_p=None,
            created_at=_DEMO_CREATED + 500,
        ),
    ]


def demo_keys() -> list[KeySpec]:
    return [
        KeySpec(key=DEMO_KEY, name="demo"),
        KeySpec(key=DEMO_REVOKED_KEY, name="revoked", kind="revoked"),
        KeySpec(key=DEMO_MISSING_SCOPES_KEY, name="missing-scopes", kind="missing_scopes"),
        KeySpec(key=DEMO_NO_QUOTA_KEY, name="no-quota", kind="no_quota"),
    ]


def key_from_mapping(raw: dict) -> KeySpec:
    spec = KeySpec(**{k: v for k, v in raw.items() if k in KeySpec.__dataclass_fields__})
    unknown = set(raw) - set(KeySpec.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown key fields: {sorted(unknown)}")
    if spec.kind not in KEY_KINDS:
        raise ValueError(f"key {spec.name!r}: kind must be one of {KEY_KINDS}")
    return spec


def _model_from(raw: dict | str) -> ModelSpec:
    if isinstance(raw, str):
        return ModelSpec(id=raw)
    spec = ModelSpec(**raw)
    if spec.kind not in MODEL_KINDS:
        raise ValueError(f"model {spec.id!r}: kind must be one of {MODEL_KINDS}")
    return spec


def config_from_mapping(raw: dict | None) -> SimulatorConfig:
    raw = dict(raw or {})
    keys = [key_from_mapping(k) for k in raw.pop("keys", [])] or demo_keys()
    for k in keys:
        k.name = k.name or k.key[-4:]
    models = [_model_from(m) for m in raw.pop("models", [])] or demo_models()
    assistants = [AssistantSpec(**a) for a in raw.pop("assistants", [])] or demo_assistants()
    latency = LatencySpec.from_value(raw.pop("latency", None))
    faults = [FaultRule.from_mapping(f) for f in raw.pop("faults", [])]
    tool_calls = [ToolCallRule.from_mapping(r) for r in raw.pop("tool_calls", [])]
    deployments = [DeploymentSpec(**d) for d in raw.pop("deployments", [])] or demo_deployments()
    config = SimulatorConfig(
        keys=keys,
        models=models,
        assistants=assistants,
        latency=latency,
        faults=faults,
        tool_calls=tool_calls,
        deployments=deployments,
    )
    for name in (
        "sunset",
        "seed",
        "hang_seconds",
        "request_log_size",
        "bare",
        "log_bodies",
        *BATCH_TIMES,
    ):
        if name in raw:
            setattr(config, name, type(getattr(config, name))(raw.pop(name)))
    if raw:
        raise ValueError(f"unknown config sections: {sorted(raw)}")
    return config


def load_config_file(path: str | Path) -> SimulatorConfig:
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yaml", ".yml")):
        import yaml  # only needed for YAML configs

        raw = yaml.safe_load(text)
    else:
        raw = json.loads(text)
    return config_from_mapping(raw)


def as_config(value: SimulatorConfig | dict | str | Path | None) -> SimulatorConfig:
    if isinstance(value, SimulatorConfig):
        return value
    if isinstance(value, (str, Path)):
        return load_config_file(value)
    return config_from_mapping(value)
