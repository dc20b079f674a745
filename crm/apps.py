from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        from django.urls import register_converter

        from crm import receivers  # noqa: F401  (connects the signal receivers)
        from crm.ids import IdConverter

        # `<id:pk>` in every URL: ids that fit the database, a 404 beyond.
        register_converter(IdConverter, "id")
