from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring and audit"

    def ready(self) -> None:
        from common.readiness import register_checks

        from .readiness import READINESS_CHECKS

        register_checks(READINESS_CHECKS)
