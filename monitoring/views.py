"""Operational endpoints: liveness (`/health`), readiness (`/ready`) and Prometheus metrics."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.utils import extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.readiness import readiness

from .permissions import ViewerReadsOperatorWrites


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the web process answers. Readiness (dependencies) is a separate endpoint."""
    return JsonResponse(
        {"status": "ok", "version": settings.VERSION, "environment": settings.ENVIRONMENT}
    )


class ReadyView(APIView):
    """Readiness: 200 when every dependency answers, else 503; per-component detail."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        ready, checks = readiness()
        body = {
            "status": "ready" if ready else "not_ready",
            "version": settings.VERSION,
            "environment": settings.ENVIRONMENT,
            "checks": checks,
        }
        return Response(body, status=200 if ready else 503)


class _PlainText(BaseRenderer):
    media_type = "text/plain"
    format = "txt"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class _AnyAccept(BaseContentNegotiation):
    """Prometheus asks for OpenMetrics or text; the exposition format answers both."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None


class MetricsView(APIView):
    """Prometheus metrics of every process on this host (web, monitor, workers).

    Needs a viewer's token (`Authorization: Token <key>`) unless METRICS_PUBLIC is on.
    """

    renderer_classes = (_PlainText, JSONRenderer)
    content_negotiation_class = _AnyAccept

    def get_permissions(self):
        return [AllowAny()] if settings.METRICS_PUBLIC else [ViewerReadsOperatorWrites()]

    def get_authenticators(self):
        return [] if settings.METRICS_PUBLIC else super().get_authenticators()

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        return ExportToDjangoView(request)
