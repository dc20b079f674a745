"""What the App Marketplace says about Webhooks."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from marketplace.registry import AppListing, AppTab

SLUG = "webhooks"

LISTING = AppListing(
    slug=SLUG,
    name="Webhooks",
    vendor="crmflow",
    category="developer",
    summary=_(
        "Send signed HTTP requests from workflows, and start workflows when another system "
        "posts JSON to a secret URL."
    ),
    description=_(
        "Add the Send a webhook action to a workflow to call any HTTP endpoint with the "
        "record's data and earlier actions' outputs, then use the answer's status and JSON "
        "fields in later actions and branches. Choose Webhook received as a workflow's "
        "trigger to get a secret URL: each JSON request to it finds or creates a record from "
        "the fields you map, then enrolls it."
    ),
    before_you_begin=(
        _(
            "Installing the app creates a signing secret for your account: every outbound "
            "request carries a signature made with it, so receivers can check it came from "
            "crmflow."
        ),
        _("The secret is shown once, right after installing or rolling it. Copy it then."),
        _(
            "Requests to private, loopback and link-local addresses are refused: webhooks "
            "can only reach public servers."
        ),
        _("Anyone who knows a workflow's webhook URL can start that workflow: keep it secret."),
    ),
    pricing_note=_("Free to install."),
    icon="marketplace_webhooks/webhooks.svg",
    connect_url_name="marketplace:webhooks_connect",
    reconnect_url_name="marketplace:webhooks_roll",
    tabs=(AppTab("signatures", _("Signatures"), "marketplace:webhooks_signatures"),),
    urls="marketplace.integrations.webhooks.urls",
    secret_label=_("Signing secret"),
    links=(
        # The signature scheme crmflow's follows, for whoever writes a receiver.
        (_("How Stripe signs webhooks"), "https://docs.stripe.com/webhooks#verify-manually"),
    ),
)
