from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from risk.selectors import config_current_version
from risk.services import config_update
from trading.models import Trade, TradeStatus
from trading.tests.factories import TradeFactory

pytestmark = pytest.mark.django_db


def test_trade_keeps_the_config_version_it_was_decided_under():
    trade = TradeFactory()
    decided_under = trade.config_version
    config_update(
        actor=None,
        changes={"max_trade_usdt": Decimal("10"), "snipe_quote_usdt": Decimal("10")},
        reason="cut risk",
    )
    trade.refresh_from_db()
    assert trade.config_version_id == decided_under.history_id
    assert trade.config_version.max_trade_usdt == Decimal("100")
    assert config_current_version().max_trade_usdt == Decimal("10")
    later = TradeFactory()
    assert later.config_version.max_trade_usdt == Decimal("10")


def test_client_order_id_is_unique():
    trade = TradeFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        TradeFactory(client_order_id=trade.client_order_id)


def test_a_rejection_must_carry_a_reason_code():
    with pytest.raises(IntegrityError), transaction.atomic():
        TradeFactory(status=TradeStatus.REJECTED, reason_code="")
    rejected = TradeFactory(status=TradeStatus.REJECTED, reason_code="max_trade_exceeded")
    assert Trade.objects.get(pk=rejected.pk).reason_code == "max_trade_exceeded"


def test_quote_amount_must_be_positive():
    with pytest.raises(IntegrityError), transaction.atomic():
        TradeFactory(quote_qty=Decimal("0"))


def test_stage_latency_in_milliseconds():
    trade = TradeFactory.build(risk_done_ns=1_000_000, acked_ns=4_500_000, sent_ns=None)
    assert trade.stage_ms("risk_done", "acked") == 3.5
    assert trade.stage_ms("risk_done", "sent") is None
