"""examples/orders.py: parsing, the paid filter and exact gross amounts."""

from __future__ import annotations

import csv
import json
import logging
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from example_loader import load_example


@pytest.fixture(scope="module")
def orders():
    return load_example("orders")


@pytest.fixture
def examples_out(tmp_path, monkeypatch):
    """Point MILLPOND_EXAMPLES_OUT at a fresh folder."""
    out = tmp_path / "out"
    monkeypatch.setenv("MILLPOND_EXAMPLES_OUT", str(out))
    return out


GOOD_ROW = {
    "order_id": " A-1 ",
    "customer": "Kite Labs",
    "status": " Paid ",
    "net": "19.99",
    "tax": "4.00",
    "currency": "USD",
    "ordered_at": "2024-03-03T16:05:00-05:00",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12.50", Decimal("12.50")), (" 0.1 ", Decimal("0.1")), ("12000", Decimal(12000))],
)
def test_parse_amount(orders, text, expected):
    assert orders.parse_amount("net", text) == expected


@pytest.mark.parametrize("text", ["12,50", "", "abc", "NaN", "Infinity", "-5.00", "1e"])
def test_parse_amount_rejects(orders, text):
    with pytest.raises(ValueError, match="invalid net"):
        orders.parse_amount("net", text)


def test_parse_order(orders):
    record = orders.parse_order(GOOD_ROW)

    assert record == {
        "order_id": "A-1",
        "customer": "Kite Labs",
        "status": "paid",
        "net": Decimal("19.99"),
        "tax": Decimal("4.00"),
        "currency": "USD",
        "ordered_at": datetime(2024, 3, 3, 21, 5, tzinfo=timezone.utc),
    }


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("order_id", "", "missing order_id"),
        ("tax", "  ", "missing tax"),
        ("status", "shipped", "unknown status 'shipped'"),
        ("currency", "usd", "invalid currency 'usd'"),
        ("ordered_at", "2024-03-03 16:05", "the UTC offset is missing"),
        ("ordered_at", "yesterday", "invalid ordered_at 'yesterday'"),
        ("net", "1.2.3", "invalid net '1.2.3'"),
    ],
)
def test_parse_order_rejects(orders, field, value, fragment):
    with pytest.raises(ValueError) as caught:
        orders.parse_order({**GOOD_ROW, field: value})
    assert fragment in str(caught.value)


def expected_paid_orders(orders) -> dict[str, Decimal]:
    """Compute gross per paid, well-formed order straight from the CSV file."""
    expected = {}
    with orders.INPUT.open(encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            try:
                parsed = orders.parse_order(row)
            except ValueError:
                continue
            if parsed["status"] == "paid":
                expected[parsed["order_id"]] = Decimal(row["net"]) + Decimal(row["tax"])
    return expected


def test_run_writes_paid_orders(orders, examples_out, caplog):
    with caplog.at_level(logging.WARNING, logger="orders"):
        stats = orders.build_pipeline().run()

    assert (stats.read, stats.written, stats.dropped) == (21, 10, 11)
    documents = [
        json.loads(line)
        for line in (examples_out / "orders.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    gross = {document["order_id"]: Decimal(document["gross"]) for document in documents}
    assert gross == expected_paid_orders(orders)
    gbp = [Decimal(document["gross"]) for document in documents if document["currency"] == "GBP"]
    assert sum(gbp) == Decimal("2916.96")
    warnings = [record.getMessage() for record in caplog.records if record.name == "orders"]
    assert len(warnings) == 6


def test_gross_is_decimal_exact(orders, examples_out):
    orders.build_pipeline().run()

    documents = {
        document["order_id"]: document
        for document in map(json.loads, (examples_out / "orders.jsonl").read_text().splitlines())
    }
    # Binary floats give 0.08000000000000002 and 0.12000000000000001 here.
    assert documents["A-1021"]["gross"] == "0.08"
    assert documents["A-1004"]["gross"] == "0.12"
    assert documents["A-1018"]["gross"] == "2399.94"
    assert documents["A-1008"]["ordered_at"] == "2024-03-03T21:07:00Z"
    assert "A-1003" not in documents
    assert "A-1005" not in documents


def test_run_twice_rewrites_file(orders, tmp_path):
    pipeline = orders.build_pipeline(out=tmp_path)
    pipeline.run()
    first = (tmp_path / "orders.jsonl").read_text()

    pipeline.run()

    assert (tmp_path / "orders.jsonl").read_text() == first
    assert [path.name for path in tmp_path.iterdir()] == ["orders.jsonl"]
