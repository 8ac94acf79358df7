from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from listings.ports import register_trading

        from .handoff import Handoff

        register_trading(Handoff())
