import json

from risk.services import EDITABLE_FIELDS

# The active TradeConfig is seeded by a migration; tests change it with risk.services.


def admin_form_data(config, **overrides) -> dict:
    """The admin change form of `config` as a browser posts it, with `overrides`."""
    data = {}
    for name in EDITABLE_FIELDS:
        value = getattr(config, name)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        data[name] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}
