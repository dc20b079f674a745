"""Files and the Batch API through the real SDK: status progression, output and error
files, expiry, cancel, a refused input file; every body checked against openapi.yaml."""

from __future__ import annotations

import io
import json
import time

import openai
import pytest
from openai.types import Batch, FileObject

FAST = {
    "batch_validating_seconds": 0.2,
    "batch_in_progress_seconds": 0.3,
    "batch_finalizing_seconds": 0.2,
}


def _jsonl(lines: list[dict]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines))


def _request(custom_id: str, text: str, **body) -> dict:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/responses",
        "body": {"model": "gpt-4o-mini", "input": text, "store": False, **body},
    }


def _until(client, batch_id: str, statuses: set[str], timeout: float = 10.0) -> list[str]:
    """The statuses seen until one of `statuses`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.batches.retrieve(batch_id).status
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in statuses:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"batch still {seen[-1]} after {timeout}s")


def _lines(client, file_id: str) -> list[dict]:
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def test_a_batch_goes_from_validating_to_completed_with_its_answers(
    simulator, openai_client, spec_validator
):
    simulator.configure(**FAST)
    upload = openai_client.files.create(
        file=("requests.jsonl", _jsonl([_request("a", "Hello"), _request("b", "Texas")])),
        purpose="batch",
    )
    spec_validator(upload.model_dump(exclude_none=True), "OpenAIFile")
    assert isinstance(upload, FileObject) and upload.purpose == "batch" and upload.bytes > 0
    batch = openai_client.batches.create(
        input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
    )
    assert batch.status == "validating"
    seen = _until(openai_client, batch.id, {"completed"})
    assert seen == ["validating", "in_progress", "finalizing", "completed"]
    raw = openai_client.batches.with_raw_response.retrieve(batch.id).http_response.json()
    spec_validator(raw, "Batch")
    done = Batch.model_validate(raw)
    assert done.request_counts.total == 2 and done.request_counts.completed == 2
    assert done.error_file_id is None
    answers = {line["custom_id"]: line for line in _lines(openai_client, done.output_file_id)}
    assert set(answers) == {"a", "b"}
    for line in answers.values():
        assert line["response"]["status_code"] == 200 and line["error"] is None
        spec_validator(line["response"]["body"], "Response")
        assert line["response"]["body"]["usage"]["total_tokens"] > 0
    # A batch's requests do not count against the key's rate limit like the calls do.
    assert not simulator.requests(path_prefix="/v1/responses")


def test_a_failing_request_goes_to_the_error_file(simulator, openai_client, spec_validator):
    simulator.configure(
        **FAST, faults=[{"path_prefix": "/v1/responses", "error_500": 1.0, "times": 1}]
    )
    upload = openai_client.files.create(
        file=(
            "r.jsonl",
            _jsonl(
                [_request("one", "a"), _request("two", "b"), _request("bad", "c", temperature=9)]
            ),
        ),
        purpose="batch",
    )
    batch = openai_client.batches.create(
        input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
    )
    _until(openai_client, batch.id, {"completed"})
    done = openai_client.batches.retrieve(batch.id)
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 2)
    errors = {line["custom_id"]: line for line in _lines(openai_client, done.error_file_id)}
    assert errors["one"]["response"]["status_code"] == 500
    assert errors["bad"]["response"]["status_code"] == 400
    assert errors["bad"]["response"]["body"]["error"]["param"] == "temperature"
    assert [line["custom_id"] for line in _lines(openai_client, done.output_file_id)] == ["two"]


def test_a_batch_past_its_window_expires_with_every_request_in_the_error_file(
    simulator, openai_client, spec_validator
):
    simulator.configure(**FAST, batch_window_seconds=0.3)
    upload = openai_client.files.create(
        file=("r.jsonl", _jsonl([_request("x", "a"), _request("y", "b")])), purpose="batch"
    )
    batch = openai_client.batches.create(
        input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
    )
    assert _until(openai_client, batch.id, {"expired"})[-1] == "expired"
    raw = openai_client.batches.with_raw_response.retrieve(batch.id).http_response.json()
    spec_validator(raw, "Batch")
    assert raw["expired_at"] and "output_file_id" not in raw
    errors = _lines(openai_client, raw["error_file_id"])
    assert {line["custom_id"] for line in errors} == {"x", "y"}
    assert {line["error"]["code"] for line in errors} == {"batch_expired"}


def test_a_cancelled_batch_is_cancelling_then_cancelled(simulator, openai_client, spec_validator):
    simulator.configure(**{**FAST, "batch_in_progress_seconds": 30})
    upload = openai_client.files.create(
        file=("r.jsonl", _jsonl([_request("x", "a")])), purpose="batch"
    )
    batch = openai_client.batches.create(
        input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
    )
    _until(openai_client, batch.id, {"in_progress"})
    assert openai_client.batches.cancel(batch.id).status == "cancelling"
    assert _until(openai_client, batch.id, {"cancelled"})[-1] == "cancelled"
    raw = openai_client.batches.with_raw_response.retrieve(batch.id).http_response.json()
    spec_validator(raw, "Batch")
    with pytest.raises(openai.ConflictError):
        openai_client.batches.cancel(batch.id)


def test_an_input_file_that_breaks_the_rules_fails_the_batch_naming_the_line(
    simulator, openai_client, spec_validator
):
    simulator.configure(**FAST)
    wrong_url = {**_request("b", "x"), "url": "/v1/chat/completions"}
    upload = openai_client.files.create(
        file=("r.jsonl", _jsonl([_request("a", "x"), wrong_url, _request("a", "y")])),
        purpose="batch",
    )
    batch = openai_client.batches.create(
        input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
    )
    assert _until(openai_client, batch.id, {"failed"})[-1] == "failed"
    raw = openai_client.batches.with_raw_response.retrieve(batch.id).http_response.json()
    spec_validator(raw, "Batch")
    assert [(e["code"], e["line"]) for e in raw["errors"]["data"]] == [
        ("mismatched_endpoint", 2),
        ("duplicate_custom_id", 3),
    ]


def test_batch_requests_are_checked_against_the_spec(simulator, openai_client):
    with pytest.raises(openai.BadRequestError, match="Supported values are: '24h'"):
        openai_client.batches.create(
            input_file_id="file-x", endpoint="/v1/responses", completion_window="1h"
        )
    with pytest.raises(openai.NotFoundError, match="No such File"):
        openai_client.batches.create(
            input_file_id="file-x", endpoint="/v1/responses", completion_window="24h"
        )
