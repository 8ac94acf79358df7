from django.urls import path

from . import views

urlpatterns = [
    path("trade/history/", views.TradeHistoryView.as_view(), name="trade-history"),
    path("trade/execute/", views.TradeExecuteView.as_view(), name="trade-execute"),
    path("trade/<str:pk>/", views.TradeDetailView.as_view(), name="trade-detail"),
    path("trade/<str:pk>/confirm/", views.TradeConfirmView.as_view(), name="trade-confirm"),
    path("trade/<str:pk>/cancel/", views.TradeCancelView.as_view(), name="trade-cancel"),
    path("trade/export.csv", views.TradeExportView.as_view(), name="trade-export"),
    # Served by trading: the exposure figures are trades (risk never imports trading).
    path("risk/metrics/", views.RiskMetricsView.as_view(), name="risk-metrics"),
    path("analytics/latency/", views.LatencyAnalyticsView.as_view(), name="analytics-latency"),
    path("positions/", views.PositionListView.as_view(), name="position-list"),
    path("positions/export.csv", views.PositionExportView.as_view(), name="position-export"),
    path("positions/<str:pk>/", views.PositionDetailView.as_view(), name="position-detail"),
    path("positions/<str:pk>/close/", views.PositionCloseView.as_view(), name="position-close"),
    path("pnl/summary/", views.PnlSummaryView.as_view(), name="pnl-summary"),
]
