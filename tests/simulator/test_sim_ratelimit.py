import openai
import pytest

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
    assert 1 <= int(error.response.headers["retry-after"]) <= 60
    assert int(error.response.headers["retry-after-ms"]) > 0
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_every_response_carries_rate_limit_headers(simulator, keys):
    raw = simulator.client(keys.limited).responses.with_raw_response.create(
        model="gpt-4o", input="hello"
    )
    headers = raw.headers
    assert headers["x-ratelimit-limit-requests"] == "5"
    assert headers["x-ratelimit-remaining-requests"] == "4"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
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


def test_the_limiter_admits_exactly_the_limit_per_window():
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    admitted = 0
    for _ in range(700):
        try:
            limiter.admit_request("k", 600, 10_000, model="m", organization=None)
            admitted += 1
        except Exception:
            pass
        now[0] += 0.05  # 700 calls over 35 s: all inside one window
    assert admitted == 600
    now[0] += 60
    limiter.admit_request("k", 600, 10_000, model="m", organization=None)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.12, "120ms"), (1, "1s"), (8.64, "8.64s"), (360, "6m0s"), (3723, "1h2m3s")],
)
def test_durations_use_openais_format(seconds, text):
    assert format_duration(seconds) == text
