"""The README's examples say what the code says."""

from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.django_db
def test_the_validation_example_is_the_message(api_as, operator_user):
    body = api_as(operator_user).put(
        "/api/config/", {"max_trade_usdt": "2000", "reason": "readme"}, format="json"
    )
    assert body.status_code == 400
    example = '{"max_trade_usdt": ["' + body.json()["max_trade_usdt"][0] + '"]}'
    assert example in README


def test_the_production_script_is_the_readme_s():
    assert "scripts/production_smoke.sh" in README
    assert "bootstrap_admin" in README and "var/artifacts/" in README
