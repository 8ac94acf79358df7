from django.contrib import admin
from django.db.models import Q

from common.admin import ReadOnlyAdmin
from common.drf import CappedCountPaginator

from .models import AuditEvent, BotHealth, BotRun


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Append-only and growing: no date hierarchy or DISTINCT filters, capped counts, exact
    searches (an action, on its index, or an actor)."""

    list_display = ("created_at", "actor_label", "action", "target")
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("action", "actor_label")
    search_help_text = "An exact action (e.g. config.update) or actor."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(action=term) | Q(actor_label=term)), False


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
