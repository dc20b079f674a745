"""What every page's main menu shows of the packages (marketplace/registry.py)."""

from __future__ import annotations

from django.http import HttpRequest

from marketplace.registry import MenuLink, menu_links


def app_menu(request: HttpRequest) -> dict[str, list[MenuLink]]:
    return {"app_menu_links": menu_links()}
