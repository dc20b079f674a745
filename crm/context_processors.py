from django.http import HttpRequest


def shell(request: HttpRequest) -> dict:
    """What the top bar and the settings menu need on every page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "account", None) is None:
        return {}
    return {
        "current_account": user.account,
        "nav": {
            "can_manage_apps": user.can_manage_apps,
            "can_edit_workflows": user.can_edit_workflows,
        },
    }
