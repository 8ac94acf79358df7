"""Signing: the official vectors (mexc-api.md section 1.3) and what-is-signed-is-sent."""

from decimal import Decimal

from mexc.signing import encode_params, format_value, sign, signed_query

KEY = "45d0b3c26f2644f19bfb98b07741b2f5"


def test_official_vector_query_only():
    message = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11"
        "&recvWindow=5000&timestamp=1644489390087"
    )
    assert sign(KEY, message) == "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"


def test_official_vector_query_directly_followed_by_body():
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT"
    body = "quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
    assert sign(KEY, query + body) == (
        "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"
    )


def test_params_are_encoded_once_in_order_with_uppercase_escapes_and_signature_last():
    assert encode_params([("b", "x,y"), ("a", None), ("c", 1)]) == "b=x%2Cy&c=1"
    assert encode_params([("id", "a b/é")]) == "id=a%20b%2F%C3%A9"
    query = signed_query("s", [("symbol", "ABCUSDT"), ("timestamp", 1)])
    head, _, signature = query.rpartition("&signature=")
    assert head == "symbol=ABCUSDT&timestamp=1" and signature == sign("s", head)
    assert signature == signature.lower() and len(signature) == 64


def test_decimals_go_out_in_plain_notation():
    assert format_value(Decimal("1E+1")) == "10"
    assert format_value(Decimal("0.00000010")) == "0.00000010"
    assert format_value(True) == "true"
    assert encode_params([("quoteOrderQty", Decimal("2E+1"))]) == "quoteOrderQty=20"
