"""Series with known labels exist at 0 from the start (rate() and alerts see the first one)."""

from prometheus_client import REGISTRY

from monitoring.metrics import metrics_start_at_zero


def _value(name: str, **labels) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_known_label_sets_start_at_zero():
    metrics_start_at_zero(
        rejection_reasons=["zz_reason"],
        trade_modes=["zz_mode"],
        listing_sources=["zz_source"],
        latency_stages=["zz_stage"],
    )
    assert _value("risk_rejections_total", reason="zz_reason") == 0
    assert _value("trades_total", mode="zz_mode", status="filled") == 0
    assert _value("listings_detected_total", source="zz_source") == 0
    assert _value("trade_stage_latency_seconds_count", stage="zz_stage") == 0


def test_every_risk_reason_is_there_after_startup():
    from risk.checks import Reason

    for reason in Reason:
        assert _value("risk_rejections_total", reason=reason.value) is not None
