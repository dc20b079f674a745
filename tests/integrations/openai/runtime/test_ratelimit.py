"""The Redis rate limiter on its own (no simulator): short windows, real processes."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from marketplace.integrations.openai.limiter.window import (
    PROMISE_GRACE_SECONDS,
    Permit,
    Wait,
    estimate_tokens,
)

from .workers import grab_permits, worker_pool

MODEL = "gpt-4o-mini"


def sixty_rpm_headers(
    remaining_requests: int = 59, remaining_tokens: int = 29_000, rpm: int = 60
) -> dict:
    return {
        "x-ratelimit-limit-requests": str(rpm),
        "x-ratelimit-remaining-requests": str(remaining_requests),
        "x-ratelimit-reset-requests": "59.9s",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": str(remaining_tokens),
        "x-ratelimit-reset-tokens": "59.9s",
    }


def test_four_processes_never_get_more_than_the_limit_in_any_window(limiter_factory):
    limit, window, margin, seconds = 8, 1.0, 0.05, 3.5
    options = {"window_seconds": window, "margin_seconds": margin, "default_requests": limit}
    prefix = limiter_factory(**options).prefix  # the fixture cleans this prefix up afterwards
    options["prefix"] = prefix
    with worker_pool(4) as pool:
        results = pool.starmap(
            grab_permits, [(settings.REDIS_URL, options, "conn", MODEL, 1, seconds)] * 4
        )
    granted = sorted(t for times in results for t in times)

    window_ms = int((window + margin) * 1000)
    assert all(granted[i + limit] - granted[i] >= window_ms for i in range(len(granted) - limit))
    # Busy for the whole run: each window's worth of permits was handed out.
    span = granted[-1] - granted[0]
    assert len(granted) >= 0.95 * limit * (span // window_ms + 1)
    assert all(len(times) > 0 for times in results)  # every process got some


def test_it_waits_for_the_oldest_request_to_leave_the_window(limiter_factory):
    limiter = limiter_factory(window_seconds=10, margin_seconds=0, default_requests=2)

    first = limiter.acquire("conn", MODEL, 1)
    second = limiter.acquire("conn", MODEL, 1)
    third = limiter.acquire("conn", MODEL, 1)

    assert isinstance(first, Permit) and isinstance(second, Permit)
    assert isinstance(third, Wait) and third.reason == "requests"
    assert 9 < third.seconds <= 10


def test_named_waiters_are_given_successive_slots_not_all_the_first_one(limiter_factory):
    import time

    limiter = limiter_factory(window_seconds=10, margin_seconds=0, default_requests=2)
    assert isinstance(limiter.acquire("conn", MODEL, 1), Permit)
    time.sleep(0.5)
    assert isinstance(limiter.acquire("conn", MODEL, 1), Permit)

    waits = [limiter.acquire("conn", MODEL, 1, waiter=f"exec:{n}") for n in range(4)]
    seconds = [w.seconds for w in waits]
    # The first slot frees in ~9.5 s, the second in ~10 s; then the same again a window later.
    assert 9 < seconds[0] <= 9.5 < seconds[1] <= 10
    assert 19 < seconds[2] <= 19.5 < seconds[3] <= 20
    # Asking again does not take a second place in the queue, and anonymous callers
    # (no waiter) are told the first slot as before.
    again = limiter.acquire("conn", MODEL, 1, waiter="exec:3")
    assert again.seconds <= 20
    assert limiter.acquire("conn", MODEL, 1).seconds <= 9.5


def test_a_call_of_several_requests_takes_them_all_or_none(limiter_factory):
    limiter = limiter_factory(window_seconds=10, margin_seconds=0, default_requests=4)
    assert isinstance(limiter.acquire("conn", MODEL, 1, requests=3), Permit)
    assert isinstance(limiter.acquire("conn", MODEL, 1, requests=3), Wait)
    assert isinstance(limiter.acquire("conn", MODEL, 1), Permit)
    assert limiter.state("conn").connection.requests_used == 4


def test_a_wait_says_whether_the_limits_were_learned(limiter_factory):
    limiter = limiter_factory(default_requests=1)
    limiter.acquire("conn", MODEL, 1)
    assert limiter.acquire("conn", MODEL, 1).learned is False
    limiter.record_response("conn", MODEL, sixty_rpm_headers(remaining_requests=0))
    assert limiter.acquire("conn", MODEL, 1).learned is True


def test_a_request_that_leaves_late_is_counted_from_when_it_leaves(limiter_factory):
    import time

    from marketplace.integrations.openai.limiter.policy import request_leaving, sending

    limiter = limiter_factory(window_seconds=10, margin_seconds=0, default_requests=1)
    permit = limiter.acquire("conn", MODEL, 1)
    time.sleep(0.6)  # a starved thread: the request leaves well after its permit
    with sending(limiter, permit):
        request_leaving()
    wait = limiter.acquire("conn", MODEL, 1)
    assert isinstance(wait, Wait) and wait.seconds > 9.8  # not 9.4: counted from now
    request_leaving()  # outside a call: nothing happens


def test_tokens_are_budgeted_and_settled_to_what_the_call_used(limiter_factory):
    limiter = limiter_factory(default_requests=100, default_tokens=100)

    big = limiter.acquire("conn", MODEL, 60)
    refused = limiter.acquire("conn", MODEL, 60)
    limiter.record_response("conn", MODEL, {}, actual_tokens=10, permit=big)
    after_settling = limiter.acquire("conn", MODEL, 60)

    assert isinstance(big, Permit) and big.tokens == 60
    assert isinstance(refused, Wait) and refused.reason == "tokens"
    assert isinstance(after_settling, Permit)
    assert limiter.state("conn").connection.tokens_used == 70


def test_a_call_bigger_than_the_whole_budget_runs_alone(limiter_factory):
    limiter = limiter_factory(default_tokens=100)

    huge = limiter.acquire("conn", MODEL, 5_000)
    next_one = limiter.acquire("conn", MODEL, 1)

    assert isinstance(huge, Permit) and huge.tokens == 100
    assert isinstance(next_one, Wait) and next_one.reason == "tokens"


def test_limits_are_learned_from_the_headers(limiter_factory):
    limiter = limiter_factory(default_requests=1)
    assert isinstance(limiter.acquire("conn", MODEL, 1), Permit)
    assert isinstance(limiter.acquire("conn", MODEL, 1), Wait)

    limiter.record_response("conn", MODEL, sixty_rpm_headers(remaining_requests=59))

    state = limiter.state("conn")
    assert state.connection.learned and state.connection.requests_limit == 60
    assert state.models[MODEL].tokens_limit == 30_000
    granted = [limiter.acquire("conn", MODEL, 1) for _ in range(60)]
    assert sum(isinstance(g, Permit) for g in granted) == 59  # 60 minus the one already taken


def test_the_server_saying_fewer_remain_shrinks_what_we_allow(limiter_factory):
    limiter = limiter_factory()
    limiter.acquire("conn", MODEL, 100)

    # Someone else used this key too: the server counted 50 requests and 20,000 tokens.
    limiter.record_response(
        "conn", MODEL, sixty_rpm_headers(remaining_requests=10, remaining_tokens=10_000)
    )

    state = limiter.state("conn").connection
    assert state.requests_used == 50 and state.tokens_used == 20_000
    granted = [limiter.acquire("conn", MODEL, 1) for _ in range(20)]
    assert sum(isinstance(g, Permit) for g in granted) == 10


def test_the_server_saying_more_remain_never_grows_past_the_limit(limiter_factory):
    limiter = limiter_factory(default_requests=60)
    for _ in range(30):
        limiter.acquire("conn", MODEL, 1)

    # A server window that just restarted reports almost everything free.
    limiter.record_response("conn", MODEL, sixty_rpm_headers(remaining_requests=59))

    granted = [limiter.acquire("conn", MODEL, 1) for _ in range(60)]
    assert sum(isinstance(g, Permit) for g in granted) == 30


def test_models_share_the_connections_budget(limiter_factory):
    limiter = limiter_factory()
    limiter.record_response("conn", "gpt-4o", sixty_rpm_headers(rpm=3, remaining_requests=3))
    limiter.record_response("conn", "o3", sixty_rpm_headers(rpm=2, remaining_requests=2))

    results = [limiter.acquire("conn", m, 1) for m in ("o3", "o3", "o3", "gpt-4o", "gpt-4o")]

    # o3 is held to its 2; the connection to the highest model limit, 3.
    assert [isinstance(r, Permit) for r in results] == [True, True, False, True, False]


def test_an_unknown_model_still_counts_once(limiter_factory):
    limiter = limiter_factory(default_requests=2, default_tokens=100)

    results = [limiter.acquire("conn", "", 30) for _ in range(3)]

    assert [isinstance(r, Permit) for r in results] == [True, True, False]
    assert limiter.state("conn").connection.tokens_used == 60


def test_a_cool_down_refuses_permits_for_its_duration(limiter_factory):
    limiter = limiter_factory()

    limiter.cool_down("conn", 2.5)
    limiter.cool_down("conn", 0.5)  # a shorter one does not cut it short
    refused = limiter.acquire("conn", MODEL, 1)

    assert isinstance(refused, Wait) and refused.reason == "cool_down"
    assert 2.0 < refused.seconds <= 2.5
    assert isinstance(limiter.acquire("other-conn", MODEL, 1), Permit)
    assert limiter.state("conn").cool_down_seconds > 2.0


def test_state_lists_connections_and_defaults_before_learning(limiter_factory):
    limiter = limiter_factory(default_requests=7, default_tokens=700)
    connection = f"conn-{uuid.uuid4().hex[:6]}"
    limiter.acquire(connection, MODEL, 50)

    state = limiter.state(connection)

    assert connection in limiter.connections()
    assert not state.connection.learned
    assert (state.connection.requests_limit, state.connection.tokens_limit) == (7, 700)
    assert (state.connection.requests_used, state.connection.tokens_used) == (1, 50)


def test_answers_without_rate_limit_headers_change_nothing(limiter_factory):
    limiter = limiter_factory()

    limiter.record_response("conn", MODEL, {"content-type": "application/json"})

    assert not limiter.state("conn").connection.learned


@pytest.mark.parametrize(("texts", "expected"), [(("abcd", "abcde"), 3 + 256), (("",), 256)])
def test_tokens_are_estimated_like_openai_counts_them_roughly(texts, expected):
    assert estimate_tokens(*texts) == expected


def test_pacing_spreads_a_windows_budget_over_the_window(limiter_factory):
    # 1,200 RPM paced: at most 20 requests in any second, whatever is left of the minute.
    limiter = limiter_factory(pace=True)
    limiter.record_response("conn", MODEL, sixty_rpm_headers(remaining_requests=1200, rpm=1200))
    assert all(isinstance(limiter.acquire("conn", MODEL, 1), Permit) for _ in range(20))

    refused = limiter.acquire("conn", MODEL, 1)
    assert isinstance(refused, Wait) and refused.reason == "pace"
    assert 0 < refused.seconds <= 1
    # A crowd is given the slots as they free: twenty per second.
    waits = [limiter.acquire("conn", MODEL, 1, waiter=f"exec:{n}").seconds for n in range(24)]
    assert all(w <= 1 for w in waits[:20]) and all(1 < w <= 2 for w in waits[20:])


def test_pacing_lets_a_small_key_send_a_few_at_once(limiter_factory):
    limiter = limiter_factory(pace=True)
    limiter.record_response("conn", MODEL, sixty_rpm_headers(remaining_requests=60, rpm=60))
    assert all(isinstance(limiter.acquire("conn", MODEL, 1), Permit) for _ in range(10))
    assert limiter.acquire("conn", MODEL, 1).reason == "pace"


def test_without_pacing_a_window_can_be_spent_at_once(limiter_factory):
    limiter = limiter_factory(pace=True, default_requests=120)  # not learned yet: no pacing
    assert all(isinstance(limiter.acquire("conn", MODEL, 1), Permit) for _ in range(120))
    assert limiter.acquire("conn", MODEL, 1).reason == "requests"


def test_a_waiter_coming_back_keeps_its_place_in_the_queue(limiter_factory):
    import time

    limiter = limiter_factory(window_seconds=3, margin_seconds=0, default_requests=1)
    assert isinstance(limiter.acquire("conn", MODEL, 1), Permit)
    first = limiter.acquire("conn", MODEL, 1, waiter="exec:1")
    later = [limiter.acquire("conn", MODEL, 1, waiter=f"exec:{n}") for n in range(2, 6)]
    assert first.seconds <= 3 < later[0].seconds

    # exec:1 asks again early: still first in line (not behind the four promised later).
    again = limiter.acquire("conn", MODEL, 1, waiter="exec:1")
    assert isinstance(again, Wait) and again.seconds <= first.seconds
    # Woken past its slot and the grace after it, it has lost that slot (someone took
    # it) and asks as a newcomer would.
    time.sleep(again.seconds + PROMISE_GRACE_SECONDS + 0.05)
    assert isinstance(limiter.acquire("conn", MODEL, 1), Permit)
    assert limiter.acquire("conn", MODEL, 1, waiter="exec:1").seconds > 3


def test_a_slot_that_has_come_is_kept_for_its_waiter_a_moment(limiter_factory):
    import time

    limiter = limiter_factory(window_seconds=2, margin_seconds=0, default_requests=1)
    assert isinstance(limiter.acquire("conn", MODEL, 1), Permit)
    promised = limiter.acquire("conn", MODEL, 1, waiter="exec:1")
    assert isinstance(promised, Wait) and promised.seconds <= 2

    time.sleep(promised.seconds + 0.05)
    # A newcomer asking the instant the slot frees does not take it ...
    newcomer = limiter.acquire("conn", MODEL, 1, waiter="exec:2")
    assert isinstance(newcomer, Wait) and newcomer.seconds > 1
    assert isinstance(limiter.acquire("conn", MODEL, 1), Wait)
    # ... its waiter, a little late, gets it.
    time.sleep(0.1)
    assert isinstance(limiter.acquire("conn", MODEL, 1, waiter="exec:1"), Permit)


def test_only_a_caller_waiting_in_place_is_promised_a_slot(limiter_factory):
    # Learned 1,200 RPM, paced: 20 a second. The second's 20 are taken.
    limiter = limiter_factory(pace=True)
    limiter.record_response("conn", MODEL, sixty_rpm_headers(remaining_requests=1200, rpm=1200))
    assert all(isinstance(limiter.acquire("conn", MODEL, 1), Permit) for _ in range(20))

    # Forty executions that will be put back in the database (they wait nowhere): told
    # when to come back, spread over the next seconds, but promised nothing.
    later = [
        limiter.acquire("conn", MODEL, 1, waiter=f"exec:{n}", promise_within=0) for n in range(40)
    ]
    assert not any(w.promised for w in later)
    seconds = [w.seconds for w in later]
    assert all(w <= 1 for w in seconds[:20]) and all(1 < w <= 2 for w in seconds[20:])

    # So a call thread that asks now and waits in place gets the very next slot: it is
    # not queued behind forty executions that may come back late (their slot unused).
    waiting = limiter.acquire("conn", MODEL, 1, waiter="exec:thread", promise_within=3)
    assert waiting.promised and waiting.seconds <= 1
    # ... and the next one to come back later is told after it and after the forty.
    assert 2 < limiter.acquire("conn", MODEL, 1, waiter="exec:99", promise_within=0).seconds <= 3


def test_a_promise_is_only_made_within_the_callers_wait_and_once_limits_are_learned(
    limiter_factory,
):
    limiter = limiter_factory(window_seconds=10, margin_seconds=0, default_requests=1)
    assert isinstance(limiter.acquire("conn", MODEL, 1), Permit)
    unlearned = limiter.acquire("conn", MODEL, 1, waiter="exec:1", promise_within=60)
    assert not unlearned.promised and not unlearned.learned

    limiter.record_response("conn", MODEL, sixty_rpm_headers(remaining_requests=0, rpm=1))
    too_far = limiter.acquire("conn", MODEL, 1, waiter="exec:2", promise_within=3)
    assert not too_far.promised and too_far.seconds > 3
    near_enough = limiter.acquire("conn", MODEL, 1, waiter="exec:3", promise_within=15)
    assert near_enough.promised


def test_promises_never_outnumber_the_room_left_in_the_window(limiter_factory):
    # 12 requests per 10 s window, paced (at most 10 per 6th of a second): 10 sent now.
    limiter = limiter_factory(window_seconds=10, margin_seconds=0, pace=True)
    limiter.record_response("conn", MODEL, sixty_rpm_headers(remaining_requests=12, rpm=12))
    assert all(isinstance(limiter.acquire("conn", MODEL, 1), Permit) for _ in range(10))

    waits = [
        limiter.acquire("conn", MODEL, 1, waiter=f"exec:{n}", promise_within=60) for n in range(3)
    ]
    # Two more fit in this window: promised the next paced slots. The third is not told
    # a paced slot it could not have (the window would be full): it waits for the window.
    assert all(w.promised for w in waits)
    assert waits[0].seconds <= 0.2 and waits[1].seconds <= 0.2
    assert 9 < waits[2].seconds <= 10
