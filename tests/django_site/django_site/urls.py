from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="/whoami/"), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(success_url="/whoami/"),
        name="password_change",
    ),
    path("whoami/", views.whoami, name="whoami"),
    path("session/set/", views.session_set, name="session_set"),
    path("csrf/", views.csrf, name="csrf"),
    path("csrf/check/", views.csrf_check, name="csrf_check"),
]
