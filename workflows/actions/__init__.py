"""Built-in actions; importing this package registers them (WorkflowsConfig.ready)."""

from workflows.actions import control, notify, records  # noqa: F401
