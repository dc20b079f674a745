from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "marketplace.integrations.webhooks"
    label = "marketplace_webhooks"
    verbose_name = _("Webhooks integration")

    def ready(self) -> None:
        """Everything the app adds, through the seams (docs/webhooks.md)."""
        from marketplace.integrations.webhooks.action import SendWebhook
        from marketplace.integrations.webhooks.builder import SECTION
        from marketplace.integrations.webhooks.listing import LISTING
        from marketplace.integrations.webhooks.trigger import WebhookReceived
        from marketplace.integrations.webhooks.usage import workflows_using_webhooks
        from marketplace.registry import app_register, usage_provider_register
        from workflows.registry import register, section_register, trigger_register

        app_register(LISTING)
        section_register(SECTION)
        register(SendWebhook)
        trigger_register(WebhookReceived)
        usage_provider_register(LISTING.slug, workflows_using_webhooks)
