from django.urls import path

from .views import ListingInjectView, ListingListView

urlpatterns = [
    path("listings/", ListingListView.as_view(), name="listing-list"),
    path("listings/inject/", ListingInjectView.as_view(), name="listing-inject"),
]
