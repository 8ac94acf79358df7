import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
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
from listings.demo import SimulatorUnreachable, inject_info, listing_inject
from listings.models import Listing, ListingSource
from listings.selectors import listings_recent
from monitoring.permissions import ViewerReadsOperatorWrites

from .serializers import InjectInfoSerializer, ListingInjectSerializer, ListingSerializer


class ListingFilter(StrictFilterSet):
    source = django_filters.ChoiceFilter(choices=ListingSource.choices)
    since = UTCDateTimeFilter(field_name="detected_at", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="detected_at", lookup_expr="lt")
    symbol = UpperExactFilter()

    class Meta:
        model = Listing
        fields = ("source", "since", "until", "symbol")


class ListingListView(ListAPIView):
    """New listings, newest first."""

    serializer_class = ListingSerializer
    permission_classes = (ViewerReadsOperatorWrites,)
    filterset_class = ListingFilter
    pagination_class = CappedPageNumberPagination

    def get_queryset(self):
        return listings_recent()

    @extend_schema(
        responses={200: ListingSerializer(many=True), 400: VALIDATION_ERRORS, 404: NOT_FOUND}
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class ListingInjectView(APIView):
    """Record a test listing as if detected (source test_injection); it is traded like any other
    listing, under the configuration in force (dry run unless auto-trade and live are on).
    Against the demo's local simulator the symbol is listed there first, so it fills; 503 if
    that simulator is down."""

    permission_classes = (ViewerReadsOperatorWrites,)

    @extend_schema(responses=InjectInfoSerializer)
    def get(self, request: Request) -> Response:
        """What an injection will lead to here (said before anyone clicks)."""
        return Response(InjectInfoSerializer(inject_info()).data)

    @extend_schema(
        request=ListingInjectSerializer,
        responses={201: ListingSerializer, 400: VALIDATION_ERRORS, 503: DETAIL},
    )
    def post(self, request: Request) -> Response:
        body = ListingInjectSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = listing_inject(symbol=body.validated_data.get("symbol"))
        except ValueError as exc:
            raise ValidationError({"symbol": [str(exc)]}) from None
        except SimulatorUnreachable as exc:
            return Response(
                {"detail": f"Not injected: {exc}."}, status=status.HTTP_503_SERVICE_UNAVAILABLE
            )
        if not result.created:
            raise ValidationError({"symbol": [f"{result.listing.symbol} is already listed."]})
        return Response(ListingSerializer(result.listing).data, status=status.HTTP_201_CREATED)
