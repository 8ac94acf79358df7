"""Typed readers for environment variables.

Settings come only from the environment. Each helper fails loudly, naming the variable and
what it expected, so a typo stops the process at start instead of trading on a bad value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_MISSING = object()


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    env = os.environ if environ is None else environ
    value = env.get(name)
    return None if value is None else value.strip()


def env_str(
    name: str, default: str | object | None = _MISSING, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """A string; without a default the variable is required."""
    value = _raw(name, environ)
    if value is None or value == "":
        if default is _MISSING:
            raise ImproperlyConfigured(f"{name} is required but not set.")
        return default  # type: ignore[return-value]
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off."
    )


def env_int(
    name: str,
    default: int,
    *,
    min_value: int | None = None,
    max_value: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    _check_range(name, number, min_value, max_value)
    return number


def env_decimal(
    name: str,
    default: Decimal,
    *,
    min_value: Decimal | None = None,
    environ: Mapping[str, str] | None = None,
) -> Decimal:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name}={value!r} is not a decimal number.") from None
    if not number.is_finite():
        raise ImproperlyConfigured(f"{name}={value!r} must be a finite number.")
    _check_range(name, number, min_value, None)
    return number


def env_list(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """A comma-separated list; blanks are dropped."""
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_seconds_list(
    name: str, default: tuple[float, ...], *, environ: Mapping[str, str] | None = None
) -> tuple[float, ...]:
    """Comma-separated positive seconds, e.g. `1,2,4,8,16,30`."""
    items = env_list(name, [], environ=environ)
    if not items:
        return default
    try:
        values = tuple(float(item) for item in items)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={','.join(items)!r} is not a list of seconds, e.g. 1,2,4,8,16,30."
        ) from None
    if any(v <= 0 for v in values):
        raise ImproperlyConfigured(f"{name}: every delay must be above 0 seconds.")
    return values


def env_url(
    name: str,
    default: str | None,
    *,
    schemes: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> str | None:
    value = env_str(name, default, environ=environ)
    if value is None:
        return None
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in schemes or not rest:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ImproperlyConfigured(f"{name}={value!r} is not a URL starting with {allowed}.")
    return value.rstrip("/")


def env_secret(name: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (Docker/K8s secrets).

    Setting both is refused: which one wins would be a guess. The value is never echoed in
    an error message.
    """
    direct = _raw(name, environ)
    file_name = _raw(f"{name}_FILE", environ)
    if direct and file_name:
        raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
    if file_name:
        path = Path(file_name)
        try:
            content = path.read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points to {file_name!r}, which cannot be read ({exc.strerror})."
            ) from None
        if not content:
            raise ImproperlyConfigured(f"{name}_FILE points to an empty file ({file_name!r}).")
        return content
    return direct or None


def _check_range(name: str, number, min_value, max_value) -> None:
    if min_value is not None and number < min_value:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {min_value}.")
    if max_value is not None and number > max_value:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum {max_value}.")
