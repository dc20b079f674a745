"""Files and the Batch API: POST /v1/files, GET /v1/files/{id}, GET /v1/files/{id}/content,
POST /v1/batches, GET /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel.

A batch's status is computed from the time since it was created, like a run's (nothing
runs in the background): `validating` for `batch_validating_seconds`, then
`in_progress` for `batch_in_progress_seconds`, `finalizing` for
`batch_finalizing_seconds`, then `completed`. A batch whose processing would end after
its completion window (`batch_window_seconds`, 24 h as at OpenAI) is `expired` at the
end of the window: every request of it is in the error file with `batch_expired`. An
input file that breaks the Batch API's rules (a line that is not JSON, no `custom_id`,
a repeated one, another `url` than the batch's endpoint, a method other than POST) makes
the batch `failed` after validation, with `errors` naming the line. A cancelled batch is
`cancelling` for the finalizing time, then `cancelled`, with no output.

The lines are run the first time the batch is read once its processing time is over,
each through the same code as POST /v1/responses (its body checked against the spec,
then `routes_responses.response_record` with no latency; injected HTTP faults on
/v1/responses apply per line, so a test can fail some items). Successful answers go to
the output file, the others to the error file, in the line formats of the API reference
("The request output object"). Batch requests do not count against the key's RPM/TPM.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

from .errors import ApiError, not_found, server_error
from .objects import new_id
from .routes_responses import response_record
from .store import list_body

BATCH_ENDPOINTS = ("/v1/responses",)
MAX_LINES = 50_000
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."


@dataclass
class FileRecord:
    id: str
    key_name: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def to_object(self) -> dict:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class BatchRecord:
    id: str
    key_name: str
    input_file_id: str
    endpoint: str
    created_at: float
    validating: float
    in_progress: float
    finalizing: float
    window: float
    metadata: dict | None
    lines: list[dict]
    errors: list[dict]
    cancelled_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    ran: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def expires_at(self) -> float:
        return self.created_at + self.window

    def times(self) -> tuple[float, float, float]:
        """When validation, processing and finalizing end."""
        validated = self.created_at + self.validating
        processed = validated + self.in_progress
        return validated, processed, processed + self.finalizing

    def status(self, now: float) -> str:
        validated, processed, finalized = self.times()
        if self.cancelled_at is not None:
            return "cancelling" if now < self.cancelled_at + self.finalizing else "cancelled"
        if now < validated:
            return "validating"
        if self.errors:
            return "failed"
        if processed > self.expires_at:
            return "in_progress" if now < self.expires_at else "expired"
        if now < processed:
            return "in_progress"
        return "finalizing" if now < finalized else "completed"

    def to_object(self, now: float) -> dict:
        status = self.status(now)
        validated, processed, finalized = self.times()
        body: dict = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": status,
            "created_at": int(self.created_at),
            "expires_at": int(self.expires_at),
            "request_counts": dict(self.counts),
            "metadata": self.metadata,
        }
        # The spec types these timestamps and ids as plain integers and strings: a
        # field is left out until it has a value (the SDK reads None).
        stamps = {
            "in_progress_at": validated if status != "validating" and not self.errors else None,
            "finalizing_at": processed if status in ("finalizing", "completed") else None,
            "completed_at": finalized if status == "completed" else None,
            "failed_at": validated if status == "failed" else None,
            "expired_at": self.expires_at if status == "expired" else None,
            "cancelling_at": self.cancelled_at,
            "cancelled_at": self.cancelled_at + self.finalizing
            if status == "cancelled" and self.cancelled_at is not None
            else None,
        }
        body.update({name: int(value) for name, value in stamps.items() if value is not None})
        if self.errors:
            body["errors"] = {"object": "list", "data": self.errors}
        if self.output_file_id:
            body["output_file_id"] = self.output_file_id
        if self.error_file_id:
            body["error_file_id"] = self.error_file_id
        return body


class BatchStore:
    def __init__(self) -> None:
        self.files: dict[str, FileRecord] = {}
        self.batches: dict[str, BatchRecord] = {}

    def add_file(self, key_name: str, filename: str, purpose: str, content: bytes) -> FileRecord:
        record = FileRecord(
            id=new_id("file"),
            key_name=key_name,
            filename=filename,
            purpose=purpose,
            content=content,
            created_at=int(time.time()),
        )
        self.files[record.id] = record
        return record


# --- Multipart (the SDK uploads files as multipart/form-data) -------------------------


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """{field name: (filename or None, value)} of a multipart/form-data body."""
    boundary = None
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        raise ApiError(
            400, "The request must be multipart/form-data with a 'file' and a 'purpose'."
        )
    fields: dict[str, tuple[str | None, bytes]] = {}
    for chunk in raw.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, value = chunk.partition(b"\r\n\r\n")
        value = value.removesuffix(b"\r\n")
        name = filename = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                for item in line.split(";")[1:]:
                    key, _, text = item.strip().partition("=")
                    if key == "name":
                        name = text.strip('"')
                    elif key == "filename":
                        filename = text.strip('"')
        if name:
            fields[name] = (filename, value)
    return fields


def _sim_batches(ctx) -> BatchStore:
    return ctx.sim.batches


# --- Files ----------------------------------------------------------------------------


async def create_file(ctx):
    raw = await ctx.request.body()
    fields = _multipart(ctx.request.headers.get("content-type", ""), raw)
    purpose = (fields.get("purpose") or (None, b""))[1].decode()
    if "file" not in fields:
        raise ApiError(400, "Missing required parameter: 'file'.", param="file")
    if purpose not in ("batch", "assistants", "user_data", "fine-tune", "vision"):
        raise ApiError(
            400,
            f"Invalid value: '{purpose}'. Supported values are: 'assistants', 'batch', "
            "'fine-tune', 'vision', and 'user_data'.",
            param="purpose",
            code="invalid_value",
        )
    filename, content = fields["file"]
    record = _sim_batches(ctx).add_file(ctx.key.name, filename or "upload", purpose, content)
    return record.to_object()


def _own_file(ctx) -> FileRecord:
    file_id = ctx.request.path_params["file_id"]
    record = _sim_batches(ctx).files.get(file_id)
    if record is None or record.key_name != ctx.key.name:
        raise not_found(f"No such File object: {file_id}")
    return record


async def retrieve_file(ctx):
    return _own_file(ctx).to_object()


async def file_content(ctx):
    """The file's bytes (JSONL), not JSON: answered as (status, bytes)."""
    return 200, _own_file(ctx).content


# --- Batches --------------------------------------------------------------------------


def _validate_lines(content: bytes, endpoint: str) -> tuple[list[dict], list[dict]]:
    """(lines, errors) of an input file, by the Batch API's rules."""
    lines: list[dict] = []
    errors: list[dict] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            line = None
        if not isinstance(line, dict):
            errors.append(
                _line_error(
                    "invalid_json_line", "This line is not parseable as valid JSON.", number
                )
            )
            continue
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            errors.append(
                _line_error(
                    "missing_required_parameter", "Missing 'custom_id'.", number, "custom_id"
                )
            )
        elif custom_id in seen:
            errors.append(
                _line_error(
                    "duplicate_custom_id",
                    "The custom_id for this request is a duplicate of another request. The custom_id parameter must be unique for each request in a batch.",
                    number,
                    "custom_id",
                )
            )
        elif line.get("method") != "POST":
            errors.append(
                _line_error("invalid_method", "The method must be POST.", number, "method")
            )
        elif line.get("url") != endpoint:
            errors.append(
                _line_error(
                    "mismatched_endpoint",
                    f"The provided url '{line.get('url')}' does not match the batch endpoint '{endpoint}'.",
                    number,
                    "url",
                )
            )
        elif not isinstance(line.get("body"), dict):
            errors.append(
                _line_error("missing_required_parameter", "Missing 'body'.", number, "body")
            )
        else:
            seen.add(custom_id)
            lines.append(line)
    if len(lines) > MAX_LINES:
        errors.append(
            _line_error(
                "too_many_requests",
                f"The batch input file has more than {MAX_LINES} requests.",
                None,
            )
        )
    if not lines and not errors:
        errors.append(_line_error("empty_file", "The batch input file is empty.", None))
    return lines, errors[:100]


def _line_error(code: str, message: str, line: int | None, param: str | None = None) -> dict:
    return {"code": code, "message": message, "param": param, "line": line}


async def create_batch(ctx):
    body, sim, store = ctx.body, ctx.sim, _sim_batches(ctx)
    endpoint = body["endpoint"]
    if endpoint not in BATCH_ENDPOINTS:
        raise ApiError(
            400,
            f"The crmflow OpenAI simulator runs batches on {', '.join(BATCH_ENDPOINTS)} only.",
            param="endpoint",
        )
    file = store.files.get(body["input_file_id"])
    if file is None or file.key_name != ctx.key.name:
        raise not_found(f"No such File object: {body['input_file_id']}")
    if file.purpose != "batch":
        raise ApiError(
            400, f"The file {file.id} was not uploaded with purpose 'batch'.", param="input_file_id"
        )
    lines, errors = _validate_lines(file.content, endpoint)
    config = sim.config
    record = BatchRecord(
        id=new_id("batch"),
        key_name=ctx.key.name,
        input_file_id=file.id,
        endpoint=endpoint,
        created_at=time.time(),
        validating=config.batch_validating_seconds,
        in_progress=config.batch_in_progress_seconds,
        finalizing=config.batch_finalizing_seconds,
        window=config.batch_window_seconds,
        metadata=body.get("metadata"),
        lines=lines,
        errors=errors,
    )
    record.counts["total"] = 0 if errors else len(lines)
    store.batches[record.id] = record
    return record.to_object(record.created_at)


def _own_batch(ctx) -> BatchRecord:
    batch_id = ctx.request.path_params["batch_id"]
    record = _sim_batches(ctx).batches.get(batch_id)
    if record is None or record.key_name != ctx.key.name:
        raise not_found(f"No batch found with id '{batch_id}'.")
    return record


async def retrieve_batch(ctx):
    record = _own_batch(ctx)
    now = time.time()
    if record.status(now) in ("finalizing", "completed", "expired"):
        # Run once, off the event loop (tens of thousands of lines take seconds).
        await asyncio.to_thread(_run_lines, ctx, record, now)
    return record.to_object(now)


async def list_batches(ctx):
    limit = int(ctx.request.query_params.get("limit", 20))
    now = time.time()
    own = [b for b in _sim_batches(ctx).batches.values() if b.key_name == ctx.key.name]
    page = [b.to_object(now) for b in reversed(own)][: max(1, min(limit, 100))]
    return list_body(page, len(own) > len(page))


async def cancel_batch(ctx):
    record = _own_batch(ctx)
    now = time.time()
    status = record.status(now)
    if status not in ("validating", "in_progress"):
        raise ApiError(409, f"Cannot cancel a batch with status '{status}'.")
    record.cancelled_at = now
    return record.to_object(now)


class _LineContext:
    """What `response_record` reads of a request, for one line of a batch."""

    __slots__ = ("sim", "key", "body", "request", "path", "model", "tokens")

    def __init__(self, sim, key, body: dict) -> None:
        self.sim, self.key, self.body = sim, key, body
        self.request = _LineRequest
        self.path = "/v1/responses"
        self.model = None
        self.tokens = 0

    def charge_tokens(self, tokens: int, model: str) -> None:
        self.tokens, self.model = tokens, model  # batches have their own limits


class _LineRequest:
    method = "POST"


def _run_lines(ctx, record: BatchRecord, now: float) -> None:
    with record.lock:
        if record.ran:
            return
        record.ran = True
        sim, key = ctx.sim, ctx.key
        expired = record.status(now) == "expired"
        outputs: list[bytes] = []
        failures: list[bytes] = []
        validator = sim.validators["POST /responses"]
        for line in record.lines:
            custom_id = line["custom_id"]
            if expired:
                failures.append(
                    _dump(
                        {
                            "id": new_id("batch_req"),
                            "custom_id": custom_id,
                            "response": None,
                            "error": {"code": "batch_expired", "message": EXPIRED_MESSAGE},
                        }
                    )
                )
                continue
            status, body = _line_answer(sim, key, line["body"], validator)
            answer = {
                "id": new_id("batch_req"),
                "custom_id": custom_id,
                "response": {"status_code": status, "request_id": new_id("req"), "body": body},
                "error": None,
            }
            (outputs if status == 200 else failures).append(_dump(answer))
        store = sim.batches
        if outputs:
            record.output_file_id = store.add_file(
                key.name, "batch_output.jsonl", "batch_output", b"".join(outputs)
            ).id
        if failures:
            record.error_file_id = store.add_file(
                key.name, "batch_errors.jsonl", "batch_output", b"".join(failures)
            ).id
        record.counts = {
            "total": len(record.lines),
            "completed": len(outputs),
            "failed": len(failures),
        }


def _line_answer(sim, key, body: dict, validator) -> tuple[int, dict]:
    try:
        validator.check(body)
        hit = sim.faults.http_fault("POST", "/v1/responses", key.name, key.key)
        if hit and hit[0] in ("error_500", "error_503"):
            raise server_error()
        if body.get("background") or body.get("stream"):
            raise ApiError(400, "Batch requests cannot be streamed or run in the background.")
        record = response_record(_LineContext(sim, key, body), latency=False)
        return 200, record.to_object(time.time())
    except ApiError as error:
        return error.status, error.body()


def _dump(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
