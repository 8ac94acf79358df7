from django.contrib import admin

from common.admin import ReadOnlyAdmin

from .models import AuditEvent, BotHealth, BotRun


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "target")
    list_filter = ("action", "actor_label", ("created_at", admin.DateFieldListFilter))
    search_fields = ("actor_label", "action", "target")
    date_hierarchy = "created_at"


@admin.register(BotRun)
class BotRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "desired_state",
        "actual_state",
        "started_by",
        "stopped_by",
        "started_at",
        "stopped_at",
        "heartbeat_at",
        "config_version",
    )
    list_filter = ("desired_state", "actual_state")
    search_fields = ("started_by", "stopped_by")


@admin.register(BotHealth)
class BotHealthAdmin(ReadOnlyAdmin):
    list_display = ("component", "status", "last_event_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("component",)
