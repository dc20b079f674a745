from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import db, logs

        logs.celery_signals_connect()
        db.celery_connections_keep()
