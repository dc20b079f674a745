from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EmailConfig(AppConfig):
    name = "marketplace.integrations.email"
    label = "marketplace_email"
    verbose_name = _("Email to contacts")

    def ready(self) -> None:
        """Everything the package adds, through the seams (docs/email.md)."""
        from marketplace.integrations.email.action import SendEmail
        from marketplace.registry import urls_register
        from workflows.registry import register

        register(SendEmail)
        urls_register("marketplace.integrations.email.urls")
