from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.services import audit_record

from ..selectors import channel_statuses
from ..services import notify_test


class ChannelStatusSerializer(serializers.Serializer):
    label = serializers.CharField()
    id = serializers.CharField(help_text="Hash of the channel's URL (the URL is a secret).")
    valid = serializers.BooleanField()
    last_event = serializers.CharField(allow_null=True)
    last_status = serializers.CharField(allow_null=True)
    last_error = serializers.CharField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    failing = serializers.BooleanField()


class ChannelsView(APIView):
    """The notification channels (viewer): label, hash and last delivery; never the URL."""

    @extend_schema(responses=ChannelStatusSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ChannelStatusSerializer(channel_statuses(), many=True).data)


class NotifyTestView(APIView):
    """Send a test notification to every channel (operator)."""

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer(
                "NotifyTestQueued",
                {"key": serializers.CharField(), "channels": serializers.IntegerField()},
            )
        },
    )
    def post(self, request: Request) -> Response:
        key = notify_test(by=request.user.get_username())
        audit_record(actor=request.user, action="notify.test", target=f"test:{key}")
        return Response({"key": key, "channels": len(channel_statuses())}, status=202)
