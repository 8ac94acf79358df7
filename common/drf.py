"""Pieces every app's API shares: error shapes for the OpenAPI schema, and strict pagination.

The fuzz test (sniperbot/tests/test_fuzz.py) holds every response to the schema, so each
view declares the errors it can answer with, in these shapes.
"""

from __future__ import annotations

import re
from datetime import UTC
from decimal import Decimal

import django_filters
from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.functional import cached_property
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.utils import html

DETAIL = inline_serializer("Detail", {"detail": serializers.CharField()})

VALIDATION_ERRORS = OpenApiResponse(
    {
        "type": "object",
        "description": "Per input field (or `non_field_errors`, or `detail`): what is wrong.",
        "additionalProperties": {
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "string"},
                {"type": "object", "description": "Errors per item of a list field."},
            ]
        },
    },
    description="The input is invalid; each field says why.",
)

NOT_FOUND = OpenApiResponse(DETAIL, description="Not found (or a page past the last one).")


class StrictPageNumberPagination(PageNumberPagination):
    """Page numbers are whole numbers from 1; anything else is a 400 that says so.

    DRF's own pagination answers `?page=0` or `?page=abc` with 404 "Invalid page", and
    accepts the undocumented `?page=last`. A page past the last one is still a 404.
    """

    last_page_strings = ()

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        try:
            number = int(raw) if raw.isascii() and raw.isdigit() else 0
        except ValueError:  # more digits than int() takes
            number = 0
        if number < 1:
            raise ValidationError({self.page_query_param: ["A page is a whole number from 1."]})
        return number

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


class CappedCountPaginator(Paginator):
    """A paginator that never counts a whole table: it counts at most COUNT_CAP rows.

    `count` is min(rows, COUNT_CAP) and `capped` says whether there are more; pages end at
    COUNT_CAP rows (narrow the list with its filters to go further back). Counting up to the
    cap walks at most COUNT_CAP index entries, so a list costs the same at 10k or 1M rows.
    Used by the API lists and the admin changelists of the big tables.
    """

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        n = rows[: self.COUNT_CAP + 1].count() if hasattr(rows, "count") else len(rows)
        self.capped = n > self.COUNT_CAP
        return min(n, self.COUNT_CAP)

    capped = False


class CappedPageNumberPagination(StrictPageNumberPagination):
    """Page numbers, with a count capped at CappedCountPaginator.COUNT_CAP.

    The response keeps DRF's shape (`count`, `next`, `previous`, `results`) and adds
    `count_capped`: true when there are more rows than `count` says (show "10000+").
    """

    django_paginator_class = CappedCountPaginator

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["count_capped"] = self.page.paginator.capped
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["count"]["description"] = (
            f"Rows, counted up to {CappedCountPaginator.COUNT_CAP}."
        )
        schema["properties"]["count_capped"] = {
            "type": "boolean",
            "description": "True when there are more rows than `count` (pages end there: "
            "narrow the list with its filters).",
        }
        schema["required"] = [*schema.get("required", []), "count_capped"]
        return schema


class UpperExactFilter(django_filters.CharFilter):
    """Case-insensitive match on a column stored in upper case (symbols): an exact match on
    the upper-cased value, which its btree index serves (`iexact` would scan the table)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("lookup_expr", "exact")
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        return super().filter(qs, value.strip().upper() if value else value)


class StrictFilterSet(django_filters.FilterSet):
    """A filter given with an empty value is a 400, not silently ignored: `?since=` is not a
    date-time, `?status=` no status. Free-text filters (CharFilter) may be empty."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if not self.is_bound:
            return valid
        for name, field in self.filters.items():
            if isinstance(field, django_filters.CharFilter) or name not in self.data:
                continue
            if any(value == "" for value in self.data.getlist(name)):
                self.form.add_error(name, "Give a value, or leave the parameter out.")
                valid = False
        return valid


class BlankIsGivenMixin:
    """In form-encoded bodies DRF takes an empty optional field as left out; here an empty
    value is what it is, and is judged (a blank symbol is refused, as in JSON)."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class TextOnlyMixin:
    """Text fields take text: DRF's CharField also turns a JSON number into a string."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise ValidationError("Must be a string.")
        return super().to_internal_value(data)


class StrictCharField(TextOnlyMixin, serializers.CharField):
    pass


def _positive_decimal_pattern(whole_digits: int, decimal_places: int) -> str:
    """Strings that are a decimal > 0 with at most these digits (leading zeros aside)."""
    whole = rf"0*[1-9][0-9]{{0,{whole_digits - 1}}}(?:\.[0-9]{{0,{decimal_places}}})?"
    fraction = "|".join(
        rf"0{{{k}}}[1-9][0-9]{{0,{decimal_places - 1 - k}}}" for k in range(decimal_places)
    )
    return rf"^(?:{whole}|0*\.(?:{fraction}))$"


class PositiveDecimalField(BlankIsGivenMixin, serializers.DecimalField):
    """A decimal amount > 0, given as a string of digits like "10" or "0.5".

    The schema's pattern says exactly what is accepted (DRF also takes JSON numbers, padded
    strings and exponents, which the schema could not honestly describe as a string).
    """

    def __init__(self, *, max_digits: int, decimal_places: int, **kwargs) -> None:
        whole_digits = max_digits - decimal_places
        if kwargs.get("max_value") is not None:  # e.g. 99.99: the pattern allows 2 digits
            whole_digits = min(whole_digits, len(str(int(kwargs["max_value"]))))
        self.whole_digits = whole_digits
        self.pattern = _positive_decimal_pattern(whole_digits, decimal_places)
        kwargs.setdefault("min_value", Decimal(1).scaleb(-decimal_places))
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and re.fullmatch(r"-?[0-9]*\.?[0-9]*", data):
            return super().to_internal_value(data)  # DRF says what is wrong: sign, digits...
        if not isinstance(data, str) or not re.fullmatch(self.pattern, data):
            raise ValidationError(
                f'Give a positive amount as a string of digits, e.g. "10" or "0.5" '
                f"(at most {self.whole_digits} digits before the point "
                f"and {self.decimal_places} after)."
            )
        return super().to_internal_value(data)


class PositiveDecimalFieldSchema(OpenApiSerializerFieldExtension):
    target_class = PositiveDecimalField

    def map_serializer_field(self, auto_schema, direction):
        if direction == "response":
            return {"type": "string", "format": "decimal"}
        return {"type": "string", "format": "decimal", "pattern": self.target.pattern}


class StrictBooleanField(serializers.BooleanField):
    """true or false: a JSON boolean, or the text "true"/"false" in a form.

    DRF's BooleanField also takes 1, "0", "yes", "off"... which the schema's `boolean` does
    not say; a value the schema refuses is refused here too.
    """

    default_error_messages = {"invalid": "Must be true or false."}

    def get_value(self, dictionary):
        value = super().get_value(dictionary)
        if html.is_html_input(dictionary) and isinstance(value, str):
            return {"true": True, "false": False}.get(value.lower(), value)
        return value

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time filter that queries in UTC: any offset Python accepts (up to ±23:59)
    works, though PostgreSQL itself refuses offsets beyond ±15:59."""

    def filter(self, qs, value):
        if value is not None and timezone.is_aware(value):
            value = value.astimezone(UTC)
        return super().filter(qs, value)
