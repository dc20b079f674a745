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
