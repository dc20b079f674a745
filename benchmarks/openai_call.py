"""CPU per OpenAI call in a process holding many calls in flight, as the `assistant`
worker does: the typed SDK call against the generic one the Responses engine uses, and
one HTTP pool against the shards of client.py.

    python benchmarks/openai_call.py [--calls 3000] [--threads 250] [--latency-ms 1000]

Starts the simulator (a key without limits), warms one connection per thread, then
times `--calls` calls of `POST /v1/responses` from `--threads` threads for each
variant and prints ONE JSON summary: this process's CPU per call (user + system) and
the simulator's. No Django, no database, no rate limiter: only the SDK and HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port  # noqa: E402  (benchmarks/_common.py)
from _common import process_cpu_seconds as cpu_seconds  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-bench-openai-call-000000000000000000000000001"
BODY = {
    "model": "gpt-4o-mini",
    "instructions": "Turn the US state name into its two-letter code.",
    "store": False,
    "metadata": {"crmflow_workflow": "1"},
}


def typed_call(client: openai.OpenAI, text: str) -> int:
    response = client.responses.with_raw_response.create(input=text, **BODY).parse()
    return response.usage.total_tokens


def generic_call(client: openai.OpenAI, text: str) -> int:
    response = client.post("/responses", body={**BODY, "input": text}, cast_to=httpx2.Response)
    return response.json()["usage"]["total_tokens"]


def measure(
    call, clients: list[openai.OpenAI], calls: int, threads: int, simulator_pid: int
) -> dict:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: call(clients[i % len(clients)], "ohio"), range(threads)))  # warm
        cpu0, sim0, wall0 = time.process_time(), cpu_seconds(simulator_pid), time.perf_counter()
        list(pool.map(lambda i: call(clients[i % len(clients)], f"state {i}"), range(calls)))
        cpu1, sim1, wall1 = time.process_time(), cpu_seconds(simulator_pid), time.perf_counter()
    return {
        "calls_per_second": round(calls / (wall1 - wall0), 1),
        "client_cpu_ms_per_call": round((cpu1 - cpu0) * 1000 / calls, 2),
        "simulator_cpu_ms_per_call": round((sim1 - sim0) * 1000 / calls, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=250)
    parser.add_argument("--latency-ms", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=16, help="clients (HTTP pools) when sharded")
    args = parser.parse_args()

    port = free_port()
    config = Path(tempfile.mkdtemp(prefix="crmflow-openai-call-")) / "simulator.json"
    config.write_text(
        json.dumps(
            {
                "latency": f"fixed:{args.latency_ms}",
                "keys": [{"key": KEY, "name": "bench", "rpm": 100_000_000, "tpm": 100_000_000_000}],
            }
        )
    )
    simulator = subprocess.Popen(
        [sys.executable, "-m", "openai_simulator", "--port", str(port), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_sim/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        limits = httpx2.Limits(max_connections=2000, max_keepalive_connections=2000)

        def clients(count: int) -> list[openai.OpenAI]:
            context = httpx2.create_ssl_context()
            return [
                openai.OpenAI(
                    api_key=KEY,
                    base_url=f"http://127.0.0.1:{port}/v1",
                    max_retries=0,
                    timeout=30,
                    http_client=openai.DefaultHttpxClient(limits=limits, verify=context),
                )
                for _ in range(count)
            ]

        results = {
            "typed_one_pool": measure(
                typed_call, clients(1), args.calls, args.threads, simulator.pid
            ),
            "typed_sharded": measure(
                typed_call, clients(args.shards), args.calls, args.threads, simulator.pid
            ),
            "generic_sharded": measure(
                generic_call, clients(args.shards), args.calls, args.threads, simulator.pid
            ),
        }
    finally:
        simulator.kill()
    print(
        json.dumps(
            {
                "benchmark": "openai_call",
                "cores": os.cpu_count(),
                "calls": args.calls,
                "threads": args.threads,
                "latency_ms": args.latency_ms,
                "shards": args.shards,
                "load_average_1m": round(os.getloadavg()[0], 2),
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
