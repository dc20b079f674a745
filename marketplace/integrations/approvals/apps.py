from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    name = "marketplace.integrations.approvals"
    label = "marketplace_approvals"
    verbose_name = _("Approvals")

    def ready(self) -> None:
        """Everything the package adds, through the seams (docs/approvals.md)."""
        from marketplace.integrations.approvals.action import WaitForApproval
        from marketplace.registry import MenuLink, menu_link_register, urls_register
        from workflows.registry import register

        register(WaitForApproval)
        urls_register("marketplace.integrations.approvals.urls")
        menu_link_register(MenuLink(_("Approvals"), "marketplace:approvals_inbox"))
