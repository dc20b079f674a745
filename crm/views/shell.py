"""The shell pages: home redirect, the general settings, the language picked in the menu."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import check_for_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language

from crm.access import account_for, require_account, super_admin_required
from crm.forms import TimeZoneForm
from crm.models import Account, Role, User


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The user menu's Language: Django's set_language (the cookie for the pages), and
    the signed-in user's choice kept on them, for what crmflow writes to them when no
    page is open (notification emails)."""
    response = set_language(request)
    language = request.POST.get("language", "")
    if (
        request.user.is_authenticated
        and language in dict(settings.LANGUAGES)
        and check_for_language(language)
    ):
        User.objects.filter(pk=request.user.pk).update(language=language)
    return response


@require_GET
@require_account
def home(request: HttpRequest) -> HttpResponse:
    return redirect("crm:record_list", object_type="contacts")


@require_http_methods(["GET", "POST"])
@require_account
def settings_home(request: HttpRequest) -> HttpResponse:
    """GET: the user's preferences. POST `save`: their time zone (and a super admin's
    account time zone); dates follow from the next page on (crm/timezones.py)."""
    account = account_for(request)
    user = request.user
    form = TimeZoneForm(request.POST or None, user=user, default=settings.TIME_ZONE)
    if request.method == "POST" and form.is_valid():
        user.time_zone = form.cleaned_data["time_zone"]
        user.save(update_fields=["time_zone"])
        if "account_time_zone" in form.cleaned_data:
            account.time_zone = form.cleaned_data["account_time_zone"]
            account.save(update_fields=["time_zone"])
        messages.success(request, _("Preferences saved."))
        return redirect("crm:settings_home")
    return render(
        request,
        "crm/settings_home.html",
        {"account": account, "settings_section": "preferences", "form": form},
    )


# Roles a super admin may allow to do more; super admins may always.
OTHER_ROLES = [(role.value, role.label) for role in Role if role != Role.SUPER_ADMIN]


class RolePermissionsForm(forms.ModelForm):
    """What roles other than super admin may do (super admins always may)."""

    bulk_delete_roles = forms.MultipleChoiceField(
        label=gettext_lazy("Delete records in bulk"),
        choices=OTHER_ROLES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    import_roles = forms.MultipleChoiceField(
        label=gettext_lazy("Import CSV files"),
        choices=OTHER_ROLES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Account
        fields = ["bulk_delete_roles", "import_roles"]


@require_http_methods(["GET", "POST"])
@super_admin_required
def settings_users(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    form = RolePermissionsForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Permissions saved."))
        return redirect("crm:settings_users")
    users = account.users.order_by("username")
    return render(
        request,
        "crm/settings_users.html",
        {"users": users, "form": form, "settings_section": "users"},
    )
