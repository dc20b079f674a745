"""Fuzz the JSON API with schemathesis against its own OpenAPI schema, in-process
(WSGI, no network), with a valid token: no input may cause a server error.

Kept fast with a few examples per operation; raise FUZZ_EXAMPLES to dig deeper.
"""

import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application
from crm import services
from crm.models import ApiToken
from crm.webforms import form_create

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture(autouse=True)
def keep_the_test_transaction():
    """The WSGI handler closes the database connection after each request; Django's
    test client prevents that the same way, or the test's transaction would be lost."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(acme, admin_user) -> str:
    # Something to find: records of every kind and a form, ids 1.. in a fresh database.
    for object_type, values in [
        ("contact", {"email": "ana@example.com"}),
        ("company", {"name": "Acme", "domain": "acme.com"}),
        ("deal", {"name": "Big", "amount": "1000"}),
        ("ticket", {"subject": "Help"}),
    ]:
        services.record_create(account=acme, object_type=object_type, values=values)
    form_create(account=acme, name="Contact us", created_by=admin_user)
    return ApiToken.issue(account=acme, name="Fuzz", created_by=admin_user)[1]


@pytest.mark.django_db(transaction=False)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_the_api_answers_any_input_without_a_server_error(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
