"""Trading API: history, manual trades, confirmations, audit export, risk and latency figures,
positions and P&L."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import django_filters
from asgiref.sync import sync_to_async
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.drf import (
    DETAIL,
    NOT_FOUND,
    VALIDATION_ERRORS,
    CappedPageNumberPagination,
    StrictFilterSet,
    UpperExactFilter,
    UTCDateTimeFilter,
)
from monitoring.permissions import ViewerReadsOperatorWrites
from risk.models import TradingMode
from trading.models import Position, PositionStatus, Trade, TradeStatus
from trading.selectors import (
    latency_stats,
    pnl_summary,
    position_export_chunks,
    position_list,
    risk_metrics,
    trade_export_chunks,
    trade_history,
)
from trading.services import trade_cancel, trade_confirm, trade_manual

from .serializers import (
    LatencyStatsSerializer,
    PnlSummarySerializer,
    PositionSerializer,
    RiskMetricsSerializer,
    TradeExecuteSerializer,
    TradeSerializer,
)


class TradeFilter(StrictFilterSet):
    mode = django_filters.ChoiceFilter(choices=TradingMode.choices)
    status = django_filters.ChoiceFilter(choices=TradeStatus.choices)
    symbol = UpperExactFilter()
    since = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Trade
        fields = ("mode", "status", "symbol", "since", "until")


class TradeHistoryView(ListAPIView):
    """Every trade attempt, rejected ones too, newest first."""

    serializer_class = TradeSerializer
    permission_classes = (ViewerReadsOperatorWrites,)
    filterset_class = TradeFilter
    pagination_class = CappedPageNumberPagination

    def get_queryset(self):
        return trade_history()

    @extend_schema(
        responses={200: TradeSerializer(many=True), 400: VALIDATION_ERRORS, 404: NOT_FOUND}
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class TradeExecuteView(APIView):
    """A manual trade, through the same risk checks as a snipe (dry run unless `live`)."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(
        request=TradeExecuteSerializer, responses={201: TradeSerializer, 400: VALIDATION_ERRORS}
    )
    def post(self, request: Request) -> Response:
        body = TradeExecuteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            trade = trade_manual(
                symbol=body.validated_data["symbol"],
                quote_qty=body.validated_data["quote_qty"],
                live=body.validated_data["live"],
                actor=request.user,
            )
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(TradeSerializer(trade).data, status=status.HTTP_201_CREATED)


# The URL takes any path segment as the id, so a bad one is a JSON 400 here rather than the
# HTML 404 of an unmatched URL; ids beyond the database's integer range are simply not found.
MAX_ID = 2**63 - 1
TRADE_ID = OpenApiParameter(
    "id",
    {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    OpenApiParameter.PATH,
    description="The trade's id.",
)


def parse_trade_id(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise ValidationError({"id": [f"{value[:40]!r} is not a trade id (a whole number)."]})
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise NotFound(f"No trade {number}.")
    return number


class TradeDetailView(APIView):
    """One trade, in the shape of a history item (and of the `trade.updated` push)."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(
        parameters=[TRADE_ID],
        responses={200: TradeSerializer, 400: VALIDATION_ERRORS, 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: str) -> Response:
        number = parse_trade_id(pk)
        trade = trade_history().filter(pk=number).first()
        if trade is None:
            raise NotFound(f"No trade {number}.")
        return Response(TradeSerializer(trade).data)


class _TradeActionView(APIView):
    permission_classes = (ViewerReadsOperatorWrites,)
    service = staticmethod(trade_confirm)

    @extend_schema(
        request=None,
        parameters=[TRADE_ID],
        responses={200: TradeSerializer, 400: VALIDATION_ERRORS, 404: NOT_FOUND, 409: DETAIL},
    )
    def post(self, request: Request, pk: str) -> Response:
        pk = parse_trade_id(pk)
        get_object_or_404(Trade, pk=pk)
        try:
            trade = self.service(trade_id=pk, actor=request.user)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(TradeSerializer(trade).data)


class TradeConfirmView(_TradeActionView):
    """Confirm a high-value trade: it is checked again, then sent."""

    service = staticmethod(trade_confirm)


class TradeCancelView(_TradeActionView):
    """Cancel a trade that has not been sent (awaiting confirmation or pending)."""

    service = staticmethod(trade_cancel)


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


def _served_over_asgi(request: Request) -> bool:
    """WSGI requests carry the WSGI environ in META; ASGI ones do not."""
    return "wsgi.input" not in request.META


async def _async_chunks(chunks: Iterator[str]) -> AsyncIterator[str]:
    """The export's chunks under ASGI: each batch is read in the request's database thread,
    and sent before the next one is read (Django would list a sync iterator whole first)."""
    step = sync_to_async(next, thread_sensitive=True)
    try:
        while (chunk := await step(chunks, None)) is not None:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()


class TradeExportView(APIView):
    """Audit export: every trade with the configuration version (and limits) it was decided
    under, and the reason code. Accepts the history filters."""

    permission_classes = (ViewerReadsOperatorWrites,)
    renderer_classes = (CSVRenderer, JSONRenderer)

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except (Http404, NotFound):  # DRF's answer to an unknown ?format=
            raise ValidationError({"format": ["The export is text/csv: use format=csv."]}) from None

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):  # an error: JSON like the rest of the API
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=["csv"]),
            OpenApiParameter("mode", OpenApiTypes.STR, enum=TradingMode.values),
            OpenApiParameter("status", OpenApiTypes.STR, enum=TradeStatus.values),
            OpenApiParameter("symbol", OpenApiTypes.STR),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (400, "application/json"): VALIDATION_ERRORS,
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        filtered = TradeFilter(request.query_params, queryset=trade_history())
        if not filtered.is_valid():
            raise ValidationError(filtered.errors)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        chunks = trade_export_chunks(trades=filtered.qs)
        if _served_over_asgi(request):
            chunks = _async_chunks(chunks)
        response = StreamingHttpResponse(chunks, content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="sniperbot-trades-{stamp}.csv"'
        return response


class RiskMetricsView(APIView):
    """24 h exposure against the limit, trades this hour, breaches, breaker and kill switch."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(responses=RiskMetricsSerializer)
    def get(self, request: Request) -> Response:
        return Response(RiskMetricsSerializer(risk_metrics()).data)


# 1m..43200m, 1h..720h, 1d..30d (leading zeros aside). The schema declares this pattern, so a
# window the schema allows is never refused.
WINDOW_PATTERN = (
    r"^(?:0*(?:[1-9][0-9]{0,3}|[1-3][0-9]{4}|4[0-2][0-9]{3}|43[01][0-9][0-9]|43200)m"
    r"|0*(?:[1-9][0-9]?|[1-6][0-9][0-9]|7[01][0-9]|720)h"
    r"|0*(?:[1-9]|[12][0-9]|30)d)$"
)
WINDOW = re.compile(WINDOW_PATTERN.removeprefix("^").removesuffix("$"))
WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_window(value: str) -> timedelta:
    if not WINDOW.fullmatch(value):
        if re.fullmatch(r"[0-9]+[mhd]", value):
            raise ValidationError({"window": ["The window must be between 1m and 30d."]})
        raise ValidationError({"window": [f"{value[:40]!r} is not a window like 15m, 1h or 7d."]})
    return timedelta(**{WINDOW_UNITS[value[-1]]: int(value[:-1].lstrip("0"))})


class LatencyAnalyticsView(APIView):
    """P50/P95/P99 per stage (ms), counts, error rate and a latency histogram."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "window",
                {"type": "string", "pattern": WINDOW_PATTERN},
                description="Minutes, hours or days back, 1m to 30d: 15m, 1h, 24h, 7d (default 1h)",
            )
        ],
        responses={200: LatencyStatsSerializer, 400: VALIDATION_ERRORS},
    )
    def get(self, request: Request) -> Response:
        window = request.query_params.get("window", "1h")
        stats = latency_stats(since=timezone.now() - parse_window(window))
        return Response(LatencyStatsSerializer({"window": window, **stats}).data)


# --- positions ---------------------------------------------------------------------------------


class PositionFilter(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=PositionStatus.choices,
        distinct=False,
        help_text="One or more (repeat the parameter: status=open&status=closing).",
    )
    mode = django_filters.ChoiceFilter(choices=TradingMode.choices)
    symbol = UpperExactFilter()

    class Meta:
        model = Position
        fields = ("status", "mode", "symbol")


class PositionListView(ListAPIView):
    """Every position the bot's buys opened, newest first."""

    serializer_class = PositionSerializer
    permission_classes = (ViewerReadsOperatorWrites,)
    filterset_class = PositionFilter
    pagination_class = CappedPageNumberPagination

    def get_queryset(self):
        return position_list()

    @extend_schema(
        responses={200: PositionSerializer(many=True), 400: VALIDATION_ERRORS, 404: NOT_FOUND}
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


POSITION_ID = OpenApiParameter(
    "id",
    {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    OpenApiParameter.PATH,
    description="The position's id.",
)


def parse_position_id(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise ValidationError({"id": [f"{value[:40]!r} is not a position id (a whole number)."]})
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise NotFound(f"No position {number}.")
    return number


def _position_or_404(pk: str) -> Position:
    number = parse_position_id(pk)
    position = position_list().filter(pk=number).first()
    if position is None:
        raise NotFound(f"No position {number}.")
    return position


class PositionDetailView(APIView):
    """One position: its figures and the levels the bot sells at."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(
        parameters=[POSITION_ID],
        responses={200: PositionSerializer, 400: VALIDATION_ERRORS, 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: str) -> Response:
        return Response(PositionSerializer(_position_or_404(pk)).data)


class PositionCloseView(APIView):
    """Sell everything the position holds now (exit reason `manual`). 202: the sell was
    made or is settling; the position's status says which (`closed`, `closing`, or `open`
    again when nothing could be sold). 409 when it is not open (a sell is in flight, or it
    is closed)."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(
        request=None,
        parameters=[POSITION_ID],
        responses={202: PositionSerializer, 400: VALIDATION_ERRORS, 404: NOT_FOUND, 409: DETAIL},
    )
    def post(self, request: Request, pk: str) -> Response:
        from trading import positions

        position = _position_or_404(pk)
        try:
            position = positions.position_close(position.pk, by=request.user.get_username())
        except positions.PositionNotOpen as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(PositionSerializer(position).data, status=status.HTTP_202_ACCEPTED)


class PositionExportView(TradeExportView):
    """Every position as CSV (streamed): id, symbol, mode, status, opened_at, closed_at,
    entry_price, quantity, initial_qty, cost_quote, proceeds_quote, fees_quote, realized_pnl,
    exit_reason, dust_qty. Accepts the list's filters."""

    @extend_schema(
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=["csv"]),
            OpenApiParameter(
                "status",
                {"type": "array", "items": {"type": "string", "enum": PositionStatus.values}},
                explode=True,
            ),
            OpenApiParameter("mode", OpenApiTypes.STR, enum=TradingMode.values),
            OpenApiParameter("symbol", OpenApiTypes.STR),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (400, "application/json"): VALIDATION_ERRORS,
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        if any(value != "csv" for value in request.query_params.getlist("format")):
            raise ValidationError({"format": ["The export is text/csv: use format=csv."]})
        filtered = PositionFilter(request.query_params, queryset=position_list())
        if not filtered.is_valid():
            raise ValidationError(filtered.errors)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        chunks = position_export_chunks(positions=filtered.qs)
        if _served_over_asgi(request):
            chunks = _async_chunks(chunks)
        response = StreamingHttpResponse(chunks, content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="sniperbot-positions-{stamp}.csv"'
        return response


PNL_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "all": None}


class PnlSummaryView(APIView):
    """Profit and loss per mode (`dry_run` and `live`, never added together), in quote.

    Window rule (`window`: 24h, 7d or all; default 24h): a position counts in
    `realized_pnl`, `fees_quote`, `closed`, `wins` when it was closed in the window
    (closed_at >= now - window), or is still open/closing and was opened in the window (its
    partial sells' realized P&L so far). `win_rate` = wins / closed (null with none closed).
    `unrealized_pnl` and `open` are now, whatever the window: every open or closing position
    at its last best bid less the cost of what it still holds (`open_unpriced` of them have
    no price yet and are left out of the sum).
    """

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "window",
                OpenApiTypes.STR,
                enum=list(PNL_WINDOWS),
                description="24h (default), 7d or all.",
            )
        ],
        responses={200: PnlSummarySerializer, 400: VALIDATION_ERRORS},
    )
    def get(self, request: Request) -> Response:
        window = request.query_params.get("window", "24h")
        if window not in PNL_WINDOWS:
            raise ValidationError({"window": [f"{window[:40]!r} is not one of 24h, 7d, all."]})
        span = PNL_WINDOWS[window]
        since = None if span is None else timezone.now() - span
        body = {"window": window, "since": since, **pnl_summary(since=since)}
        return Response(PnlSummarySerializer(body).data)
