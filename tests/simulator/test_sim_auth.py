import openai
import pytest


def test_it_rejects_a_revoked_key(simulator, keys):
    client = simulator.client(keys.revoked)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert "Incorrect API key provided: sk-" in caught.value.body["message"]
    assert caught.value.body["message"].endswith(
        "dead. You can find your API key at https://platform.openai.com/account/api-keys."
    )
    assert keys.revoked not in caught.value.body["message"]


def test_it_rejects_an_unknown_key(simulator, keys):
    with pytest.raises(openai.AuthenticationError) as caught:
        simulator.client("sk-nobody-knows-this-key-1234").responses.create(
            model="gpt-4o", input="hi"
        )
    assert caught.value.code == "invalid_api_key"


def test_it_rejects_a_request_without_a_key(simulator, keys):
    import httpx

    response = httpx.get(f"{simulator.base_url}/models", trust_env=False)
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("You didn't provide an API key.")


def test_it_names_the_missing_scope(simulator, keys):
    client = simulator.client(keys.missing_scopes)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert (
        "You have insufficient permissions for this operation. Missing scopes: api.model.read."
        in str(caught.value.body["message"])
    )
    with pytest.raises(openai.AuthenticationError, match="api.responses.write"):
        client.responses.create(model="gpt-4o", input="hi")


def test_it_refuses_a_key_without_quota(simulator, keys):
    client = simulator.client(keys.no_quota)
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="gpt-4o", input="hi")
    assert caught.value.code == "insufficient_quota"
    assert caught.value.type == "insufficient_quota"
    assert caught.value.body["message"].startswith(
        "You exceeded your current quota, please check your plan and billing details."
    )


def test_it_returns_the_keys_organization_and_project(simulator, keys):
    raw = simulator.client(keys.narrow).models.with_raw_response.list()
    assert raw.headers["openai-organization"] == "org-narrow"
    assert raw.headers["openai-project"] == "proj_narrow"
    assert raw.headers["x-request-id"].startswith("req_")


def test_it_lists_only_the_models_a_key_can_see(simulator, openai_client, keys):
    assert [m.id for m in simulator.client(keys.narrow).models.list()] == ["gpt-4o-mini"]
    ids = {m.id for m in openai_client.models.list()}
    assert {
        "gpt-4.1",
        "gpt-4o",
        "o3",
        "o4-mini",
        "gpt-5",
        "text-embedding-3-small",
        "whisper-1",
        "dall-e-3",
    } <= ids


def test_it_hides_a_model_the_key_cannot_see(simulator, keys):
    with pytest.raises(openai.NotFoundError) as caught:
        simulator.client(keys.narrow).responses.create(model="gpt-4o", input="hi")
    assert caught.value.code == "model_not_found"
    assert (
        caught.value.body["message"]
        == "The model `gpt-4o` does not exist or you do not have access to it."
    )


def test_it_never_logs_a_full_key(simulator, openai_client, keys):
    openai_client.models.list()
    (row,) = simulator.requests(path_prefix="/v1/models")
    assert row["key"] == "demo"
    assert row["key_masked"].endswith("0000") and "crmflow" not in row["key_masked"]
