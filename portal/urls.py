from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/security-code/", views.SecondFactorVerifyView.as_view(), name="mfa-verify"),
    path("accounts/authenticator/", views.SecondFactorSetupView.as_view(), name="mfa-setup"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="registration/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("audit/", views.AuditLogView.as_view(), name="audit-log"),
    path("cpl/", include("cpl.urls")),
    path("", include("governance.urls")),
    path("admin/", admin.site.urls),
]
