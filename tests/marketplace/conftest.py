"""Marketplace fixtures: the OpenAI simulator behind the real SDK, and keys of each kind."""

from __future__ import annotations

import pytest

from config.embedded_redis import free_port
from openai_simulator.testing import running_simulator
from tests.marketplace.helpers import SIMULATOR_CONFIG


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Users are made with a password in every test; the real hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def openai_simulator():
    with running_simulator(SIMULATOR_CONFIG) as simulator:
        yield simulator


@pytest.fixture
def sim(openai_simulator, settings):
    """The simulator, reset, with crmflow pointed at it."""
    openai_simulator.reset()
    settings.OPENAI_BASE_URL = openai_simulator.base_url
    settings.OPENAI_TIMEOUT = 5.0
    yield openai_simulator


@pytest.fixture
def openai_unreachable(settings):
    """OPENAI_BASE_URL on a port where nothing listens."""
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    settings.OPENAI_TIMEOUT = 2.0
