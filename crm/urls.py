from django.contrib.auth import views as auth_views
from django.urls import path

from crm import views

app_name = "crm"

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("objects/<slug:object_type>/", views.record_list, name="record_list"),
    path("tasks/", views.task_list, name="task_list"),
    path("settings/", views.settings_home, name="settings_home"),
    path("settings/users/", views.settings_users, name="settings_users"),
]
