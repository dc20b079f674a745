"""The marketplace's seams: the apps crmflow can connect, declared by each
`integrations/<slug>/` package from its AppConfig.ready().

- `AppListing` (`app_register`): what the catalog, the listing page and Connected apps
  show; its connect and reconnect dialogs; the tabs of its app page; and `urls`, the
  module of its URL patterns, which marketplace/urls.py includes once (in the
  `marketplace` namespace). A new integration is a copy of a sibling package plus one
  INSTALLED_APPS line; the marketplace core names none.
- Usage providers (`usage_provider_register`): what uses a connection.

Usage providers let other apps (the workflow builder) say which of their objects use a
connection, without marketplace importing them: the uninstall dialog and the model
access page list what they return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import Promise

    from marketplace.models import Connection

CATEGORIES: dict[str, Promise] = {
    "ai": _("Artificial intelligence"),
    "developer": _("Developer tools"),
}
# Where an app's pages live: `<CONNECTED_APPS><slug>/…` (its URL patterns use it).
CONNECTED_APPS = "settings/integrations/connected-apps/"


@dataclass(frozen=True)
class AppTab:
    """A tab of the app's page, after Overview: `key` is what its view passes as `tab`."""

    key: str
    label: Promise | str
    url_name: str


@dataclass(frozen=True)
class AppListing:
    slug: str
    name: str
    vendor: str
    category: str
    summary: Promise | str
    description: Promise | str
    before_you_begin: tuple[Promise | str, ...]
    pricing_note: Promise | str
    icon: str  # static path of a square SVG logo
    connect_url_name: str  # GET: the connect dialog; POST: verify the key and install
    reconnect_url_name: str
    tabs: tuple[AppTab, ...] = field(default=())
    links: tuple[tuple[Promise | str, str], ...] = field(default=())
    # The module holding the app's `urlpatterns` (its dialogs and pages), or "".
    urls: str = ""
    # What the app's stored secret is called on its page ("API key", "Signing secret").
    secret_label: Promise | str = _("API key")
    # A template of more <dt>/<dd> facts for the app page's Connection panel, or "".
    overview_template: str = ""

    @property
    def category_label(self) -> Promise | str:
        return CATEGORIES.get(self.category, self.category)

    def matches(self, query: str) -> bool:
        haystack = " ".join(
            str(text) for text in (self.name, self.vendor, self.summary, self.category_label)
        )
        return query.casefold() in haystack.casefold()


_apps: dict[str, AppListing] = {}


def app_register(listing: AppListing) -> None:
    if listing.category not in CATEGORIES:
        raise ValueError(f"{listing.slug}: unknown category {listing.category!r}")
    _apps[listing.slug] = listing


_urls: list[str] = []


@dataclass(frozen=True)
class MenuLink:
    """A page of a package listed in the main menu's Automation menu (e.g. Approvals)."""

    label: Promise | str
    url_name: str


_menu_links: list[MenuLink] = []


def menu_link_register(link: MenuLink) -> None:
    if link not in _menu_links:
        _menu_links.append(link)


def menu_links() -> list[MenuLink]:
    return list(_menu_links)


def urls_register(module: str) -> None:
    """Include `module`'s `urlpatterns` (in the `marketplace` namespace) for a package
    that has pages but no listing (nothing to connect), e.g. the unsubscribe link."""
    if module not in _urls:
        _urls.append(module)


def url_modules() -> list[str]:
    """Every registered app's and package's URL module, once each."""
    modules = [listing.urls for listing in app_listings() if listing.urls]
    return modules + [module for module in _urls if module not in modules]


def app_listings() -> list[AppListing]:
    return sorted(_apps.values(), key=lambda listing: listing.name.casefold())


def app_listing(slug: str) -> AppListing | None:
    return _apps.get(slug)


# --- Usage providers ---------------------------------------------------------------


@dataclass(frozen=True)
class AppUsage:
    """Something that uses a connection, shown to the admin before a change breaks it."""

    label: str
    url: str = ""
    models: frozenset[str] = frozenset()  # the model ids it selects, if any


UsageProvider = Callable[["Connection"], Iterable[AppUsage]]
_usage_providers: dict[str, list[UsageProvider]] = {}


def usage_provider_register(app: str, provider: UsageProvider) -> UsageProvider:
    """Register `provider(connection) -> Iterable[AppUsage]` for connections of the app
    `app` (its slug): an integration returns the workflows whose steps use it."""
    providers = _usage_providers.setdefault(app, [])
    if provider not in providers:
        providers.append(provider)
    return provider


def usage_provider_unregister(app: str, provider: UsageProvider) -> None:
    if provider in _usage_providers.get(app, []):
        _usage_providers[app].remove(provider)


def workflows_using_connection(connection: Connection) -> list[AppUsage]:
    """What uses this connection, as its own app's providers say (never another app's)."""
    usages: list[AppUsage] = []
    for provider in _usage_providers.get(connection.app, []):
        usages.extend(provider(connection))
    return sorted(usages, key=lambda usage: usage.label.casefold())


def workflows_using_models(connection: Connection, model_ids: Iterable[str]) -> list[AppUsage]:
    wanted = set(model_ids)
    return [usage for usage in workflows_using_connection(connection) if usage.models & wanted]
