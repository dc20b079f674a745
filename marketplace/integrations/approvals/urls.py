"""The Approvals pages (names in the `marketplace` namespace)."""

from django.urls import path

from marketplace.integrations.approvals import views

urlpatterns = [
    path("approvals/", views.inbox, name="approvals_inbox"),
    path("approvals/bulk/", views.bulk_approve, name="approvals_bulk"),
    path("approvals/<id:pk>/", views.detail, name="approval_detail"),
    path("approvals/<id:pk>/decide/", views.decide, name="approval_decide"),
    path("approvals/link/<str:token>/", views.link, name="approval_link"),
]
