"""The plain-SQL statements on the order path store and read what the ORM would."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.db import (
    IntegrityError,
    OperationalError,
    ProgrammingError,
    connection,
    transaction,
)
from django.db.models import Count, DecimalField, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from listings.models import ExchangeSymbol, Listing
from risk.models import TradingMode
from risk.selectors import config_current_version
from sniperbot import fastsql
from trading.models import Trade, TradeStatus
from trading.selectors import COMMITTED, IN_FLIGHT, decision_inputs, exposure_for
from trading.tests.factories import TradeFactory

pytestmark = pytest.mark.django_db

SKIP = {"id", "created_at", "updated_at", "listing", "config_version"}


def stored(obj) -> dict:
    """A row as read back through the ORM."""
    fresh = type(obj).objects.get(pk=obj.pk)
    return {
        f.attname: getattr(fresh, f.attname)
        for f in type(obj)._meta.concrete_fields
        if f.name not in SKIP
    }


def test_an_inserted_listing_reads_back_like_an_orm_created_one():
    values = {
        "symbol": "FASTUSDT",
        "base_asset": "FAST",
        "quote_asset": "USDT",
        "listed_at": timezone.now(),
        "detected_at": timezone.now(),
        "source": "mexc_websocket",
        "raw": {"via": "spot@public.miniTickers", "n": [1, 2]},
    }
    fast = Listing(**values)
    assert fastsql.insert(fast) and fast.pk is not None and fast.created_at is not None
    orm = Listing.objects.create(**{**values, "symbol": "ORMUSDT"})
    assert stored(fast) == {**stored(orm), "symbol": "FASTUSDT"}


def test_an_inserted_trade_keeps_decimals_stamps_and_a_deliberate_updated_at():
    version = config_current_version()
    later = timezone.now() + timedelta(seconds=3)
    values = {
        "symbol": "FASTUSDT",
        "quote_qty": Decimal("12.34567891"),
        "mode": TradingMode.LIVE,
        "status": TradeStatus.SUBMITTED,
        "config_version_id": version.pk,
        "detected_ns": 1_700_000_000_000_000_001,
        "attempts": 1,
    }
    fast = Trade(client_order_id="fast-1", updated_at=later, **values)
    fastsql.insert(fast, keep=("updated_at",))
    orm = Trade.objects.create(client_order_id="orm-1", **values)
    assert {**stored(fast), "client_order_id": "x"} == {**stored(orm), "client_order_id": "x"}
    assert Trade.objects.get(pk=fast.pk).updated_at == later


def test_a_conflicting_insert_is_skipped_and_an_upsert_updates_only_its_fields():
    now = timezone.now()
    first = Listing(symbol="DUPUSDT", listed_at=now, detected_at=now, source="mexc_rest_api")
    assert fastsql.insert(first, ignore_conflicts=True)
    again = Listing(symbol="DUPUSDT", listed_at=now, detected_at=now, source="mexc_websocket")
    assert fastsql.insert(again, ignore_conflicts=True) is False
    assert list(Listing.objects.values_list("source", flat=True)) == ["mexc_rest_api"]

    seen = ExchangeSymbol.objects.create(
        symbol="DUPUSDT", first_seen_at=now, last_seen_at=now, delisted_at=now
    )
    later = now + timedelta(minutes=5)
    fastsql.insert(
        ExchangeSymbol(symbol="DUPUSDT", first_seen_at=later, last_seen_at=later),
        upsert_on=["symbol"],
        upsert_fields=["last_seen_at", "delisted_at"],
    )
    seen.refresh_from_db()
    assert (seen.first_seen_at, seen.last_seen_at, seen.delisted_at) == (now, later, None)


def orm_exposure(mode: str) -> tuple[Decimal, int, int]:
    """The ORM aggregate the plain statement replaced: the oracle."""
    now = timezone.now()
    money = DecimalField(max_digits=20, decimal_places=8)
    figures = Trade.objects.filter(mode=mode, created_at__gte=now - timedelta(hours=24)).aggregate(
        spent=Coalesce(
            Sum(Coalesce("quote_spent", "quote_qty"), filter=Q(status__in=COMMITTED)),
            Decimal(0),
            output_field=money,
        ),
        last_hour=Count(
            "id", filter=Q(status__in=COMMITTED, created_at__gte=now - timedelta(hours=1))
        ),
        in_flight=Count("id", filter=Q(status__in=IN_FLIGHT)),
    )
    return figures["spent"], figures["last_hour"], figures["in_flight"]


def test_exposure_matches_the_orm_aggregate_across_statuses_modes_and_ages():
    now = timezone.now()
    for i, status in enumerate(TradeStatus.values):
        for mode in TradingMode.values:
            for age in (timedelta(minutes=5), timedelta(hours=3), timedelta(hours=30)):
                trade = TradeFactory(
                    listing=None,
                    status=status,
                    mode=mode,
                    quote_qty=Decimal("10.12345678") + i,
                    quote_spent=Decimal("9.5") if i % 2 else None,
                    reason_code="r",
                )
                Trade.objects.filter(pk=trade.pk).update(created_at=now - age)
    for mode in TradingMode.values:
        exposure = exposure_for(mode=mode)
        assert (exposure.spent_24h, exposure.trades_last_hour, exposure.in_flight) == orm_exposure(
            mode
        )
        assert exposure.spent_24h > 0 and exposure.in_flight > 0


def test_decision_inputs_find_the_trade_already_holding_an_id():
    trade = TradeFactory(listing=None, client_order_id="held-1")
    assert decision_inputs(mode=TradingMode.DRY_RUN, client_order_id="held-1")[0] == trade.pk
    assert decision_inputs(mode=TradingMode.DRY_RUN, client_order_id="free-1")[0] is None


def test_statements_sent_together_run_in_order_and_a_failure_stops_the_rest():
    now = timezone.now()
    first = Listing(symbol="BATCHUSDT", listed_at=now, detected_at=now, source="mexc_websocket")
    inserted, counted = fastsql.first_rows(
        fastsql.insert_statement(first),
        ("SELECT count(*) FROM listings_listing WHERE symbol = %s", ("BATCHUSDT",)),
    )
    assert fastsql.inserted(first, inserted) and counted == (1,)  # the second saw the first

    twin = Listing(symbol="BATCHUSDT", listed_at=now, detected_at=now, source="mexc_rest_api")
    other = Listing(symbol="OTHERUSDT", listed_at=now, detected_at=now, source="mexc_rest_api")
    with pytest.raises(IntegrityError), transaction.atomic():
        fastsql.first_rows(fastsql.insert_statement(twin), fastsql.insert_statement(other))
    assert not Listing.objects.filter(symbol="OTHERUSDT").exists()


def test_a_literal_percent_and_a_statement_of_many_values_read_back_as_written():
    assert fastsql.first_row("SELECT %s || '%%'", ("50",)) == ("50%",)
    many = list(range(60))  # past psycopg's own placeholder cache (50 values)
    assert fastsql.first_rows(
        (f"SELECT {', '.join(['%s'] * 60)}", many), ("SELECT %s || '%%'", ("a",))
    ) == [tuple(many), ("a%",)]


def test_statements_sent_as_they_become_known_run_in_order_in_one_transaction():
    with transaction.atomic(), fastsql.committing() as trip:
        trip.send(fastsql.insert_statement(listing("STEPUSDT")))
        trip.send(("SELECT count(*) FROM listings_listing WHERE symbol = %s", ("STEPUSDT",)))
    inserted, counted = trip.rows
    assert counted == (1,)  # the second ran after the first, in its transaction
    assert Listing.objects.get(pk=inserted[0]).symbol == "STEPUSDT"


def test_an_insert_with_a_guard_is_skipped_when_the_guard_finds_a_row():
    now = timezone.now()
    guard = ("SELECT 1 FROM listings_exchangesymbol WHERE symbol = %s", ("GUARDUSDT",))
    kept_out = Listing(symbol="GUARDUSDT", listed_at=now, detected_at=now, source="mexc_websocket")
    ExchangeSymbol.objects.create(symbol="GUARDUSDT", first_seen_at=now, last_seen_at=now)
    assert fastsql.insert(kept_out, unless=guard) is False and kept_out.pk is None

    let_in = Listing(symbol="FREEUSDT", listed_at=now, detected_at=now, source="mexc_websocket")
    free = ("SELECT 1 FROM listings_exchangesymbol WHERE symbol = %s", ("FREEUSDT",))
    assert fastsql.insert(let_in, unless=free, ignore_conflicts=True)
    assert stored(let_in)["listed_at"] == now and stored(let_in)["source"] == "mexc_websocket"


def committed_symbols() -> set[str]:
    """Listings another connection sees: committed rows only."""
    seen: set[str] = set()

    def read() -> None:
        try:
            seen.update(Listing.objects.values_list("symbol", flat=True))
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(5)
    return seen


def listing(symbol: str, **values) -> Listing:
    now = timezone.now()
    return Listing(symbol=symbol, listed_at=now, detected_at=now, source="mexc_websocket", **values)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_statements_sent_with_the_commit_are_committed_before_the_commit_hooks_run():
    at_hook: list[set[str]] = []
    with transaction.atomic():
        first = listing("FIRSTUSDT")
        fastsql.insert(first)
        transaction.on_commit(lambda: at_hook.append(committed_symbols()))
        last = listing("LASTUSDT")
        draw = fastsql.next_id_statement(Listing)
        if draw is None:  # no sequences (SQLite): the row is written as usual
            fastsql.commit(fastsql.insert_statement(last))
        else:
            pk = fastsql.first_row(*draw)[0]
            fastsql.commit(fastsql.insert_with_id(last, pk))
            assert last.pk == pk  # known before the row was written
            # PostgreSQL: the commit went with the statement, before the block's end
            assert committed_symbols() == {"FIRSTUSDT", "LASTUSDT"}
    assert at_hook == [{"FIRSTUSDT", "LASTUSDT"}]
    assert Listing.objects.get(symbol="LASTUSDT").source == "mexc_websocket"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_statement_failing_before_the_commit_commits_nothing_and_says_so():
    fastsql.insert(listing("TAKENUSDT"))
    hooks: list[str] = []
    with pytest.raises(fastsql.NotCommitted), transaction.atomic():
        fastsql.insert(listing("EARLIERUSDT"))
        transaction.on_commit(lambda: hooks.append("ran"))
        fastsql.commit(fastsql.insert_statement(listing("TAKENUSDT")))  # unique (symbol, open)
    assert committed_symbols() == {"TAKENUSDT"} and hooks == []
    with transaction.atomic():  # the connection is usable again
        fastsql.commit(fastsql.insert_statement(listing("AFTERUSDT")))
    assert committed_symbols() == {"TAKENUSDT", "AFTERUSDT"}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_inside_an_enclosing_block_only_the_outer_block_commits():
    with pytest.raises(RuntimeError), transaction.atomic():
        with transaction.atomic():
            fastsql.commit(fastsql.insert_statement(listing("INNERUSDT")))
        raise RuntimeError("the outer block fails")
    assert committed_symbols() == set()


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statements are prepared on PostgreSQL only"
)


def prepared_count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s",
            (fastsql._native(sql),),
        )
        return cursor.fetchone()[0]


@postgres_only
def test_a_statement_is_prepared_once_per_connection_and_a_failing_one_not_at_all():
    sql = "SELECT %s::int + 40"
    assert fastsql.first_rows((sql, (1,)), (sql, (2,))) == [(41,), (42,)]
    assert fastsql.first_row(sql, (3,)) == (43,)
    assert prepared_count(sql) == 1

    broken = "SELECT %s::int FROM no_such_table"
    for _ in range(2):  # the same error each time, not "the prepared statement is missing"
        with pytest.raises(ProgrammingError, match="no_such_table"), transaction.atomic():
            fastsql.first_row(broken, (1,))
    assert prepared_count(broken) == 0


@postgres_only
def test_statements_deallocated_behind_its_back_fail_once_then_are_prepared_again():
    sql = "SELECT %s::int * 2"
    assert fastsql.first_row(sql, (2,)) == (4,)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's reset would
    with pytest.raises(ProgrammingError, match="does not exist"), transaction.atomic():
        fastsql.first_row(sql, (3,))
    assert fastsql.first_row(sql, (4,)) == (8,)
    assert prepared_count(sql) == 1


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_connection_the_server_dropped_raises_and_the_next_use_reconnects():
    fastsql.first_row("SELECT 1")
    backend = connection.connection.info.backend_pid
    with psycopg.connect(
        connection.connection.info.dsn, password=connection.settings_dict["PASSWORD"]
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    with pytest.raises(OperationalError):
        fastsql.first_row("SELECT 1")
    connection.close_if_unusable_or_obsolete()
    assert fastsql.first_row("SELECT %s::int", (7,)) == (7,)
    assert connection.connection.info.backend_pid != backend
