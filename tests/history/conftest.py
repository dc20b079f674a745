import pytest

from tests.workflows.conftest import drain, probe_log  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Live counts and the health banner are cached a few seconds per process."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
