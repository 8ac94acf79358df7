from rest_framework import serializers


class ComponentHealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    last_event_at = serializers.DateTimeField(allow_null=True)
    detail = serializers.DictField()


class MonitorStatusSerializer(serializers.Serializer):
    """Shared by `GET /api/monitor/status/` and the dashboard's `health.changed` event."""

    run_id = serializers.IntegerField(allow_null=True)
    desired_state = serializers.CharField(help_text="What operators last asked for.")
    actual_state = serializers.CharField(help_text="What the monitor reports (heartbeat fresh).")
    monitor_alive = serializers.BooleanField()
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    started_by = serializers.CharField(allow_blank=True)
    stopped_by = serializers.CharField(allow_blank=True)
    components = serializers.DictField(child=ComponentHealthSerializer())
