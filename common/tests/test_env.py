from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from common.env import env_bool, env_decimal, env_int, env_list, env_secret, env_str, env_url


def test_required_string_missing_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is required"):
        env_str("SECRET_KEY", environ={})


def test_bool_accepts_common_spellings_and_rejects_others():
    assert env_bool("DEBUG", False, environ={"DEBUG": "Yes"}) is True
    assert env_bool("DEBUG", True, environ={"DEBUG": "off"}) is False
    assert env_bool("DEBUG", True, environ={}) is True
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


def test_int_rejects_text_and_out_of_range():
    assert env_int("N", 5, environ={"N": " 7 "}) == 7
    with pytest.raises(ImproperlyConfigured, match=r"N='seven' is not an integer"):
        env_int("N", 5, environ={"N": "seven"})
    with pytest.raises(ImproperlyConfigured, match="above the maximum 1000"):
        env_int("N", 5, max_value=1000, environ={"N": "1001"})
    with pytest.raises(ImproperlyConfigured, match="below the minimum 1"):
        env_int("N", 5, min_value=1, environ={"N": "0"})


def test_decimal_rejects_garbage_and_infinity():
    assert env_decimal("D", Decimal(1), environ={"D": "2.50"}) == Decimal("2.50")
    with pytest.raises(ImproperlyConfigured, match="not a decimal"):
        env_decimal("D", Decimal(1), environ={"D": "lots"})
    with pytest.raises(ImproperlyConfigured, match="finite"):
        env_decimal("D", Decimal(1), environ={"D": "Infinity"})


def test_list_splits_on_commas_and_drops_blanks():
    assert env_list("H", ["x"], environ={"H": "a, b,,c "}) == ["a", "b", "c"]
    assert env_list("H", ["x"], environ={}) == ["x"]


def test_url_checks_the_scheme():
    assert (
        env_url("U", None, schemes=("redis",), environ={"U": "redis://h:1/0/"}) == "redis://h:1/0"
    )
    with pytest.raises(ImproperlyConfigured, match=r"REDIS_URL='localhost:6379' is not a URL"):
        env_url("REDIS_URL", None, schemes=("redis",), environ={"REDIS_URL": "localhost:6379"})


def test_secret_from_file(tmp_path):
    path = tmp_path / "key"
    path.write_text("s3cret\n")
    assert env_secret("MEXC_SECRET_KEY", environ={"MEXC_SECRET_KEY_FILE": str(path)}) == "s3cret"


def test_secret_errors_never_echo_the_value(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="either MEXC_API_KEY or MEXC_API_KEY_FILE") as e:
        env_secret("MEXC_API_KEY", environ={"MEXC_API_KEY": "abc123", "MEXC_API_KEY_FILE": "/x"})
    assert "abc123" not in str(e.value)
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_secret("MEXC_API_KEY", environ={"MEXC_API_KEY_FILE": str(tmp_path / "missing")})
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ImproperlyConfigured, match="empty file"):
        env_secret("MEXC_API_KEY", environ={"MEXC_API_KEY_FILE": str(empty)})


def test_settings_refuse_to_start_without_secret_key_when_debug_off(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SECRET_KEY_FILE"}}
    env.update(
        DEBUG="0", DJANGO_SETTINGS_MODULE="sniperbot.settings", SNIPERBOT_VAR_DIR=str(tmp_path)
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off" in result.stderr


def test_seconds_lists():
    from django.core.exceptions import ImproperlyConfigured

    from common.env import env_seconds_list

    assert env_seconds_list("B", (1.0, 2.0), environ={}) == (1.0, 2.0)
    assert env_seconds_list("B", (1.0,), environ={"B": "0.05, 0.1,0.2"}) == (0.05, 0.1, 0.2)
    with pytest.raises(ImproperlyConfigured, match="not a list of seconds"):
        env_seconds_list("B", (1.0,), environ={"B": "1,two"})
    with pytest.raises(ImproperlyConfigured, match="above 0"):
        env_seconds_list("B", (1.0,), environ={"B": "1,0"})
