from typing import Any

from django.http import HttpRequest


def health_banner(request: HttpRequest) -> dict[str, Any]:
    """`system_health` for the banner on every page (base.html's `banner` block): set only
    when workers are down or the sweeper is behind, for signed-in account users. Cached a
    few seconds; never raises."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "account", None) is None:
        return {}
    from workflows.engine.health import banner_health

    try:
        return {"system_health": banner_health()}
    except Exception:
        return {}
