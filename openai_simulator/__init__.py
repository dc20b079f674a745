"""crmflow's OpenAI simulator: a local OpenAI-compatible HTTP server for tests and demos.

See docs/simulator.md. Not a Django app; it must never import Django.
"""

from .app import create_app
from .config import DEMO_KEY, SimulatorConfig, config_from_mapping, load_config_file

__all__ = ["DEMO_KEY", "SimulatorConfig", "config_from_mapping", "create_app", "load_config_file"]
