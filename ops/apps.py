from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import db, logs  # noqa: F401  (db: its connection_created receiver)

        logs.celery_signals_connect()
