import time

import openai
import pytest

from openai_simulator.errors import ApiError
from openai_simulator.ratelimit import RateLimiter, format_duration


def test_a_key_with_rpm_5_gets_a_429_on_the_sixth_call(simulator, keys):
    client = simulator.client(keys.limited)
    for _ in range(5):
        client.models.list()
    with pytest.raises(openai.RateLimitError) as caught:
        client.models.list()
    error = caught.value
    assert error.code == "rate_limit_exceeded"
    assert error.type == "requests"
    assert error.body["message"].startswith(
        "Rate limit reached for default in organization org-limited on requests per min (RPM): "
        "Limit 5, Used 5, Requested 1."
    )
    # 5 per minute come back one every 12 s (less the time the five calls took).
    assert int(error.response.headers["retry-after"]) in (11, 12)
    assert 10_000 < int(error.response.headers["retry-after-ms"]) <= 12_000
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_every_response_carries_rate_limit_headers(simulator, keys):
    raw = simulator.client(keys.limited).responses.with_raw_response.create(
        model="gpt-4o", input="hello"
    )
    headers = raw.headers
    assert headers["x-ratelimit-limit-requests"] == "5"
    assert headers["x-ratelimit-remaining-requests"] == "4"
    assert 11.9 <= float(headers["x-ratelimit-reset-requests"].removesuffix("s")) <= 12
    assert headers["x-ratelimit-limit-tokens"] == "200000"
    assert int(headers["x-ratelimit-remaining-tokens"]) == 200000 - raw.parse().usage.total_tokens
    assert headers["x-ratelimit-reset-tokens"]


def test_only_model_runs_consume_tokens(simulator, keys):
    client = simulator.client(keys.limited)
    raw = client.models.with_raw_response.list()
    assert raw.headers["x-ratelimit-remaining-tokens"] == "200000"


def test_a_key_over_its_tpm_gets_a_tokens_429(simulator, keys):
    client = simulator.client(keys.token_limited)
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(
            model="gpt-4o", instructions="Summarise the record.", input="x" * 400
        )
    assert caught.value.type == "tokens"
    assert "on tokens per min (TPM): Limit 50" in caught.value.body["message"]


def test_the_bucket_admits_a_burst_of_the_limit_then_refills_continuously():
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])

    def admitted(attempts: int) -> int:
        count = 0
        for _ in range(attempts):
            try:
                limiter.admit_request("k", 600, 10_000, model="m", organization=None)
                count += 1
            except ApiError:
                pass
        return count

    assert admitted(700) == 600  # a full bucket: the whole minute's requests at once
    now[0] += 1.0
    assert admitted(50) == 10  # 600 per minute refill 10 per second
    now[0] += 60.0
    assert admitted(700) == 600  # full again after a minute, never fuller


def test_reset_headers_say_when_the_bucket_is_full_again():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    headers = limiter.admit_request("k", 60, 6_000, model="m", organization=None)
    assert headers["x-ratelimit-remaining-requests"] == "59"
    assert headers["x-ratelimit-reset-requests"] == "1s"  # one request back per second
    headers = limiter.admit_tokens("k", 60, 6_000, 1_500, model="m", organization=None)
    assert headers["x-ratelimit-remaining-tokens"] == "4500"
    assert headers["x-ratelimit-reset-tokens"] == "15s"  # 100 tokens per second
    now[0] += 0.5
    headers = limiter.admit_tokens("k", 60, 6_000, 10, model="m", organization=None)
    assert headers["x-ratelimit-reset-tokens"] == "14.6s"  # (1500 - 50 + 10) / 100


def test_retry_after_is_the_time_until_the_bucket_holds_the_request():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limiter.admit_tokens("k", 60, 600, 600, model="gpt-4o", organization="org-x")
    now[0] += 2.0  # 20 tokens back
    with pytest.raises(ApiError) as caught:
        limiter.admit_tokens("k", 60, 600, 100, model="gpt-4o", organization="org-x")
    error = caught.value
    assert error.headers["retry-after-ms"] == "8000"  # 80 more tokens at 10 per second
    assert error.headers["retry-after"] == "8"
    assert error.message == (
        "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): "
        "Limit 600, Used 580, Requested 100. Please try again in 8s. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    now[0] += 8.0
    limiter.admit_tokens("k", 60, 600, 100, model="gpt-4o", organization="org-x")


def test_a_request_larger_than_the_minute_is_refused_without_a_retry_time():
    limiter = RateLimiter(clock=lambda: 0.0)
    with pytest.raises(ApiError) as caught:
        limiter.admit_tokens("k", 60, 500, 800, model="gpt-4o", organization="org-x")
    assert caught.value.message.startswith(
        "Request too large for gpt-4o in organization org-x on tokens per min (TPM): "
        "Limit 500, Requested 800."
    )
    assert "retry-after" not in caught.value.headers


def test_a_lowered_limit_keeps_the_bucket_level_capped():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limiter.admit_request("k", 100, 10_000, model="m", organization=None)
    headers = limiter.admit_request("k", 2, 10_000, model="m", organization=None)
    assert headers["x-ratelimit-remaining-requests"] == "1"
    assert headers["x-ratelimit-reset-requests"] == "30s"


def test_a_refused_request_succeeds_once_retry_after_has_passed(simulator, keys):
    simulator.configure(keys=[{"name": "limited", "rpm": 1_000, "tpm": 60_000}])
    client = simulator.client(keys.limited)
    prompt = "x" * 120_000  # 30,000 tokens: two need a little more than the minute's 60,000
    client.responses.create(model="gpt-4o", input=prompt)
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="gpt-4o", input=prompt)
    assert caught.value.type == "tokens"
    wait_ms = int(caught.value.response.headers["retry-after-ms"])
    assert 0 < wait_ms < 1_000  # the shortfall refills at 1,000 tokens per second
    time.sleep(wait_ms / 1000)
    assert client.responses.create(model="gpt-4o", input=prompt).status == "completed"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.12, "120ms"), (1, "1s"), (8.64, "8.64s"), (360, "6m0s"), (3723, "1h2m3s")],
)
def test_durations_use_openais_format(seconds, text):
    assert format_duration(seconds) == text
