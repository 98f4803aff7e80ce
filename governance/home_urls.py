"""The site's home page, outside the `governance` URL namespace (it is the site's, not the
app's: `LOGIN_REDIRECT_URL = "dashboard"`)."""

from django.urls import path

from .dashboard import DashboardView

urlpatterns = [path("", DashboardView.as_view(), name="dashboard")]
