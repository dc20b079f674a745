from tests.smtp_server import smtp_server  # noqa: F401  (the fixture)
from tests.workflows import probe_actions  # noqa: F401  (registers test_probe)
