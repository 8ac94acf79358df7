from django.urls import path

from . import views

urlpatterns = [
    path("config/", views.ConfigView.as_view(), name="config"),
    path("config/history/", views.ConfigHistoryView.as_view(), name="config-history"),
    path("config/presets/", views.PresetListView.as_view(), name="config-presets"),
    path(
        "config/presets/<str:name>/apply/",
        views.PresetApplyView.as_view(),
        name="config-preset-apply",
    ),
]
