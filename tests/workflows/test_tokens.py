import pytest

from crm.services import definitions_for
from tests.workflows.conftest import contact
from workflows.tokens import TokenResolver

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hi {{ object.first_name }}", "Hi Ann"),
        ("Hi {{object.first_name}}!", "Hi Ann!"),
        ("{{ object.city }}", ""),
        ('Hi {{ object.city | default:"there" }}', "Hi there"),
        ("{{ object.no_such_property }}", ""),
        ("{{ object.lifecycle_stage }}", "Lead"),
        ("{{ actions.3.response }}", "<b>HOT</b>"),
        ("{{ actions.9.response }} {{ actions.3.missing }}", " "),
        ("{{ actions.3.score }}", "7"),
        ("{{ nonsense }} {{", "{{ nonsense }} {{"),
    ],
)
def test_tokens_render_values_fallbacks_and_never_crash(acme, text, expected):
    record = contact(acme, first_name="Ann", lifecycle_stage="lead")
    resolver = TokenResolver(
        record=record,
        definitions=definitions_for(acme, "contact"),
        earlier_outputs={3: {"response": "<b>HOT</b>", "score": 7}},
    )
    # Plain text: not escaped here (escaping is the renderer's job).
    assert resolver.render(text) == expected
