from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = _("App Marketplace")

    def ready(self) -> None:
        from crm.display import link_describer_register
        from marketplace.registry import app_listing

        def app_link(kwargs, account) -> str:
            listing = app_listing(kwargs["slug"])
            return str(listing.name) if listing else ""

        # A notification's link to a connected app ("needs attention") names the app.
        link_describer_register("marketplace:app_detail", app_link)
