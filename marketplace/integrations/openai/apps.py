from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpenAIIntegrationConfig(AppConfig):
    name = "marketplace.integrations.openai"
    label = "marketplace_openai"
    verbose_name = _("OpenAI integration")

    def ready(self) -> None:
        from crm.signals import demo_seeded
        from marketplace.integrations.openai.action import AskOpenAIAssistant
        from marketplace.integrations.openai.builder import SECTION
        from marketplace.integrations.openai.demo import demo_seeded_receiver
        from marketplace.integrations.openai.health import limiter_section
        from marketplace.integrations.openai.listing import LISTING
        from marketplace.integrations.openai.metrics import openai_metrics
        from marketplace.integrations.openai.usage import workflows_using_openai
        from marketplace.integrations.openai.workflow_templates import TEMPLATES
        from marketplace.registry import app_register, usage_provider_register
        from workflows.registry import (
            health_provider_register,
            metrics_provider_register,
            register,
            section_register,
            template_register,
        )

        app_register(LISTING)
        section_register(SECTION)
        health_provider_register(limiter_section)
        metrics_provider_register(openai_metrics)
        register(AskOpenAIAssistant)
        for template in TEMPLATES:
            template_register(template)
        usage_provider_register(LISTING.slug, workflows_using_openai)
        demo_seeded.connect(demo_seeded_receiver, dispatch_uid="openai-demo")
