import openai

from openai_simulator.config import DEMO_KEY
from openai_simulator.testing import run_in_thread


def test_run_in_thread_gives_urls_and_a_stop_function():
    base_url, admin_url, stop = run_in_thread({"latency": "fixed:0"})
    try:
        with openai.OpenAI(base_url=base_url, api_key=DEMO_KEY, max_retries=0) as client:
            assert client.responses.create(model="gpt-4o-mini", input="hello").status == "completed"
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        assert admin_url == base_url[: -len("/v1")] + "/_sim"
    finally:
        stop()
