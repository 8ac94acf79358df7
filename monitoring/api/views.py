"""Monitor control: operators ask it to run or stop; the monitor loop follows."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.permissions import ViewerReadsOperatorWrites
from monitoring.selectors import monitor_status
from monitoring.services import monitor_request_start, monitor_request_stop

from .serializers import MonitorStatusSerializer


class MonitorStatusView(APIView):
    """Asked-for and actual state, heartbeat, and the health of every component."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(responses=MonitorStatusSerializer)
    def get(self, request: Request) -> Response:
        return Response(MonitorStatusSerializer(monitor_status()).data)


class _MonitorControlView(APIView):
    """Set the desired state (idempotent), answer with the resulting status."""

    permission_classes = (ViewerReadsOperatorWrites,)
    service = staticmethod(monitor_request_start)

    @extend_schema(request=None, responses=MonitorStatusSerializer)
    def post(self, request: Request) -> Response:
        self.service(actor=request.user)
        return Response(MonitorStatusSerializer(monitor_status()).data)


class MonitorStartView(_MonitorControlView):
    """Ask the monitor to run (idempotent)."""

    service = staticmethod(monitor_request_start)


class MonitorStopView(_MonitorControlView):
    """Ask the monitor to stop (idempotent)."""

    service = staticmethod(monitor_request_stop)
