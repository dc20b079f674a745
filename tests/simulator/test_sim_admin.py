import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from openai_simulator.config import DEMO_KEY, load_config_file

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_request_log_can_be_filtered_and_cleared(simulator, openai_client, keys):
    openai_client.models.list()
    openai_client.responses.create(model="gpt-4o-mini", input="hello")
    simulator.client(keys.narrow).models.list()
    rows = simulator.requests(key="demo")
    assert [(r["method"], r["path"], r["status"]) for r in rows] == [
        ("GET", "/v1/models", 200),
        ("POST", "/v1/responses", 200),
    ]
    assert rows[1]["model"] == "gpt-4o-mini" and rows[1]["tokens"] > 0
    assert len(simulator.requests(path_prefix="/v1/models")) == 2
    simulator.clear_requests()
    assert simulator.requests() == []


def test_keys_can_be_added_at_run_time(simulator):
    simulator.configure(
        keys=[{"key": "sk-test-runtime-000000000000000000000000rt01", "name": "runtime", "rpm": 1}]
    )
    client = simulator.client("sk-test-runtime-000000000000000000000000rt01")
    assert client.models.list().data
    simulator.configure(keys=[{"name": "runtime", "kind": "revoked"}])
    import openai

    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_a_yaml_config_file_is_loaded(tmp_path):
    path = tmp_path / "sim.yaml"
    path.write_text(
        "latency: uniform:10:20\nkeys:\n  - key: sk-yaml-000000000000000000000001\n    name: yaml\n    rpm: 7\n"
    )
    config = load_config_file(path)
    assert config.keys[0].rpm == 7 and config.latency.kind == "uniform"
    assert any(
        a.name == "Lead qualifier" for a in config.assistants
    )  # missing sections use demo defaults


def test_the_command_line_prints_the_url_and_the_demo_key():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openai_simulator",
            "--port",
            str(port),
            "--sunset",
            "--latency",
            "fixed:5",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1" in line and DEMO_KEY in line
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for _ in range(100):
            try:
                with opener.open(f"http://127.0.0.1:{port}/_sim/config", timeout=1) as response:
                    config = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.05)
        assert config["sunset"] is True and config["latency"]["ms"] == 5
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
