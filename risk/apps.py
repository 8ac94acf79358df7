from django.apps import AppConfig


class RiskConfig(AppConfig):
    name = "risk"
    verbose_name = "Risk and configuration"

    def ready(self) -> None:
        from monitoring.metrics import metrics_start_at_zero

        from .checks import Reason
        from .models import TradingMode

        metrics_start_at_zero(
            rejection_reasons=[reason.value for reason in Reason],
            trade_modes=TradingMode.values,
        )
