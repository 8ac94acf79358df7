from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from common.readiness import register_checks
        from listings.ports import register_trading

        from .handoff import Handoff
        from .readiness import READINESS_CHECKS

        register_trading(Handoff())
        register_checks(READINESS_CHECKS)
