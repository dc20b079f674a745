from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

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


# A platform operator removes the authenticator of a user who lost both phone and
# recovery codes; the user then sets up a new one. django-otp's own admin also shows the
# secret and a QR code on pages addressed by unbounded integers: not here.
admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class AuthenticatorAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "last_used_at"]
    search_fields = ["user__username"]
    fields = ["user", "name", "confirmed", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False
