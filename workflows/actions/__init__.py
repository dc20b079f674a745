"""Built-in actions; importing this package registers them (WorkflowsConfig.ready)."""

from workflows.actions import control, records, notify  # noqa: F401
