from django.urls import path

from workflows.builder import list_views, review_views, views

app_name = "workflows"

urlpatterns = [
    path("workflows/", list_views.workflow_list, name="list"),
    path("workflows/new/", list_views.workflow_create, name="create"),
    path("workflows/new/<slug:key>/", list_views.workflow_from_template, name="from_template"),
    path("workflows/<id:pk>/", views.builder, name="builder"),
    path("workflows/<id:pk>/criteria/", views.criteria_panel, name="criteria"),
    path("workflows/<id:pk>/add/", views.action_panel, name="add"),
    path("workflows/<id:pk>/steps/<id:step_id>/", views.step_panel, name="step"),
    path("workflows/<id:pk>/steps/<id:step_id>/move/", views.step_move, name="move"),
    path("workflows/<id:pk>/steps/<id:step_id>/delete/", views.step_delete, name="delete"),
    path("workflows/<id:pk>/steps/<id:step_id>/data/", views.step_picker, name="picker"),
    path("workflows/<id:pk>/review/", review_views.review, name="review"),
    path("workflows/<id:pk>/turn-off/", review_views.turn_off, name="turn_off"),
]
