"""What the App Marketplace says about OpenAI (wording from the seed article), and the
names the integration goes by: its app slug and its action's key (what workflow graphs
store), which every other module of the package may use."""

from django.utils.translation import gettext_lazy as _

from marketplace.registry import AppListing, AppTab

SLUG = "openai"
ACTION_KEY = "ask_openai_assistant"

LISTING = AppListing(
    slug=SLUG,
    name="OpenAI",
    vendor="OpenAI",
    category="ai",
    summary=_("Use your own OpenAI account in workflows with the Ask OpenAI assistant action."),
    description=_(
        "Connect OpenAI to crmflow to use your own OpenAI account when you use the "
        "AI-powered workflow action Ask OpenAI assistant. Then use the action's response "
        "in other workflow actions, such as sending notifications or creating tasks: "
        "summarise enrolled records, qualify visitors, standardise property values or "
        "draft sales emails."
    ),
    before_you_begin=(
        _("Connecting your OpenAI account lets you use your own OpenAI subscription."),
        _("OpenAI bills you directly for your API usage."),
        _(
            "The model, reasoning effort and temperature you select can change the "
            "pay-as-you-go price."
        ),
        _("You can connect only one OpenAI account to each crmflow account."),
        _(
            "OpenAI admins choose which models are available to workflow builders and "
            "set usage limits."
        ),
    ),
    pricing_note=_("Free to install. OpenAI bills you directly for your API usage."),
    icon="marketplace/openai.svg",
    connect_url_name="marketplace:openai_connect",
    reconnect_url_name="marketplace:openai_reconnect",
    tabs=(
        AppTab("models", _("Model access"), "marketplace:openai_models"),
        AppTab("assistants", _("Assistants"), "marketplace:openai_assistants"),
        AppTab("usage", _("Usage"), "marketplace:openai_usage"),
    ),
    urls="marketplace.integrations.openai.urls",
    overview_template="marketplace_openai/overview_facts.html",
    links=(
        (_("OpenAI API pricing"), "https://openai.com/api/pricing/"),
        (_("Get an API key"), "https://platform.openai.com/api-keys"),
    ),
)
