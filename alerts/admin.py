"""Read-only ledger of notifications. Channels show as label and hash, never the URL."""

from django.contrib import admin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "event", "key", "channel_label", "status", "attempts", "sent_at")
    list_filter = ("event", "status", "channel_label")
    search_fields = ("key",)
    readonly_fields = [f.name for f in Notification._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
