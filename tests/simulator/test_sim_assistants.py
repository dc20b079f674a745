import openai
import pytest

from openai_simulator.testing import running_simulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_it_lists_the_demo_assistants_newest_first(openai_client):
    page = openai_client.beta.assistants.list()
    names = [a.name for a in page.data]
    assert names[0] == "Account researcher" and names[-1] == "Lead qualifier"
    assert len(names) == 5
    assert page.has_more is False


def test_it_lists_assistants_oldest_first_with_order_asc(openai_client):
    page = openai_client.beta.assistants.list(order="asc", limit=2)
    assert [a.id for a in page.data] == [
        "asst_demoLeadQualifier0000001",
        "asst_demoStateFormatter00002",
    ]
    assert page.has_more is True


def test_it_pages_backwards_with_before(openai_client):
    everything = [a.id for a in openai_client.beta.assistants.list(order="asc").data]
    page = openai_client.beta.assistants.list(order="asc", before=everything[3], limit=2)
    assert [a.id for a in page.data] == everything[1:3]
    assert page.has_more is True


@pytest.mark.parametrize("limit", [0, 101])
def test_it_rejects_a_limit_out_of_range(openai_client, limit):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.beta.assistants.list(limit=limit)
    assert caught.value.body["type"] == "invalid_request_error"
    assert caught.value.body["param"] == "limit"


def test_it_retrieves_an_assistant(openai_client):
    assistant = openai_client.beta.assistants.retrieve("asst_demoStateFormatter00002")
    assert assistant.name == "US state formatter"
    assert assistant.model == "gpt-4.1-mini"


def test_it_hides_an_assistant_the_key_cannot_see(simulator, keys):
    narrow = simulator.client(keys.narrow)
    assert [a.id for a in narrow.beta.assistants.list()] == ["asst_demoLeadQualifier0000001"]
    with pytest.raises(openai.NotFoundError) as caught:
        narrow.beta.assistants.retrieve("asst_demoStateFormatter00002")
    assert (
        caught.value.body["message"] == "No assistant found with id 'asst_demoStateFormatter00002'."
    )


def test_it_answers_404_for_an_unknown_assistant(openai_client):
    with pytest.raises(openai.NotFoundError):
        openai_client.beta.assistants.retrieve("asst_doesnotexist")


def test_auto_pagination_yields_all_130_assistants_exactly_once():
    assistants = [
        {
            "id": f"asst_bulk{n:04d}",
            "name": f"Bulk {n}",
            "model": "gpt-4o-mini",
            "created_at": 1_700_000_000 + n,
        }
        for n in range(130)
    ]
    with running_simulator({"assistants": assistants}) as sim:
        client = sim.client()
        ids = [a.id for a in client.beta.assistants.list(limit=100)]
        pages = [r["path"] for r in sim.requests(path_prefix="/v1/assistants")]
    assert len(ids) == 130
    assert set(ids) == {a["id"] for a in assistants}
    assert ids[0] == "asst_bulk0129"  # newest first
    assert len(pages) == 2
