"""The (HTTP status, body) -> exception table (mexc-api.md sections 3 and 4)."""

import pytest

from mexc import errors
from mexc.errors import error_from_response


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, 10007, errors.SymbolNotTradable),
        (400, 30014, errors.SymbolNotTradable),
        (400, 30021, errors.SymbolNotTradable),
        (400, 730001, errors.SymbolNotTradable),
        (400, -1121, errors.SymbolNotTradable),
        (400, 30004, errors.InsufficientBalance),
        (400, 10101, errors.InsufficientBalance),
        (400, 30002, errors.BelowMinimumAmount),
        (400, 700003, errors.TimestampOutsideWindow),
        (400, 700002, errors.InvalidSignature),
        (400, 602, errors.InvalidSignature),
        (400, 10072, errors.InvalidApiKey),
        (400, 700001, errors.InvalidApiKey),
        (400, -2013, errors.UnknownOrder),
        (400, -2011, errors.UnknownOrder),
        (400, 30018, errors.MarketOrderDisabled),
        (400, 30019, errors.MarketOrderDisabled),
        (400, 30051, errors.MarketOrderDisabled),
        (400, 30010, errors.NoLiquidity),
        (400, 30025, errors.NoLiquidity),
        (400, 700004, errors.MexcApiError),
        (400, 26, errors.MexcApiError),
        (400, 99999, errors.MexcApiError),
        (200, 700003, errors.TimestampOutsideWindow),
        (429, 429, errors.RateLimited),
        (429, None, errors.RateLimited),
        (418, -1, errors.IpBanned),
        (500, 500, errors.ExchangeUnavailable),
        (503, None, errors.ExchangeUnavailable),
        (504, 504, errors.ExchangeUnavailable),
    ],
)
def test_error_table(status, code, kind):
    body = {"code": code, "msg": "m"} if code is not None else {"msg": "m"}
    error = error_from_response(status, body)
    assert type(error) is kind
    assert isinstance(error, errors.MexcError)
    assert (error.code, error.http_status, error.msg) == (code, status, "m")


def test_body_code_400_depends_on_the_message():
    required = error_from_response(400, {"code": 400, "msg": "api key required"})
    scale = error_from_response(400, {"code": 400, "msg": "quantity scale is invalid"})
    assert type(required) is errors.InvalidApiKey
    assert type(scale) is errors.MexcApiError


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_while_placing_an_order_is_outcome_unknown(status):
    error = error_from_response(status, {}, placing_order=True, client_order_id="c1")
    assert type(error) is errors.OrderOutcomeUnknown and error.client_order_id == "c1"


def test_a_business_refusal_while_placing_is_not_unknown():
    error = error_from_response(
        400,
        {"code": 10007, "msg": "symbol not support api"},
        placing_order=True,
        client_order_id="c",
    )
    assert type(error) is errors.SymbolNotTradable and error.client_order_id == "c"


def test_retry_after_seconds_from_headers():
    limited = error_from_response(429, {"code": 429}, {"Retry-After": "7"})
    banned = error_from_response(418, {}, {"Retry-After": "120"})
    junk = error_from_response(429, {}, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert limited.retry_after == 7 and banned.retry_after == 120 and junk.retry_after is None
    assert "retry_after=7s" in str(limited)


def test_odd_bodies_do_not_break_the_mapping():
    assert type(error_from_response(400, "<html>waf</html>")) is errors.MexcApiError
    assert type(error_from_response(403, None)) is errors.MexcApiError
    assert error_from_response(400, {"code": "10007", "msg": None}).code == 10007
    assert error_from_response(400, {"code": "x"}).code is None


def test_message_names_type_code_and_status_only():
    error = error_from_response(
        400, {"code": 700002, "msg": "Signature for this request is not valid."}
    )
    assert (
        str(error)
        == "InvalidSignature code=700002 http=400: Signature for this request is not valid."
    )
