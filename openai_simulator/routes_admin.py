"""Admin endpoints under /_sim: for tests and demos only.

They need no auth — which is why the server binds 127.0.0.1 by default. Never expose
the simulator on a shared network.
"""

from __future__ import annotations

import dataclasses
import json

from starlette.requests import Request
from starlette.responses import JSONResponse

from .config import BATCH_TIMES, AssistantSpec, ToolCallRule, key_from_mapping
from .errors import mask_key
from .faults import FaultInjector, FaultRule, LatencySpec


def _sim(request: Request):
    return request.app.state.simulator


def config_view(sim) -> dict:
    config = sim.config
    return {
        "latency": config.latency.to_dict(),
        "faults": [rule.to_dict() for rule in sim.faults.rules],
        "tool_calls": [rule.to_dict() for rule in config.tool_calls],
        "sunset": config.sunset,
        "bare": config.bare,
        "seed": config.seed,
        "hang_seconds": config.hang_seconds,
        **{name: getattr(config, name) for name in BATCH_TIMES},
        "keys": [{**dataclasses.asdict(k), "key": mask_key(k.key)} for k in sim.keys.all()],
        "models": [dataclasses.asdict(m) for m in sim.models.values()],
        "assistants": len(sim.assistants),
    }


def _bad(message: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
        400,
    )


async def get_config(request: Request) -> JSONResponse:
    return JSONResponse(config_view(_sim(request)))


def apply_patch(sim, patch: dict) -> None:
    """Change the running simulator. Keys and assistants are upserted (a key can be
    updated by name alone); faults and tool_calls replace the current rules; seed
    reseeds the RNGs."""
    config = sim.config
    unknown = set(patch) - {
        "latency",
        "faults",
        "sunset",
        "bare",
        "seed",
        "hang_seconds",
        "keys",
        "assistants",
        "tool_calls",
        "log_bodies",
        *BATCH_TIMES,
    }
    if unknown:
        raise ValueError(f"unknown config fields: {sorted(unknown)}")
    if "latency" in patch:
        config.latency = LatencySpec.from_value(patch["latency"])
    if "sunset" in patch:
        config.sunset = bool(patch["sunset"])
    if "bare" in patch:
        config.bare = bool(patch["bare"])
    if "hang_seconds" in patch:
        config.hang_seconds = float(patch["hang_seconds"])
    if "log_bodies" in patch:
        config.log_bodies = bool(patch["log_bodies"])
    for name in BATCH_TIMES:
        if name in patch:
            setattr(config, name, float(patch[name]))
    if "seed" in patch:
        config.seed = int(patch["seed"])
        sim.faults.rng.seed(config.seed)
        sim.latency_rng.seed(config.seed + 1)
    if "faults" in patch:
        rules = [FaultRule.from_mapping(r) for r in patch["faults"]]
        config.faults = rules
        sim.faults = FaultInjector(rules, config.seed)
    if "tool_calls" in patch:
        config.tool_calls = [ToolCallRule.from_mapping(r) for r in patch["tool_calls"]]
    for raw in patch.get("keys", []):
        existing = sim.keys.by_name_or_secret(raw.get("key") or raw.get("name", ""))
        merged = {**dataclasses.asdict(existing), **raw} if existing else raw
        sim.keys.upsert(key_from_mapping(merged), replacing=existing)
    for raw in patch.get("assistants", []):
        spec = AssistantSpec(**raw)
        sim.assistants[spec.id] = spec


async def post_config(request: Request) -> JSONResponse:
    sim = _sim(request)
    try:
        patch = json.loads(await request.body() or b"{}")
        if not isinstance(patch, dict):
            raise ValueError("the body must be a JSON object")
        apply_patch(sim, patch)
    except (ValueError, TypeError) as error:
        return _bad(str(error))
    return JSONResponse(config_view(sim))


async def reset(request: Request) -> JSONResponse:
    sim = _sim(request)
    sim.reset()
    return JSONResponse(config_view(sim))


async def get_requests(request: Request) -> JSONResponse:
    query = request.query_params
    try:
        rows = _sim(request).log.query(
            key=query.get("key"),
            path_prefix=query.get("path_prefix"),
            method=query.get("method"),
            status=int(query["status"]) if "status" in query else None,
            since=float(query["since"]) if "since" in query else None,
            limit=int(query["limit"]) if "limit" in query else None,
        )
    except ValueError as error:
        return _bad(str(error))
    return JSONResponse({"object": "list", "count": len(rows), "data": rows})


async def delete_requests(request: Request) -> JSONResponse:
    _sim(request).log.clear()
    return JSONResponse({"deleted": True})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})
