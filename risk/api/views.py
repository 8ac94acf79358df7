"""Configuration API: read it, change it (validated, versioned, audited), read its history."""

from __future__ import annotations

import itertools

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.drf import DETAIL, NOT_FOUND, VALIDATION_ERRORS, CappedPageNumberPagination
from monitoring.permissions import ViewerReadsOperatorWrites
from risk.models import TradeConfig
from risk.selectors import config_get_active, preset_list
from risk.services import (
    PresetNotFound,
    StaleConfigVersion,
    config_update,
    preset_apply,
    preset_save,
)

from .serializers import (
    ConfigSerializer,
    ConfigUpdateSerializer,
    ConfigVersionSerializer,
    PresetApplySerializer,
    PresetSaveSerializer,
    PresetSerializer,
)


class ConfigView(APIView):
    """The configuration in force. PUT changes any subset of settings as one new version."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(responses=ConfigSerializer)
    def get(self, request: Request) -> Response:
        return Response(ConfigSerializer(config_get_active()).data)

    @extend_schema(
        request=ConfigUpdateSerializer,
        responses={200: ConfigSerializer, 400: VALIDATION_ERRORS, 409: DETAIL},
    )
    def put(self, request: Request) -> Response:
        body = ConfigUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        reason = changes.pop("reason")
        expected = changes.pop("expected_version", None)
        try:
            config = config_update(
                actor=request.user, changes=changes, reason=reason, expected_version=expected
            )
        except DjangoValidationError as exc:
            raise ValidationError(_field_errors(exc)) from None
        except StaleConfigVersion as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(ConfigSerializer(config).data)


def _previous_versions(page: list) -> dict[int, object]:
    """history_id -> the version before it, for a page of versions newest first: each one's
    predecessor is the next on the page, and one query finds the last one's (no query per row).
    """
    previous = {}
    for newer, older in itertools.pairwise(page):
        if older.history_date < newer.history_date:
            previous[newer.history_id] = older
    for record in page:
        if record.history_id not in previous:  # the page's last (or a tie): one query each
            previous[record.history_id] = (
                TradeConfig.history.filter(id=record.id, history_date__lt=record.history_date)
                .order_by("-history_date", "-history_id")
                .first()
            )
    return previous


def _field_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): messages
            for field, messages in exc.message_dict.items()
        }
    return {"non_field_errors": exc.messages}


class ConfigHistoryView(ListAPIView):
    """Every version of the configuration, newest first."""

    serializer_class = ConfigVersionSerializer
    permission_classes = (ViewerReadsOperatorWrites,)
    pagination_class = CappedPageNumberPagination

    @extend_schema(
        responses={200: ConfigVersionSerializer(many=True), 400: VALIDATION_ERRORS, 404: NOT_FOUND}
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {**self.get_serializer_context(), "previous": _previous_versions(page)}
        serializer = self.get_serializer_class()(page, many=True, context=context)
        return self.get_paginated_response(serializer.data)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no database
            return TradeConfig.history.none()
        return (
            TradeConfig.history.filter(name=config_get_active().name)
            .select_related("history_user")
            .order_by("-history_date", "-history_id")
        )


class PresetListView(APIView):
    """Named presets. POST saves one (the configuration in force, or the settings given);
    the same name again replaces it (its history keeps the old settings)."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(responses=PresetSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(PresetSerializer(preset_list(), many=True).data)

    @extend_schema(
        request=PresetSaveSerializer, responses={201: PresetSerializer, 400: VALIDATION_ERRORS}
    )
    def post(self, request: Request) -> Response:
        body = PresetSaveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            preset = preset_save(
                actor=request.user,
                name=data["name"],
                description=data["description"],
                values=data.get("settings"),
            )
        except DjangoValidationError as exc:
            raise ValidationError(_field_errors(exc)) from None
        return Response(PresetSerializer(preset).data, status=status.HTTP_201_CREATED)


class PresetApplyView(APIView):
    """Apply a preset: one new configuration version whose reason names the preset."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(
        request=PresetApplySerializer,
        responses={200: ConfigSerializer, 400: VALIDATION_ERRORS, 404: DETAIL, 409: DETAIL},
    )
    def post(self, request: Request, name: str) -> Response:
        body = PresetApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            config = preset_apply(
                actor=request.user,
                name=name,
                expected_version=body.validated_data.get("expected_version"),
            )
        except PresetNotFound as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        except DjangoValidationError as exc:
            raise ValidationError(_field_errors(exc)) from None
        except StaleConfigVersion as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(ConfigSerializer(config).data)
