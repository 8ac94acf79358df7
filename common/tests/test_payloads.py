"""Plain JSON values in exactly the formats DRF's fields give."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from rest_framework import serializers

from common.payloads import dec, iso


def test_decimals_as_drf_gives_them_tiny_ones_too_never_in_exponent_form():
    field = serializers.DecimalField(max_digits=40, decimal_places=18)
    for value in ("0.000000000000000001", "0.000000123", "12.5", "0", "1E+3"):
        assert dec(Decimal(value), 18) == field.to_representation(Decimal(value))
    assert dec(Decimal("0.00000001"), 8) == "0.00000001"
    assert dec(None, 8) is None


def test_times_in_utc_with_a_z():
    field = serializers.DateTimeField()
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    assert iso(moment) == "2026-01-02T01:04:05.678901Z"
    assert iso(moment.astimezone(UTC)) == field.to_representation(moment.astimezone(UTC))
    assert iso(None) is None
