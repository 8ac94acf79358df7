import django_filters
from rest_framework.generics import ListAPIView

from listings.models import Listing, ListingSource
from listings.selectors import listings_recent
from monitoring.permissions import ViewerReadsOperatorWrites

from .serializers import ListingSerializer


class ListingFilter(django_filters.FilterSet):
    source = django_filters.ChoiceFilter(choices=ListingSource.choices)
    since = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="lt")
    symbol = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Listing
        fields = ("source", "since", "until", "symbol")


class ListingListView(ListAPIView):
    """New listings, newest first."""

    serializer_class = ListingSerializer
    permission_classes = (ViewerReadsOperatorWrites,)
    filterset_class = ListingFilter

    def get_queryset(self):
        return listings_recent()
