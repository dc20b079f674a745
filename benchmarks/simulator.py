"""Throughput, CPU per request and rate-limiter accuracy of the OpenAI simulator.

    python benchmarks/simulator.py [--duration 15] [--concurrency 50]

Starts the simulator as a separate process pinned to CPU 0 (taskset), pins this
client to the other CPU, and drives it over keep-alive HTTP/1.1 connections on
127.0.0.1 with a minimal asyncio client (a full HTTP client library costs more CPU
per request than the server does, and would measure itself). Prints ONE JSON summary.

`server_cpu_ms_per_request` (the server process's user+system CPU over the requests it
answered) does not depend on what else runs on the machine; requests per second does,
so the summary also gives the load average before and after. Targets: at most 0.5 ms
of server CPU per `POST /v1/responses` with request validation on, and 1,500 requests/s
when the server has its core (`server_cpu_percent` near 100).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port  # noqa: E402  (benchmarks/_common.py)
from _common import process_cpu_seconds as cpu_seconds  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_KEY = "sk-bench-throughput-00000000000000000000000001"
LIMITED_KEY = "sk-bench-limited-0000000000000000000000000600"
LIMITED_RPM = 600
RESPONSES_BODY = json.dumps(
    {
        "model": "gpt-4o-mini",
        "instructions": "Convert the US state to its two-letter code.",
        "input": "california",
    }
).encode()
# What the product's Responses engine sends for an Ask step with output fields.
STRUCTURED_BODY = json.dumps(
    {
        "model": "gpt-4o-mini",
        "input": "We have budget and need pricing this quarter.",
        "store": False,
        "instructions": "Rate the lead as HOT, WARM or COLD and say why.",
        "temperature": 0.2,
        "text": {
            "format": {
                "type": "json_schema",
                "name": "lead_rating",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {
                        "rating": {"type": "string", "enum": ["HOT", "WARM", "COLD"]},
                        "reason": {"type": "string"},
                    },
                    "required": ["rating", "reason"],
                    "additionalProperties": False,
                },
            }
        },
        "metadata": {"workflow": "42", "enrollment": "1337"},
    }
).encode()


def start_server(port: int, config_path: str) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable,
        "-m",
        "openai_simulator",
        "--port",
        str(port),
        "--config",
        config_path,
    ]
    pinning = "none"
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        command = ["taskset", "-c", "0", *command]
        pinning = "server on CPU 0 (taskset), client on the other CPUs"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for _ in range(200):
        try:
            opener.open(f"http://127.0.0.1:{port}/_sim/health", timeout=1).read()
            return process, pinning
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("simulator did not start")


def build_request(method: str, path: str, key: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def worker(port: int, request: bytes, stop_at: float, statuses: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def hammer(port: int, request: bytes, seconds: float, concurrency: int) -> tuple[dict, float]:
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(worker(port, request, stop_at, statuses) for _ in range(concurrency)))
    return statuses, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--duration", type=float, default=15.0, help="seconds of throughput load, all loads"
    )
    parser.add_argument(
        "--limiter-seconds", type=float, default=5.0, help="seconds hammering the rpm=600 key"
    )
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()

    config = {
        "latency": "fixed:0",
        "keys": [
            {"key": BENCH_KEY, "name": "bench", "rpm": 100_000_000, "tpm": 10_000_000_000},
            {"key": LIMITED_KEY, "name": "limited", "rpm": LIMITED_RPM, "tpm": 10_000_000_000},
        ],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    port = free_port()
    server, pinning = start_server(port, handle.name)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, set(range(1, os.cpu_count())))
    try:
        # Warm up (imports, first allocations, caches) before measuring.
        for path, body in (("/v1/models", b""), ("/v1/responses", STRUCTURED_BODY)):
            method = "POST" if body else "GET"
            warm_up = build_request(method, path, BENCH_KEY, body)
            asyncio.run(hammer(port, warm_up, 0.5, args.concurrency))
        load_before = os.getloadavg()
        results = {}
        loads = (
            ("responses_create", build_request("POST", "/v1/responses", BENCH_KEY, RESPONSES_BODY)),
            (
                "responses_structured",
                build_request("POST", "/v1/responses", BENCH_KEY, STRUCTURED_BODY),
            ),
            ("models_list", build_request("GET", "/v1/models", BENCH_KEY)),
        )
        for name, request in loads:
            cpu_before = cpu_seconds(server.pid)
            statuses, elapsed = asyncio.run(
                hammer(port, request, args.duration / len(loads), args.concurrency)
            )
            server_cpu = cpu_seconds(server.pid) - cpu_before
            total = sum(statuses.values())
            results[name] = {
                "requests": total,
                "seconds": round(elapsed, 2),
                "requests_per_second": round(total / elapsed),
                "statuses": {str(k): v for k, v in statuses.items()},
                # Below ~95 % the server did not get its core to itself (other load on
                # CPU 0, or the client could not keep it busy).
                "server_cpu_percent": round(100 * server_cpu / elapsed),
                "server_cpu_ms_per_request": round(1000 * server_cpu / total, 3) if total else None,
                "requests_per_server_cpu_second": round(total / server_cpu) if server_cpu else None,
            }
        limited = build_request("POST", "/v1/responses", LIMITED_KEY, RESPONSES_BODY)
        statuses, elapsed = asyncio.run(
            hammer(port, limited, args.limiter_seconds, args.concurrency)
        )
        admitted = statuses.get(200, 0)
        # A full bucket of LIMITED_RPM, then LIMITED_RPM / 60 more each second.
        expected = LIMITED_RPM + LIMITED_RPM / 60 * elapsed
        responses = [r for n, r in results.items() if n.startswith("responses")]
        summary = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "pinning": pinning,
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            },
            "concurrency": args.concurrency,
            "throughput": results,
            "targets": {
                "server_cpu_ms_per_request_max": 0.5,
                "requests_per_second_min": 1500,
            },
            "cpu_target_met": all(r["server_cpu_ms_per_request"] <= 0.5 for r in responses),
            "throughput_target_met": all(r["requests_per_second"] >= 1500 for r in responses),
            "rate_limiter": {
                "rpm_limit": LIMITED_RPM,
                "model": "bucket of rpm, refilled at rpm/60 per second",
                "hammered_seconds": round(elapsed, 2),
                "attempts": sum(statuses.values()),
                "admitted": admitted,
                "expected_by_refill": round(expected, 1),
                "rejected_429": statuses.get(429, 0),
                "admitted_over_expected": round(admitted / expected, 4),
            },
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
        os.unlink(handle.name)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
