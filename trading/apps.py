from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from alerts.ports import summary_provider_register
        from common.readiness import register_checks
        from listings.ports import register_trading
        from monitoring.metrics import metrics_start_at_zero

        from .handoff import Handoff
        from .positions import summary_figures
        from .readiness import READINESS_CHECKS
        from .selectors import STAGE_SPANS

        register_trading(Handoff())
        summary_provider_register(summary_figures)
        register_checks(READINESS_CHECKS)
        metrics_start_at_zero(latency_stages=(*STAGE_SPANS, "total"))
