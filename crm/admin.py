from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from crm.models import Account, User


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(User)
class CrmUserAdmin(UserAdmin):
    list_display = ["username", "email", "account", "role", "is_active"]
    list_filter = ["role", "account"]
    fieldsets = [
        *UserAdmin.fieldsets,
        ("crmflow", {"fields": ["account", "role"]}),
    ]

    def save_model(self, request, obj, form, change):
        # The audit log's role-change row names who made it (crm/receivers.py).
        obj.audit_request = request
        super().save_model(request, obj, form, change)
