"""The retail cleanup example over one real day of the Online Retail data set.

Every expected figure is computed here from the raw file with the `csv`
module, independently of the pipeline, and the figures that the data's
documentation states are checked as well.
"""

from __future__ import annotations

import csv
import importlib.util
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

DAY_FILE = "online_retail_2011-12-05.csv"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "retail.py"
NON_PRODUCT_CODES = {"POST", "DOT", "M", "AMAZONFEE", "C2", "CRUK"}


def load_retail() -> ModuleType:
    if "retail" in sys.modules:
        return sys.modules["retail"]
    spec = importlib.util.spec_from_file_location("retail", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["retail"] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class RawFacts:
    rows: int
    cancellation_rows: int
    cancelled_invoices: int
    repeat_rows: int
    blank_customers: int
    total: Decimal
    # The same figures over the rows that are not an exact repeat of an earlier row.
    unique_rows: int
    unique_cancellations: int
    unique_blank_customers: int
    unique_total: Decimal
    unique_non_products: int


def raw_facts(path: Path) -> RawFacts:
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))

    seen: set[tuple[str, ...]] = set()
    unique = []
    for row in rows:
        key = tuple(row.values())
        if key not in seen:
            seen.add(key)
            unique.append(row)

    def amount(row: dict[str, str]) -> Decimal:
        return int(row["Quantity"]) * Decimal(row["UnitPrice"])

    return RawFacts(
        rows=len(rows),
        cancellation_rows=sum(row["InvoiceNo"].startswith("C") for row in rows),
        cancelled_invoices=len({row["InvoiceNo"] for row in rows if row["InvoiceNo"][0] == "C"}),
        repeat_rows=len(rows) - len(unique),
        blank_customers=sum(row["CustomerID"] == "" for row in rows),
        total=sum(map(amount, rows), Decimal(0)),
        unique_rows=len(unique),
        unique_cancellations=sum(row["InvoiceNo"].startswith("C") for row in unique),
        unique_blank_customers=sum(row["CustomerID"] == "" for row in unique),
        unique_total=sum(map(amount, unique), Decimal(0)),
        unique_non_products=sum(row["StockCode"] in NON_PRODUCT_CODES for row in unique),
    )


@pytest.fixture
def day_file(shared_data) -> Path:
    path = shared_data / DAY_FILE
    if not path.is_file():
        pytest.skip(f"{DAY_FILE} is absent from {shared_data}")
    return path


@pytest.fixture
def facts(day_file) -> RawFacts:
    return raw_facts(day_file)


@pytest.fixture
def retail() -> ModuleType:
    return load_retail()


def run_collect(retail, paths, batch_size=None):
    records = []
    stats = retail.retail_pipeline(
        paths, writer=lambda ctx, batch: records.extend(batch), batch_size=batch_size
    ).run()
    return stats, records


def test_raw_file_matches_documentation(facts):
    assert facts.rows == 5331
    assert facts.cancellation_rows == 26
    assert facts.cancelled_invoices == 16
    assert facts.repeat_rows == 39
    assert facts.blank_customers == 1933
    assert facts.total == Decimal("57751.32")


def test_counts(retail, day_file, facts):
    stats, records = run_collect(retail, [day_file])

    assert stats.read == facts.rows
    assert stats.dropped == facts.repeat_rows
    assert stats.written == facts.unique_rows
    assert len(records) == facts.unique_rows


def test_cancellations(retail, day_file, facts):
    _, records = run_collect(retail, [day_file])

    cancellations = [record for record in records if record["line_type"] == "cancellation"]
    assert len(cancellations) == facts.unique_cancellations
    assert all(record["invoice_no"].startswith("C") for record in cancellations)
    assert all(record["quantity"] < 0 for record in cancellations)


def test_stock_adjustments(retail, day_file):
    _, records = run_collect(retail, [day_file])

    adjustments = [record for record in records if record["line_type"] == "adjustment"]
    # Three negative quantities on normal invoices, all priced 0: stock write-offs.
    assert len(adjustments) == 3
    assert {record["unit_price"] for record in adjustments} == {Decimal(0)}


def test_customer_ids(retail, day_file, facts):
    _, records = run_collect(retail, [day_file])

    ids = [record["customer_id"] for record in records]
    assert ids.count(None) == facts.unique_blank_customers
    assert all(type(value) is int and value > 0 for value in ids if value is not None)


def test_total_amount(retail, day_file, facts):
    _, records = run_collect(retail, [day_file])

    total = sum((record["amount"] for record in records), Decimal(0))
    assert total == facts.unique_total
    assert all(isinstance(record["amount"], Decimal) for record in records)


def test_product_rule(retail, day_file, facts):
    _, records = run_collect(retail, [day_file])

    non_products = [record for record in records if not record["is_product"]]
    assert len(non_products) == facts.unique_non_products
    assert {record["stock_code"] for record in non_products} <= NON_PRODUCT_CODES
    # Fee and postage lines are what carries prices above 1,000.
    assert all(record["unit_price"] <= 1000 for record in records if record["is_product"])


def test_text_and_time(retail, day_file):
    _, records = run_collect(retail, [day_file])

    descriptions = [record["description"] for record in records]
    assert descriptions.count(None) == 2
    assert all(text == text.strip() for text in descriptions if text is not None)
    times = [record["invoiced_at"] for record in records]
    assert all(value.tzinfo is timezone.utc for value in times)
    # December: London wall time is UTC.
    assert min(times) == datetime(2011, 12, 5, 8, 38, tzinfo=timezone.utc)
    assert max(times) == datetime(2011, 12, 5, 17, 43, tzinfo=timezone.utc)


def test_line_keys_unique(retail, day_file):
    _, records = run_collect(retail, [day_file])

    counts = Counter(record["line_key"] for record in records)
    assert counts.most_common(1)[0][1] == 1


def test_streaming_matches_in_memory(retail, day_file):
    in_memory_stats, in_memory = run_collect(retail, [day_file])
    streaming_stats, streamed = run_collect(retail, [day_file], batch_size=500)

    assert streamed == in_memory
    assert (streaming_stats.read, streaming_stats.written) == (
        in_memory_stats.read,
        in_memory_stats.written,
    )


def test_rerun_into_sqlite_is_idempotent(retail, day_file, facts, tmp_path):
    database = tmp_path / "retail.sqlite"
    pipeline = retail.retail_pipeline([day_file], writer=retail.sqlite_writer(database))

    pipeline.run()
    retail.retail_pipeline(
        [day_file], writer=retail.sqlite_writer(database), batch_size=1000
    ).run()

    connection = sqlite3.connect(database)
    try:
        count, cancellations = connection.execute(
            "SELECT count(*), sum(line_type = 'cancellation') FROM order_lines"
        ).fetchone()
        amounts = [
            Decimal(text) for (text,) in connection.execute("SELECT amount FROM order_lines")
        ]
    finally:
        connection.close()
    assert count == facts.unique_rows
    assert cancellations == facts.unique_cancellations
    assert sum(amounts, Decimal(0)) == facts.unique_total
