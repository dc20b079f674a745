from django.urls import path

from workflows.builder import list_views, review_views, views

app_name = "workflows"

urlpatterns = [
    path("workflows/", list_views.workflow_list, name="list"),
    path("workflows/new/", list_views.workflow_create, name="create"),
    path("workflows/new/<slug:key>/", list_views.workflow_from_template, name="from_template"),
    path("workflows/<int:pk>/", views.builder, name="builder"),
    path("workflows/<int:pk>/criteria/", views.criteria_panel, name="criteria"),
    path("workflows/<int:pk>/add/", views.action_panel, name="add"),
    path("workflows/<int:pk>/steps/<int:step_id>/", views.step_panel, name="step"),
    path("workflows/<int:pk>/steps/<int:step_id>/move/", views.step_move, name="move"),
    path("workflows/<int:pk>/steps/<int:step_id>/delete/", views.step_delete, name="delete"),
    path("workflows/<int:pk>/steps/<int:step_id>/data/", views.step_picker, name="picker"),
    path("workflows/<int:pk>/review/", review_views.review, name="review"),
    path("workflows/<int:pk>/turn-off/", review_views.turn_off, name="turn_off"),
]
