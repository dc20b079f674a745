"""The email package's URLs (names in the `marketplace` namespace)."""

from django.urls import path

from marketplace.integrations.email import views

urlpatterns = [
    # Public: no login, no CSRF token (the signed token is the access).
    path("email/unsubscribe/<str:token>/", views.unsubscribe, name="email_unsubscribe"),
]
