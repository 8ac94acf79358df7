from django.urls import path

from . import views

urlpatterns = [
    path("monitor/status/", views.MonitorStatusView.as_view(), name="monitor-status"),
    path("monitor/start/", views.MonitorStartView.as_view(), name="monitor-start"),
    path("monitor/stop/", views.MonitorStopView.as_view(), name="monitor-stop"),
]
