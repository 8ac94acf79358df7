from django.urls import path

from . import views

urlpatterns = [
    path("alerts/channels/", views.ChannelsView.as_view(), name="alerts-channels"),
    path("alerts/test/", views.NotifyTestView.as_view(), name="alerts-test"),
]
