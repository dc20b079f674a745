"""Run the simulator inside a test process.

    from openai_simulator.testing import running_simulator

    with running_simulator({"keys": [{"key": "sk-test-1", "name": "t", "rpm": 5}]}) as sim:
        client = sim.client()                 # openai.OpenAI bound to the simulator
        sim.configure(faults=[{"path_prefix": "/v1/responses", "error_500": 1.0, "times": 1}])
        ...
        assert len(sim.requests(key="t")) == 3

The server is uvicorn on a free 127.0.0.1 port in a daemon thread; `start` returns
once it answers /_sim/health.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

from .app import create_app
from .config import SimulatorConfig, as_config

# Local calls must never go through a proxy configured in the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RunningSimulator:
    def __init__(
        self,
        config: SimulatorConfig | dict | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        import uvicorn

        self.config = as_config(config)
        self.app = create_app(self.config)
        self.simulator = self.app.state.simulator  # in-process state, for white-box debugging only
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.root_url = f"http://{self.host}:{self.port}"
        self.base_url = f"{self.root_url}/v1"
        self.admin_url = f"{self.root_url}/_sim"
        self.api_key = next((k.key for k in self.config.keys if k.kind == "valid"), None)
        self._http_client = None  # shared by every SDK client: building one costs ~0.1 s
        server_config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(server_config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="openai-simulator",
            daemon=True,
        )

    def start(self, timeout: float = 10.0) -> RunningSimulator:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError("the OpenAI simulator thread stopped while starting")
            if self._server.started:
                try:
                    self._admin("GET", "/health")
                    return self
                except OSError:
                    pass
            time.sleep(0.01)
        self.stop()
        raise TimeoutError(f"the OpenAI simulator did not start within {timeout}s")

    def stop(self) -> None:
        if self._http_client is not None:
            self._http_client.close()
        self.simulator.stopping = True  # releases requests held by a "hang" fault
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()

    def _admin(self, method: str, path: str, body: dict | None = None, query: dict | None = None):
        url = f"{self.admin_url}{path}"
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            url, data=data, method=method, headers={"content-type": "application/json"}
        )
        with _opener.open(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def configure(self, **patch) -> dict:
        """Change the running server: latency, faults, sunset, seed, hang_seconds, keys, assistants."""
        return self._admin("POST", "/config", patch)

    def current_config(self) -> dict:
        return self._admin("GET", "/config")

    def reset(self) -> dict:
        """Back to the start config; clears threads, responses, rate windows and the log."""
        return self._admin("POST", "/reset")

    def requests(self, **filters) -> list[dict]:
        """Logged requests; filters: key (name), path_prefix, method, status, since, limit."""
        return self._admin("GET", "/requests", query=filters)["data"]

    def clear_requests(self) -> None:
        self._admin("DELETE", "/requests")

    def client(self, api_key: str | None = None, **kwargs):
        """An `openai.OpenAI` client for this server (no retries unless asked).

        All clients share one HTTP connection pool, closed by `stop()`; do not call
        `close()` on them (pass your own `http_client=` if you need to)."""
        from openai import DefaultHttpxClient, OpenAI

        if "http_client" not in kwargs:
            if self._http_client is None:
                # trust_env=False: a proxy from the environment must not see local calls.
                self._http_client = DefaultHttpxClient(trust_env=False)
            kwargs["http_client"] = self._http_client
        kwargs.setdefault("max_retries", 0)
        return OpenAI(base_url=self.base_url, api_key=api_key or self.api_key, **kwargs)


def start_simulator(
    config: SimulatorConfig | dict | str | None = None, **kwargs
) -> RunningSimulator:
    return RunningSimulator(config, **kwargs).start()


@contextmanager
def running_simulator(
    config: SimulatorConfig | dict | str | None = None, **kwargs
) -> Iterator[RunningSimulator]:
    simulator = start_simulator(config, **kwargs)
    try:
        yield simulator
    finally:
        simulator.stop()


def run_in_thread(config: SimulatorConfig | dict | str | None = None):
    """(base_url, admin_url, stop) for callers that want plain values."""
    simulator = start_simulator(config)
    return simulator.base_url, simulator.admin_url, simulator.stop
