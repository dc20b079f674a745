"""Read-only views for platform operators: never the key, only its masked form."""

from django.contrib import admin

from marketplace.models import AppLogEntry, Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["account", "app", "status", "secret_mask", "connected_at"]
    list_filter = ["app", "status"]
    exclude = ["encrypted_secret"]
    readonly_fields = [
        field.name for field in Connection._meta.fields if field.name != "encrypted_secret"
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AppLogEntry)
class AppLogEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "account", "connection", "event", "actor"]
    list_filter = ["event"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
