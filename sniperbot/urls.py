from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from monitoring.dashboard import dashboard_view
from monitoring.views import MetricsView, ReadyView, health

api = [
    path("", include("listings.api.urls")),
    path("", include("trading.api.urls")),
    path("", include("risk.api.urls")),
    path("", include("monitoring.api.urls")),
    path("", include("alerts.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/dashboard/", permanent=False)),
    path("health", health, name="health"),
    # Browsers ask for it on every page (the login page too): a static icon, no data.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.ico"), permanent=True)),
    path("ready", ReadyView.as_view(), name="ready"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("dashboard/", dashboard_view, name="dashboard"),
    # Only login and logout: password reset/change views are not used (admins set passwords)
    # and the reset ones answer anonymous visitors and send mail.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include(api)),
    path("admin/", admin.site.urls),
]
