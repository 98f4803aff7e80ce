from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import notice_views, views

# The portal's own error pages (portal.errors): its layout, and 503 when the database went away.
handler400 = "portal.errors.bad_request"
handler500 = "portal.errors.server_error"

urlpatterns = [
    # The home page combines both apps, so it lives in governance; included by string so that
    # portal imports neither app. No namespace: `{% url 'dashboard' %}` names it.
    path("", include("governance.home_urls")),
    # Load balancer probes: open, GET only, never cached (see portal.views.HealthView).
    path("healthz", views.HealthView.as_view(), name="healthz"),
    path("readyz", views.ReadyView.as_view(), name="readyz"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
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
    path("signing-key/", include("portal.key_views")),  # public: check packs and anchors
    path("inbox/", notice_views.InboxView.as_view(), name="inbox"),
    path("inbox/<int:pk>/", notice_views.InboxDetailView.as_view(), name="inbox-detail"),
    path("notices/", notice_views.NoticeListView.as_view(), name="notice-list"),
    path("notices/<int:pk>/", notice_views.NoticeDetailView.as_view(), name="notice"),
    path("cpl/", include("cpl.urls")),
    path("", include("governance.urls")),
    path("admin/", admin.site.urls),
]

if settings.BENCH_VIEWS:  # `make bench-web` only; never in production
    urlpatterns.insert(0, path("bench/", include("portal.bench_views")))
