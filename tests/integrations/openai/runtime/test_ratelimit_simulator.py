"""The limiter in anger: 4 OS processes hammer a 60-RPM key through the real engine for
just over a minute; the simulator's own request log is the judge."""

from __future__ import annotations

import time
import uuid

import pytest
from django.conf import settings

from .workers import call_openai_in_a_loop, worker_pool

LIMIT = 60
SECONDS = 65
STARTUP_SECONDS = 1  # lets the 4 forked processes begin together


@pytest.mark.integration
def test_four_processes_keep_a_60_rpm_key_under_its_limit_in_every_minute(
    simulator, sim_keys, limiter_factory
):
    prefix = limiter_factory().prefix  # cleaned up by the fixture
    start = time.time() + STARTUP_SECONDS
    connection = f"conn-{uuid.uuid4().hex[:8]}"
    args = (
        simulator.base_url,
        sim_keys.sixty_rpm,
        settings.REDIS_URL,
        prefix,
        connection,
        start,
        SECONDS,
    )
    with worker_pool(4) as pool:
        outcomes = pool.starmap(call_openai_in_a_loop, [args] * 4)

    rows = simulator.requests(key="sixty")
    times = sorted(row["time"] for row in rows)
    assert [row["status"] for row in rows if row["status"] != 200] == []  # not one 429
    assert all(not set(o) - {"ok", "waits"} for o in outcomes), outcomes
    # At most LIMIT requests in every sliding 60 s window: request i and i + LIMIT are
    # at least 60 s apart.
    assert all(times[i + LIMIT] - times[i] >= 60.0 for i in range(len(times) - LIMIT))
    # And the key was used: the first minute's budget was spent within it, and the
    # second minute's started (≥ 95 % of the limit used).
    in_first_minute = sum(1 for t in times if t < times[0] + 60)
    assert in_first_minute >= 0.95 * LIMIT
    assert len(times) > LIMIT
    assert sum(o.get("ok", 0) for o in outcomes) == len(rows)
