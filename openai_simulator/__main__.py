"""`python -m openai_simulator --port 8765 [--host 127.0.0.1] [--config FILE] [--latency SPEC] [--sunset]`"""

from __future__ import annotations

import argparse
import sys

from .config import as_config
from .faults import LatencySpec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m openai_simulator", description="OpenAI-compatible simulator"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="bind address (default 127.0.0.1: admin has no auth)"
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--config", help="JSON or YAML config file (default: built-in demo config)")
    parser.add_argument(
        "--latency", help="fixed:MS | uniform:MIN:MAX | lognormal:MEDIAN:SIGMA (ms)"
    )
    parser.add_argument(
        "--sunset", action="store_true", help="answer /v1/assistants* and /v1/threads* with 404"
    )
    parser.add_argument(
        "--bare",
        action="store_true",
        help="a bare OpenAI-compatible server: no rate-limit headers, a key is optional",
    )
    parser.add_argument("--seed", type=int, help="seed for latency and fault randomness")
    parser.add_argument(
        "--hang-seconds", type=float, help="how long a 'hang' fault holds the request"
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from .app import create_app

    args = parse_args(argv)
    config = as_config(args.config)
    if args.latency:
        config.latency = LatencySpec.from_value(args.latency)
    if args.sunset:
        config.sunset = True
    if args.bare:
        config.bare = True
    if args.seed is not None:
        config.seed = args.seed
    if args.hang_seconds is not None:
        config.hang_seconds = args.hang_seconds
    app = create_app(config)
    demo_key = next((k.key for k in config.keys if k.kind == "valid"), "(no valid key configured)")
    base = f"http://{args.host}:{args.port}"
    print(f"OpenAI simulator on {base}/v1  key: {demo_key}  admin: {base}/_sim/config", flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    sys.exit(main())
