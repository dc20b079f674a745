import httpx
import openai
import pytest


def test_the_sdk_retries_server_errors_and_the_log_shows_every_attempt(simulator, keys):
    simulator.configure(
        faults=[{"path_prefix": "/v1/responses", "error_500": 1.0, "times": 2, "retry_after_ms": 5}]
    )
    client = simulator.client(keys.demo, max_retries=2)
    response = client.responses.create(model="gpt-4o", input="hello")
    assert response.status == "completed"
    statuses = [row["status"] for row in simulator.requests(path_prefix="/v1/responses")]
    assert statuses == [500, 500, 200]


def test_the_sdk_gives_up_after_its_retries(simulator, keys):
    simulator.configure(
        faults=[{"path_prefix": "/v1/responses", "error_503": 1.0, "retry_after_ms": 5}]
    )
    client = simulator.client(keys.demo, max_retries=2)
    with pytest.raises(openai.InternalServerError) as caught:
        client.responses.create(model="gpt-4o", input="hello")
    assert caught.value.status_code == 503
    assert len(simulator.requests(path_prefix="/v1/responses")) == 3


def test_an_injected_429_carries_retry_headers_and_is_retried(simulator, keys):
    simulator.configure(
        faults=[{"path_prefix": "/v1/responses", "error_429": 1.0, "times": 1, "retry_after_ms": 5}]
    )
    raw = simulator.client(keys.demo).responses.with_raw_response
    with pytest.raises(openai.RateLimitError) as caught:
        raw.create(model="gpt-4o", input="hello")
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after-ms"] == "5"
    simulator.configure(
        faults=[{"path_prefix": "/v1/responses", "error_429": 1.0, "times": 1, "retry_after_ms": 5}]
    )
    assert (
        simulator.client(keys.demo, max_retries=1)
        .responses.create(model="gpt-4o", input="hi")
        .status
        == "completed"
    )


def test_faults_can_be_scoped_to_a_path_and_a_key(simulator, openai_client, keys):
    simulator.configure(
        faults=[{"path_prefix": "/v1/responses", "key": "narrow", "error_500": 1.0}]
    )
    openai_client.models.list()
    openai_client.responses.create(model="gpt-4o-mini", input="hello")
    narrow = simulator.client(keys.narrow)
    narrow.models.list()
    with pytest.raises(openai.InternalServerError):
        narrow.responses.create(model="gpt-4o-mini", input="hello")


def test_a_ratio_fault_is_reproducible_with_a_seed(simulator, openai_client):
    def pattern():
        simulator.reset()
        simulator.configure(seed=99, faults=[{"path_prefix": "/v1/models", "error_500": 0.5}])
        outcomes = []
        for _ in range(20):
            try:
                openai_client.models.list()
                outcomes.append(200)
            except openai.InternalServerError:
                outcomes.append(500)
        return outcomes

    first = pattern()
    assert first == pattern()
    assert 200 in first and 500 in first


def test_a_hang_times_the_client_out(simulator, keys):
    simulator.configure(hang_seconds=2, faults=[{"path_prefix": "/v1/responses", "hang": 1.0}])
    client = simulator.client(keys.demo, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        client.responses.create(model="gpt-4o", input="hello")
    (row,) = simulator.requests(path_prefix="/v1/responses")
    assert row["fault"] == "hang"


def test_a_truncated_body_is_cut_mid_json(simulator, openai_client):
    simulator.configure(faults=[{"path_prefix": "/v1/models", "truncated": 1.0}])
    response = httpx.get(
        f"{simulator.base_url}/models",
        headers={"Authorization": f"Bearer {simulator.api_key}"},
        trust_env=False,
    )
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    # The SDK does not wrap a body it cannot decode: callers see the JSON error itself.
    with pytest.raises(ValueError):
        openai_client.models.list()
