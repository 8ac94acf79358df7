"""The `config.changed` payload: ConfigSerializer's output, built without the API.

`risk.services` pushes it; the API's serializer imports the services (the editable fields),
so the services must not import the API back. Built from the model's fields, so a new
setting needs no edit here; `risk/tests/test_payloads.py` holds it to the serializer's output.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from common.payloads import dec, iso

from .models import TradeConfig
from .selectors import config_current_version


def config_payload(config: TradeConfig) -> dict[str, Any]:
    from .services import EDITABLE_FIELDS

    version = config_current_version(config=config)
    payload: dict[str, Any] = {
        "version": version.history_id if version else None,
        "updated_at": iso(config.updated_at),
    }
    for name in EDITABLE_FIELDS:
        field = TradeConfig._meta.get_field(name)
        value = getattr(config, name)
        if isinstance(field, models.DecimalField):
            value = dec(value, field.decimal_places)
        payload[name] = value
    return payload
