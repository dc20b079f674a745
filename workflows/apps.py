from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = _("Workflows")

    def ready(self) -> None:
        # Registers built-in actions, subscribes receivers, starts worker heartbeats.
        from workflows import actions, receivers, timeline  # noqa: F401
        from workflows.engine import health, heartbeat  # noqa: F401
