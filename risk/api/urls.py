from django.urls import path

from . import views

urlpatterns = [
    path("config/", views.ConfigView.as_view(), name="config"),
    path("config/history/", views.ConfigHistoryView.as_view(), name="config-history"),
]
