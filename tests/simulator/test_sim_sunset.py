import openai
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_sunset_hides_the_assistants_api_from_everyone(simulator, openai_client):
    simulator.configure(sunset=True)
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.beta.assistants.list()
    assert caught.value.body == {
        "message": "Invalid URL (GET /v1/assistants)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.NotFoundError):
        openai_client.beta.threads.create_and_run(assistant_id="asst_demoLeadQualifier0000001")
    assert openai_client.responses.create(model="gpt-4o", input="still works").status == "completed"


def test_sunset_can_apply_to_one_key(simulator, openai_client, keys):
    with pytest.raises(openai.NotFoundError):
        simulator.client(keys.sunset).beta.assistants.list()
    assert openai_client.beta.assistants.list().data


def test_sunset_is_off_by_default(simulator):
    assert simulator.current_config()["sunset"] is False


def test_an_unknown_route_answers_invalid_url(openai_client):
    with pytest.raises(openai.NotFoundError, match="Invalid URL"):
        openai_client.get("/nothing/here", cast_to=object)


def test_sunset_can_be_switched_on_for_one_key_at_run_time(simulator, openai_client):
    simulator.configure(keys=[{"name": "demo", "sunset": True}])
    with pytest.raises(openai.NotFoundError):
        openai_client.beta.assistants.list()
    simulator.configure(keys=[{"name": "demo", "sunset": False}])
    assert openai_client.beta.assistants.list().data
