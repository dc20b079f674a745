"""Endpoint per connection: OpenAI, Azure OpenAI (the simulator's /openai/v1 path,
`api-key` header, deployment names) and an OpenAI-compatible server (a second, bare
simulator: no rate-limit headers, a key optional). Through the connect dialog and the
ledger, the real SDK against the simulators over HTTP."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm.models import Task
from marketplace.integrations.openai.client import connection_client
from marketplace.integrations.openai.models import AssistantUsage, ConnectionEndpoint
from marketplace.models import AppLogEntry, AppLogEvent, Connection
from openai_simulator.config import (
    DEMO_KEY,
    DEMO_MISSING_SCOPES_KEY,
    DEMO_NO_QUOTA_KEY,
    DEMO_REVOKED_KEY,
)
from openai_simulator.testing import running_simulator
from tests.integrations.openai.conftest import (
    ask_then_task,
    connect,
    contact,
    drain,
    make_workflow,
    workspace_assistant,
)
from workflows.models import ActionExecution

pytestmark = pytest.mark.django_db

CONNECT = reverse("marketplace:openai_connect")
RECONNECT = reverse("marketplace:openai_reconnect")
APP_PAGE = reverse("marketplace:app_detail", args=["openai"])
DEPLOYMENTS = ["crm-gpt-4o", "crm-gpt-4o-mini", "crm-o4-mini"]
LOCAL_MODEL = "llama-3.1-8b-instruct"


@pytest.fixture(scope="module")
def demo_sim():
    """The built-in demo config: a key of each kind, the demo deployments."""
    with running_simulator() as running:
        yield running


@pytest.fixture(scope="module")
def bare_sim():
    """A bare OpenAI-compatible server (vLLM-like) serving a model OpenAI has no price for."""
    config = {"bare": True, "models": [{"id": LOCAL_MODEL}, {"id": "gpt-4o-mini"}]}
    with running_simulator(config) as running:
        yield running


@pytest.fixture
def local_endpoints(settings):
    """The simulators run on 127.0.0.1 over http: allowed, as a self-hoster would."""
    settings.OPENAI_ENDPOINT_ALLOW_HTTP = True
    settings.OPENAI_ENDPOINT_ALLOW_PRIVATE = True
    settings.OPENAI_TIMEOUT = 3.0


@pytest.fixture
def fresh(demo_sim, bare_sim):
    demo_sim.reset()
    bare_sim.reset()
    return demo_sim, bare_sim


def post_connect(client, kind: str, url: str, api_key: str = "", url_name: str = CONNECT):
    return client.post(url_name, {"endpoint_kind": kind, "endpoint_url": url, "api_key": api_key})


def test_azure_connects_with_the_api_key_header_and_lists_deployments_as_models(
    fresh, local_endpoints, admin_client, acme
):
    demo_sim, _bare = fresh
    response = post_connect(admin_client, "azure", demo_sim.root_url + "/some/path", DEMO_KEY)

    assert response.status_code == 302
    connection = Connection.objects.get(account=acme, app="openai")
    assert connection.available_models == DEPLOYMENTS
    endpoint = ConnectionEndpoint.objects.get(connection=connection)
    assert (endpoint.kind, endpoint.url) == ("azure", demo_sim.root_url)  # the resource only
    assert [(r["path"], r["key"]) for r in demo_sim.requests()] == [("/openai/deployments", "demo")]
    page = admin_client.get(APP_PAGE).content.decode()
    assert "Azure OpenAI" in page and demo_sim.root_url in page


def test_a_compatible_server_connects_without_a_key_and_lists_its_models(
    fresh, local_endpoints, admin_client, acme
):
    _demo, bare_sim = fresh
    response = post_connect(admin_client, "compatible", bare_sim.base_url + "/")

    assert response.status_code == 302
    connection = Connection.objects.get(account=acme)
    assert connection.available_models == sorted([LOCAL_MODEL, "gpt-4o-mini"])
    assert ConnectionEndpoint.objects.get(connection=connection).url == bare_sim.base_url
    assert [r["path"] for r in bare_sim.requests()] == ["/v1/models"]


MESSAGES = {
    "azure": {
        "revoked": "Azure OpenAI rejected this API key: it is incorrect, revoked or expired.",
        "scopes": "This API key does not have the permissions crmflow needs (at least listing",
        "quota": "Azure OpenAI says this key&#x27;s quota is exhausted.",
        "unreachable": "crmflow could not reach Azure OpenAI. Nothing was saved",
        "error": "Azure OpenAI answered with an unexpected error. Nothing was saved",
        "timeout": "Azure OpenAI did not answer in time. Nothing was saved",
    },
    "compatible": {
        "revoked": "The OpenAI-compatible server rejected this API key: it is incorrect",
        "scopes": "This API key does not have the permissions crmflow needs (at least listing",
        "quota": "The OpenAI-compatible server says this key&#x27;s quota is exhausted.",
        "unreachable": "crmflow could not reach the OpenAI-compatible server. Nothing was saved",
        "error": "The OpenAI-compatible server answered with an unexpected error.",
        "timeout": "The OpenAI-compatible server did not answer in time. Nothing was saved",
    },
}


def _url(kind: str, sim) -> str:
    return sim.root_url if kind == "azure" else sim.base_url


@pytest.mark.parametrize("kind", ["azure", "compatible"])
@pytest.mark.parametrize(
    ("case", "api_key"),
    [("revoked", DEMO_REVOKED_KEY), ("scopes", DEMO_MISSING_SCOPES_KEY)],
)
def test_each_refused_key_gets_its_own_message_for_each_kind(
    fresh, local_endpoints, admin_client, kind, case, api_key
):
    demo_sim, _bare = fresh
    response = post_connect(admin_client, kind, _url(kind, demo_sim), api_key)

    assert response.status_code == 200
    assert MESSAGES[kind][case] in response.content.decode()
    assert not Connection.objects.exists()


@pytest.mark.parametrize("kind", ["azure", "compatible"])
def test_a_key_without_quota_connects_with_a_warning_for_each_kind(
    fresh, local_endpoints, admin_client, acme, kind
):
    demo_sim, _bare = fresh
    response = post_connect(admin_client, kind, _url(kind, demo_sim), DEMO_NO_QUOTA_KEY)

    assert response.status_code == 302
    assert Connection.objects.get(account=acme).quota_exhausted
    assert MESSAGES[kind]["quota"] in admin_client.get(APP_PAGE).content.decode()


@pytest.mark.parametrize("kind", ["azure", "compatible"])
def test_unreachable_failing_and_slow_servers_store_nothing_for_each_kind(
    fresh, local_endpoints, settings, admin_client, kind
):
    demo_sim, _bare = fresh
    dead = "http://127.0.0.1:9" + ("" if kind == "azure" else "/v1")
    text = post_connect(admin_client, kind, dead, DEMO_KEY).content.decode()
    assert MESSAGES[kind]["unreachable"] in text

    path = "/openai/deployments" if kind == "azure" else "/v1/models"
    demo_sim.configure(faults=[{"path_prefix": path, "error_500": 1.0, "times": 1}])
    text = post_connect(admin_client, kind, _url(kind, demo_sim), DEMO_KEY).content.decode()
    assert MESSAGES[kind]["error"] in text

    settings.OPENAI_TIMEOUT = 0.5
    demo_sim.configure(faults=[{"path_prefix": path, "hang": 1.0, "times": 1}], hang_seconds=2)
    text = post_connect(admin_client, kind, _url(kind, demo_sim), DEMO_KEY).content.decode()
    assert MESSAGES[kind]["timeout"] in text
    assert not Connection.objects.exists()


def test_a_compatible_server_that_wants_a_key_says_so_when_none_is_given(
    fresh, local_endpoints, admin_client
):
    demo_sim, _bare = fresh  # not bare: it answers 401 without a key
    text = post_connect(admin_client, "compatible", demo_sim.base_url).content.decode()
    assert "The OpenAI-compatible server asks for an API key." in text
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("azure", "Enter the address of your Azure OpenAI resource."),
        ("compatible", "Enter the base URL of your OpenAI-compatible server."),
    ],
)
def test_an_address_is_needed_for_azure_and_compatible(
    fresh, local_endpoints, admin_client, kind, message
):
    text = post_connect(admin_client, kind, "", DEMO_KEY).content.decode()
    assert message in text
    text = post_connect(admin_client, kind, "ftp://example.com", DEMO_KEY).content.decode()
    assert "Enter the full address, starting with https://." in text


def test_http_is_refused_unless_allowed_and_nothing_is_sent(fresh, settings, admin_client):
    demo_sim, _bare = fresh
    settings.OPENAI_ENDPOINT_ALLOW_HTTP = False
    settings.OPENAI_ENDPOINT_ALLOW_PRIVATE = True

    text = post_connect(admin_client, "compatible", demo_sim.base_url, DEMO_KEY).content.decode()

    assert "Only https:// addresses are allowed" in text
    assert demo_sim.requests() == []
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    "address",
    [
        "https://127.0.0.1:{port}",  # loopback
        "https://localhost:{port}",  # a name resolving to loopback
        "https://10.1.2.3",  # private
        "https://169.254.169.254",  # link-local (cloud metadata)
        "https://[::1]:{port}",  # IPv6 loopback
        "https://[::ffff:192.168.0.1]",  # IPv4-mapped private
    ],
)
@pytest.mark.parametrize("kind", ["azure", "compatible"])
def test_private_loopback_and_link_local_addresses_are_refused_unless_allowed(
    fresh, settings, admin_client, kind, address
):
    demo_sim, _bare = fresh
    settings.OPENAI_ENDPOINT_ALLOW_HTTP = True
    settings.OPENAI_ENDPOINT_ALLOW_PRIVATE = False

    url = address.format(port=demo_sim.port)
    text = post_connect(admin_client, kind, url, DEMO_KEY).content.decode()

    assert "This address points to a private, loopback or link-local network" in text
    assert demo_sim.requests() == []
    assert not Connection.objects.exists()


def test_reconnect_refuses_a_private_address_and_keeps_the_current_endpoint(
    sim, fresh, settings, admin_client, acme
):
    connection = connect(acme)
    settings.OPENAI_ENDPOINT_ALLOW_HTTP = True
    settings.OPENAI_ENDPOINT_ALLOW_PRIVATE = False
    demo_sim, _bare = fresh

    response = post_connect(admin_client, "azure", demo_sim.root_url, DEMO_KEY, url_name=RECONNECT)

    assert "private, loopback or link-local" in response.content.decode()
    assert not ConnectionEndpoint.objects.filter(connection=connection).exists()
    assert demo_sim.requests() == []


def _azure(connection, sim) -> None:
    ConnectionEndpoint.objects.create(connection=connection, kind="azure", url=sim.root_url)
    Connection.objects.filter(pk=connection.pk).update(available_models=DEPLOYMENTS)


def test_a_workflow_runs_on_an_azure_deployment_and_is_priced_by_its_model(sim, acme):
    connection = connect(acme)
    _azure(connection, sim)
    assistant = workspace_assistant(acme, model="crm-gpt-4o-mini")
    make_workflow(acme, ask_then_task(assistant.choice_value))
    contact(acme, first_name="Ann", state="california")

    drain()

    assert Task.objects.get().title == "Code: CA"
    usage = AssistantUsage.objects.get()
    assert usage.model == "gpt-4o-mini" and usage.cost_usd > 0  # the deployment's model
    assert [r["path"] for r in sim.requests(key="demo")] == ["/openai/v1/responses"]


def test_an_unknown_azure_deployment_fails_the_step_with_a_clear_reason(sim, acme):
    connection = connect(acme)
    _azure(connection, sim)
    Connection.objects.filter(pk=connection.pk).update(available_models=["crm-gone"])
    assistant = workspace_assistant(acme, model="crm-gone")
    make_workflow(acme, ask_then_task(assistant.choice_value))
    contact(acme, first_name="Ann", state="texas")

    drain()

    execution = ActionExecution.objects.get(step_id=1)
    assert execution.status == "failed"
    assert "deployment" in execution.error.lower()


def test_a_workflow_runs_on_a_bare_compatible_server_unpriced_model_is_not_priced(
    sim, bare_sim, acme
):
    bare_sim.reset()
    connection = connect(acme, key="")
    ConnectionEndpoint.objects.create(
        connection=connection, kind="compatible", url=bare_sim.base_url
    )
    Connection.objects.filter(pk=connection.pk).update(available_models=[LOCAL_MODEL])
    assistant = workspace_assistant(acme, model=LOCAL_MODEL)
    make_workflow(acme, ask_then_task(assistant.choice_value))
    for state in ("california", "texas", "new york"):
        contact(acme, first_name="Ann", state=state)

    drain()

    assert sorted(t.title for t in Task.objects.all()) == ["Code: CA", "Code: NY", "Code: TX"]
    usages = list(AssistantUsage.objects.all())
    assert len(usages) == 3
    assert all(u.model == LOCAL_MODEL and u.cost_usd is None for u in usages)  # not priced
    assert all(u.total_tokens > 0 for u in usages)
    requests = bare_sim.requests()
    assert [r["path"] for r in requests] == ["/v1/responses"] * 3


def test_reconnecting_moves_the_calls_to_the_new_endpoint(
    sim, fresh, local_endpoints, admin_client, acme
):
    connection = connect(acme)
    before = connection_client(connection)
    response = post_connect(admin_client, "azure", sim.root_url, DEMO_KEY, url_name=RECONNECT)
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.available_models == DEPLOYMENTS  # the new endpoint's models
    assert connection.allowed_models is None
    after = connection_client(Connection.objects.get(pk=connection.pk))
    assert after is not before and str(after.base_url).endswith("/openai/v1/")
    log = AppLogEntry.objects.filter(connection=connection).last()
    assert log is not None and log.event == AppLogEvent.RECONNECTED

    response = post_connect(admin_client, "openai", "", DEMO_KEY, url_name=RECONNECT)
    assert response.status_code == 302
    assert ConnectionEndpoint.objects.get(connection=connection).kind == "openai"
    again = connection_client(Connection.objects.get(pk=connection.pk))
    assert str(again.base_url) == str(before.base_url)


def test_the_reconnect_dialog_shows_the_current_endpoint(sim, acme, admin_client):
    connection = connect(acme)
    _azure(connection, sim)
    page = admin_client.get(RECONNECT).content.decode()
    assert f'value="{sim.root_url}"' in page
    radios = re.findall(
        r'<input type="radio" name="endpoint_kind" value="(\w+)"[^>]*?( checked)?>', page
    )
    assert radios == [("openai", ""), ("azure", " checked"), ("compatible", "")]
