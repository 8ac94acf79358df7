from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from simple_history.signals import post_create_historical_record

        from common.readiness import register_checks
        from monitoring.metrics import notifications_total

        from . import events
        from .selectors import readiness_check

        for event in events.EVENTS:  # every series exists at 0 from the start
            for result in events.RESULTS:
                notifications_total.labels(event=event, result=result)
        register_checks({"notifications": readiness_check}, critical=False)
        post_create_historical_record.connect(
            _config_version_created, dispatch_uid="alerts.config_version"
        )


def _config_version_created(sender, history_instance=None, **kwargs) -> None:
    from risk.models import TradeConfig

    if sender is not TradeConfig.history.model or history_instance is None:
        return
    from .services import config_version_changed

    try:
        config_version_changed(history_instance=history_instance)
    except Exception:  # a notification never fails a config change
        import logging

        logging.getLogger(__name__).exception("alerts.config_watch_failed")
