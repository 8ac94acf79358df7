"""Fuzz the whole API from its OpenAPI schema (schemathesis), as an operator.

Every operation gets a bounded number of generated requests, valid and invalid. Whatever
comes in, the API answers without a 5xx, with a status code and a body its schema declares,
and rejects bad input with a 4xx. Trading points at the local simulator (loopback), and a
new listing is not handed to trading, so nothing here reaches the real exchange.
"""

from __future__ import annotations

import copy
import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mexc.simulator import SimulatorConfig
from trading import runtime
from trading.tests.conftest import ThreadedSimulator, simulator_gateway

# Per operation, on top of schemathesis's coverage cases: the run stays well under a minute.
# FUZZ_EXAMPLES=500 digs deeper (minutes). The seed is fixed (derandomize): CI reproduces.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def simulator():
    with ThreadedSimulator(SimulatorConfig(port=0)) as sim:
        gateway = simulator_gateway(sim)
        yield sim, gateway
        gateway.close()


@pytest.fixture
def offline_trading(simulator, monkeypatch):
    """Dry-run prices come from the simulator; injected listings are not traded."""
    sim, gateway = simulator
    monkeypatch.setattr("trading.handoff.dispatch_snipe", lambda **kwargs: None)
    runtime.set_gateway(gateway)
    keys = {"MEXC_API_KEY": sim.sim.api_key, "MEXC_SECRET_KEY": sim.sim.secret_key}
    with override_settings(**keys, MEXC_REST_URL=sim.sim.rest_url):
        runtime.get_guards.cache_clear()
        yield
    runtime.set_gateway(None)
    runtime.get_guards.cache_clear()


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Requests go through the raw WSGI handler, whose request signals would close the test's
    database connection (PostgreSQL) inside its transaction; Django's test client does the
    same disconnect."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def operator_headers(operator_user):
    token = Token.objects.create(user=operator_user)
    return {"Authorization": f"Token {token.key}"}


def _schema_document() -> dict:
    """The document /api/schema/ serves, built without a request: it has to exist when the
    tests are collected (before any database), and /api/schema/ needs a logged-in viewer.
    `test_fuzzed_schema_is_the_served_one` proves the two are the same."""
    return SchemaGenerator().get_schema(request=None, public=True)


def _json_bodies_only(document: dict) -> dict:
    """Request bodies as JSON only. Every write also takes form encodings, validated by the
    same serializers; fuzzing all three triples the run (mostly the coverage phase of
    PUT /api/config/) for little more, and Werkzeug mis-encodes empty form fields.
    `test_empty_form_field_is_refused` covers the form-only behaviour."""
    document = copy.deepcopy(document)
    for operations in document["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content")
            if content and "application/json" in content:
                operation["requestBody"]["content"] = {
                    "application/json": content["application/json"]
                }
    return document


application = get_wsgi_application()
schema = schemathesis.openapi.from_dict(_json_bodies_only(_schema_document()))
schema.app = application


def test_fuzzed_schema_is_the_served_one(operator_headers):
    served = schemathesis.openapi.from_wsgi("/api/schema/", application, headers=operator_headers)
    assert _json_bodies_only(served.raw_schema) == schema.raw_schema


# A PUT /api/config/ the schema allows may still be refused, with these messages only:
# - max_trade_usdt above max_position_usdt: a rule across two fields, one of them possibly the
#   stored value, which no schema can state;
# - nothing to change: the schema states it (anyOf: at least one setting), but schemathesis's
#   coverage phase builds "required properties only" bodies without reading anyOf;
# - the take-profit ladder's steps: fraction <= 1, rising gains, fractions summing to <= 1.
CONFIG_RULES_OUTSIDE_THE_SCHEMA = (
    "fraction in (0, 1]",
    "Steps go by rising gain",
    "The fractions sum to",
    "cannot exceed max position",
    "cannot exceed max trade",
    "cannot exceed the dry-run max exposure",
    "Live mode needs API keys",
    "Nothing to change",
)


def _messages(errors):
    """Every message of a DRF error body, nested ones (a preset's settings) included."""
    if isinstance(errors, dict):
        for value in errors.values():
            yield from _messages(value)
    elif isinstance(errors, list):
        for value in errors:
            yield from _messages(value)
    else:
        yield str(errors)


def _refused_by_a_rule_outside_the_schema(case, response) -> bool:
    config_writes = {("PUT", "/api/config/"), ("POST", "/api/config/presets/")}
    if (case.method, case.path) not in config_writes or response.status_code != 400:
        return False
    messages = list(_messages(response.json()))
    return all(any(rule in m for rule in CONFIG_RULES_OUTSIDE_THE_SCHEMA) for m in messages)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, offline_trading, operator_headers):
    with transaction.atomic():  # every example starts from the same data
        response = case.call(headers=operator_headers)
        excluded = []
        if _refused_by_a_rule_outside_the_schema(case, response):
            excluded.append(positive_data_acceptance)
        case.validate_response(response, headers=operator_headers, excluded_checks=excluded)
        transaction.set_rollback(True)


@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/listings/inject/", "symbol"), ("/api/trade/execute/", "quote_qty")],
)
def test_empty_form_field_is_refused(client, operator_user, offline_trading, path, field):
    client.force_login(operator_user)
    body = {"symbol": "ABCUSDT", "quote_qty": "1", field: ""}
    response = client.post(path, body)  # multipart, well-formed
    assert response.status_code == 400, response.content
    assert response.json()[field]
