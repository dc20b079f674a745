import pytest

from tests.workflows.conftest import drain, probe_log  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Live counts and the health banner are cached a few seconds per process."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


# The OpenAI simulator (session) and `sim` (reset, crmflow pointed at it) for the
# quota scenario; started only by the tests that ask for `sim`.
from tests.integrations.openai.conftest import sim, simulator_session  # noqa: E402, F401
