from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from common.readiness import register_checks
        from listings.ports import register_trading
        from monitoring.metrics import metrics_start_at_zero

        from .handoff import Handoff
        from .readiness import READINESS_CHECKS
        from .selectors import STAGE_SPANS

        register_trading(Handoff())
        register_checks(READINESS_CHECKS)
        metrics_start_at_zero(latency_stages=(*STAGE_SPANS, "total"))
