"""How exact and how fast the OpenAI rate limiter is. Prints one JSON summary.

    python benchmarks/ratelimit.py [--redis-url URL] [--processes 4] [--limit 600]
        [--window 2] [--seconds 10] [--simulator-rpm 0] [--simulator-seconds 65] [--threads 4]
        [--simulator-latency-ms 0]

Part 1 (always): `--processes` processes call `acquire` in a tight loop for `--seconds`
against a `--limit` per `--window` seconds: acquire calls/s and latency, permits, the
most permits seen in any sliding window (must be <= limit) and the utilisation: the
mean number of permits in a sliding window over the run / limit (target >= 0.95).

Part 2 (with --simulator-rpm N): the simulator in its own process with a key limited
to N RPM; `--processes` × `--threads` workers loop acquire → ResponsesEngine →
record_response for `--simulator-seconds`. The simulator's request log counts the
requests in every sliding 60 s window and the 429s; the share of the limit used is
the mean number of requests in a sliding 60 s window (one every 100 ms, wholly inside
the run) / N. `--simulator-latency-ms 1000` makes each answer take what OpenAI takes,
so `--processes` × `--threads` must exceed N/60 to keep the key busy.

Without --redis-url (or REDIS_URL) an embedded Redis is started.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from config.embedded_redis import free_port, start_redis  # noqa: E402 - after sys.path
from marketplace.integrations.openai.limiter.policy import (  # noqa: E402 - after sys.path
    request_leaving,
    sending,
)
from marketplace.integrations.openai.limiter.window import (  # noqa: E402 - after sys.path
    Permit,
    RateLimiter,
    estimate_tokens,
)

BENCH_KEY = "sk-bench-ratelimit-000000000000000000000000bench"
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def most_in_window(times_ms: list[float], window_ms: float) -> int:
    """The largest number of events in any half-open window [t, t + window)."""
    best, start = 0, 0
    for end, t in enumerate(times_ms):
        while t - times_ms[start] >= window_ms:
            start += 1
        best = max(best, end - start + 1)
    return best


def window_occupancy(
    times_ms: list[float], window_ms: float, step_ms: float = 10.0
) -> tuple[float, int]:
    """Mean and least number of events in windows [t, t + window) for t every step_ms
    over the run (windows that end after the last event are left out)."""
    import bisect

    counts = []
    t = times_ms[0]
    while t + window_ms <= times_ms[-1]:
        counts.append(bisect.bisect_left(times_ms, t + window_ms) - bisect.bisect_left(times_ms, t))
        t += step_ms
    return (statistics.mean(counts), min(counts)) if counts else (0.0, 0)


def hammer(redis_url: str, options: dict, connection: str, seconds: float, start: float) -> dict:
    limiter = RateLimiter.from_url(redis_url, **options)
    time.sleep(max(0.0, start - time.time()))
    granted, latencies, attempts = [], [], 0
    end = time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        got = limiter.acquire(connection, "gpt-4o-mini", 1)
        latencies.append(time.perf_counter() - t)
        attempts += 1
        if isinstance(got, Permit):
            granted.append(got.granted_at_ms)
    return {"granted": granted, "latencies": latencies, "attempts": attempts}


def limiter_part(redis_url: str, args) -> dict:
    prefix = f"bench:oairt:{uuid.uuid4().hex}"
    options = {
        "window_seconds": args.window,
        "margin_seconds": args.margin,
        "default_requests": args.limit,
        "default_tokens": 10**9,
        "prefix": prefix,
    }
    start = time.time() + 0.5
    with multiprocessing.get_context("fork").Pool(args.processes) as pool:
        results = pool.starmap(
            hammer, [(redis_url, options, "bench", args.seconds, start)] * args.processes
        )
    granted = sorted(t for r in results for t in r["granted"])
    latencies = sorted(x for r in results for x in r["latencies"])
    attempts = sum(r["attempts"] for r in results)
    window_ms = (args.window + args.margin) * 1000
    mean_in_window, least_in_window = window_occupancy(granted, window_ms)
    cleanup = RateLimiter.from_url(redis_url, prefix=prefix)
    for key in cleanup.redis.scan_iter(match=f"{prefix}:*"):
        cleanup.redis.delete(key)
    return {
        "processes": args.processes,
        "limit": args.limit,
        "window_s": args.window,
        "margin_s": args.margin,
        "seconds": args.seconds,
        "acquire_calls": attempts,
        "acquire_calls_per_s": round(attempts / args.seconds),
        "acquire_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "acquire_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "permits": len(granted),
        "most_permits_in_any_window": most_in_window(granted, window_ms),
        "most_permits_in_any_window_of_exactly_window_s": most_in_window(
            granted, args.window * 1000
        ),
        # Under saturating demand every window should hold `limit` permits.
        "mean_permits_per_window": round(mean_in_window, 1),
        "least_permits_in_a_window": least_in_window,
        "utilisation": round(mean_in_window / args.limit, 4),
    }


def engine_worker(
    base_url: str, redis_url: str, prefix: str, threads: int, start: float, seconds: float
) -> dict:
    import openai

    from marketplace.integrations.openai.engines import ResponsesEngine
    from marketplace.integrations.openai.errors import AssistantError
    from marketplace.integrations.openai.specs import AssistantRequest, AssistantSpec

    # As the app's client (client.py): requests are counted from when they leave.
    client = openai.OpenAI(
        base_url=base_url,
        api_key=BENCH_KEY,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(event_hooks={"request": [request_leaving]}),
    )
    limiter = RateLimiter.from_url(redis_url, prefix=prefix)
    request = AssistantRequest(
        AssistantSpec(model="gpt-4o-mini", instructions="Turn the state into its code."), "ca"
    )
    estimate = estimate_tokens(request.assistant.instructions, request.prompt, output_allowance=16)
    counts = {"ok": 0, "errors": 0, "waits": 0}
    lock = threading.Lock()

    def loop() -> None:
        end = start + seconds
        while time.time() < end:
            got = limiter.acquire("bench", "gpt-4o-mini", estimate)
            if not isinstance(got, Permit):
                with lock:
                    counts["waits"] += 1
                time.sleep(min(got.seconds, 0.25, max(0.0, end - time.time())))
                continue
            try:
                with sending(limiter, got):
                    result = ResponsesEngine().run(client, request, deadline=10)
                limiter.record_response(
                    "bench",
                    "gpt-4o-mini",
                    result.rate_limit_headers,
                    result.usage.total_tokens,
                    got,
                )
                key = "ok"
            except AssistantError as error:
                limiter.record_response("bench", "gpt-4o-mini", error.rate_limit_headers, 0, got)
                if error.retry_after:
                    limiter.cool_down("bench", error.retry_after)
                key = "errors"
            with lock:
                counts[key] += 1

    time.sleep(max(0.0, start - time.time()))
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return counts


def simulator_part(redis_url: str, args) -> dict:
    config = {
        "seed": 1,
        "latency": f"fixed:{args.simulator_latency_ms}",
        "request_log_size": 200_000,
        "keys": [{"key": BENCH_KEY, "name": "bench", "rpm": args.simulator_rpm, "tpm": 10**9}],
    }
    config_path = Path(tempfile.mkdtemp(prefix="oairt-bench-")) / "sim.json"
    config_path.write_text(json.dumps(config))
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openai_simulator",
            "--port",
            str(port),
            "--config",
            str(config_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        for _ in range(400):
            try:
                _opener.open(f"http://127.0.0.1:{port}/_sim/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        prefix = f"bench:oairt:{uuid.uuid4().hex}"
        start = time.time() + 2
        with multiprocessing.get_context("fork").Pool(args.processes) as pool:
            counts = pool.starmap(
                engine_worker,
                [
                    (
                        f"http://127.0.0.1:{port}/v1",
                        redis_url,
                        prefix,
                        args.threads,
                        start,
                        args.simulator_seconds,
                    )
                ]
                * args.processes,
            )
        rows = json.loads(
            _opener.open(f"http://127.0.0.1:{port}/_sim/requests?key=bench", timeout=30).read()
        )["data"]
    finally:
        server.terminate()
        server.wait(10)
    times = sorted(r["time"] * 1000 for r in rows)
    first_minute = sum(1 for t in times if times and t < times[0] + 60_000)
    # Every 60 s window wholly inside the run (one every 100 ms): how full it was.
    mean_per_minute, least_per_minute = (
        window_occupancy(times, 60_000, step_ms=100.0) if times else (0, 0)
    )
    return {
        "rpm_limit": args.simulator_rpm,
        "workers": f"{args.processes} processes x {args.threads} threads",
        "seconds": args.simulator_seconds,
        "requests": len(rows),
        "requests_429": sum(1 for r in rows if r["status"] == 429),
        "requests_other_errors": sum(1 for r in rows if r["status"] not in (200, 429)),
        "most_requests_in_any_60s_window": most_in_window(times, 60_000),
        "first_minute_utilisation": round(first_minute / args.simulator_rpm, 4),
        "simulator_latency_ms": args.simulator_latency_ms,
        # The share of the limit used: mean requests per sliding 60 s window / RPM.
        "mean_requests_per_60s_window": round(mean_per_minute, 1),
        "least_requests_in_a_60s_window": least_per_minute,
        "limit_used_percent": round(mean_per_minute / args.simulator_rpm * 100, 1),
        "requests_over_limit": max(0, most_in_window(times, 60_000) - args.simulator_rpm),
        "limiter_waits": sum(c["waits"] for c in counts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--margin", type=float, default=0.05)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--simulator-rpm", type=int, default=0)
    parser.add_argument("--simulator-seconds", type=float, default=65.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--simulator-latency-ms",
        type=int,
        default=0,
        help="the simulator's fixed answer time (1000: what OpenAI takes)",
    )
    args = parser.parse_args()

    redis_process = None
    redis_url = args.redis_url
    if not redis_url:
        port = free_port()
        redis_process = start_redis(port, Path(tempfile.mkdtemp(prefix="oairt-bench-redis-")))
        redis_url = f"redis://127.0.0.1:{port}/0"
    try:
        summary = {
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "limiter": limiter_part(redis_url, args),
        }
        if args.simulator_rpm:
            summary["simulator"] = simulator_part(redis_url, args)
    finally:
        if redis_process is not None:
            redis_process.terminate()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
