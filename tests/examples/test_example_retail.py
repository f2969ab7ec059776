"""examples/retail.py on a small hand-made file with every quirk of the real data."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from example_loader import load_example

from millpond.etl import ReadError


@pytest.fixture(scope="module")
def retail():
    return load_example("retail")


@pytest.fixture
def examples_out(tmp_path, monkeypatch):
    """Point MILLPOND_EXAMPLES_OUT at a fresh folder."""
    out = tmp_path / "out"
    monkeypatch.setenv("MILLPOND_EXAMPLES_OUT", str(out))
    return out


HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
ROWS = [
    # 1: winter (GMT), float customer id, trailing blank
    (
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER ,6,2010-12-01 08:26:00,2.55,17850.0,"
        "United Kingdom"
    ),
    # 2: exact repeat of row 1
    (
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER ,6,2010-12-01 08:26:00,2.55,17850.0,"
        "United Kingdom"
    ),
    # 3: row 1 again with a lower-case code and a leading blank: the same line once cleaned
    (
        "536365,85123a, WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,"
        "United Kingdom"
    ),
    # 4: same invoice and code as row 1, other quantity: a separate line
    (
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,8,2010-12-01 08:26:00,2.55,17850.0,"
        "United Kingdom"
    ),
    # 5: cancellation of a discount line
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527.0,United Kingdom",
    # 6: summer (BST) timestamp, blank customer id
    "536380,22961,JAM MAKING SET PRINTED,24,2011-06-01 10:00:00,1.45,,United Kingdom",
    # 7: stock write-off: negative quantity outside a cancellation, quoted description
    '536381,21275,"ZINC ""HEART"", LATTICE",-12,2011-06-01 10:05:00,0.0,,United Kingdom',
    # 8: bad-debt adjustment invoice
    "A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,11062.06,,United Kingdom",
    # 9: wall time that occurs twice when the clocks go back
    "536382,POST,POSTAGE,3,2011-10-30 01:30:00,18.0,12583.0,France",
    # 10: wall time skipped when the clocks go forward
    (
        "536383,gift_0001_20,Dotcomgiftshop Gift Voucher £20.00,1,2011-03-27 01:30:00,16.67,,"
        "United Kingdom"
    ),
    # 11: partner-shop product just after the change to BST
    "536384,DCGS0003,BOXED GLASS ASHTRAY,1,2011-03-27 02:30:00,2.51,,United Kingdom",
    # 12: empty description, `nan` customer id
    "536385,22111,,2,2011-01-05 10:00:00,4.25,nan,EIRE",
    # 13-16: malformed
    "536386,22112,SOMETHING,two,2011-01-05 10:00:00,4.25,,EIRE",
    "536387,22113,SOMETHING,1,05/01/2011 10:00,4.25,,EIRE",
    "536388,22114,SOMETHING,1,2011-01-05 10:00:00,4.25,0.0,EIRE",
    "536389,22115,SOMETHING",
]


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "sample.csv"
    path.write_text(HEADER + "\n" + "\n".join(ROWS) + "\n", encoding="utf-8")
    return path


def collect(retail, paths, batch_size=None):
    records = []
    pipeline = retail.retail_pipeline(
        paths, writer=lambda ctx, batch: records.extend(batch), batch_size=batch_size
    )
    stats = pipeline.run()
    return stats, records


def by_row(records):
    return {record["row"]: record for record in records}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("17850.0", 17850), ("17850", 17850), (" 12748.0 ", 12748), ("", None), ("  ", None)],
)
def test_parse_customer_id(retail, text, expected):
    assert retail.parse_customer_id(text) == expected


@pytest.mark.parametrize("text", ["nan", "NaN"])
def test_parse_customer_id_nan_is_none(retail, text):
    assert retail.parse_customer_id(text) is None


@pytest.mark.parametrize("text", ["0.0", "0", "-5.0", "12.5", "abc", "inf", "١٢٣"])
def test_parse_customer_id_rejects(retail, text):
    with pytest.raises(ValueError, match="invalid CustomerID"):
        retail.parse_customer_id(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2011-12-05 08:38:00", datetime(2011, 12, 5, 8, 38, tzinfo=timezone.utc)),
        ("2011-06-01 10:00:00", datetime(2011, 6, 1, 9, 0, tzinfo=timezone.utc)),
        ("2011-03-27 00:59:00", datetime(2011, 3, 27, 0, 59, tzinfo=timezone.utc)),
        ("2011-03-27 02:00:00", datetime(2011, 3, 27, 1, 0, tzinfo=timezone.utc)),
        ("2011-10-30 00:59:00", datetime(2011, 10, 29, 23, 59, tzinfo=timezone.utc)),
        ("2011-10-30 01:30:00", datetime(2011, 10, 30, 0, 30, tzinfo=timezone.utc)),
        ("2011-10-30 02:00:00", datetime(2011, 10, 30, 2, 0, tzinfo=timezone.utc)),
    ],
)
def test_parse_timestamp_london_to_utc(retail, text, expected):
    parsed = retail.parse_timestamp(text)

    assert parsed == expected
    assert parsed.tzinfo is timezone.utc


@pytest.mark.parametrize("text", ["12/5/2011 8:38", "2011-12-05T08:38:00", "2011-12-05 08:38"])
def test_parse_timestamp_rejects(retail, text):
    with pytest.raises(ValueError, match="invalid InvoiceDate"):
        retail.parse_timestamp(text)


@pytest.mark.parametrize(
    ("code", "is_product"),
    [
        ("85123A", True),
        ("15056BL", True),
        ("22961", True),
        ("DCGS0003", True),
        ("DCGSSGIRL", True),
        ("POST", False),
        ("DOT", False),
        ("C2", False),
        ("M", False),
        ("AMAZONFEE", False),
        ("BANK CHARGES", False),
        ("GIFT_0001_20", False),
        ("1234", False),
    ],
)
def test_classify_stock_code(retail, code, is_product):
    assert retail.classify_stock_code(code) is is_product


def test_counts(retail, sample):
    stats, records = collect(retail, [sample])

    assert stats.read == len(ROWS)
    # Rows 2 and 3 repeat row 1; rows 13 to 16 are malformed.
    assert stats.dropped == 6
    assert stats.written == len(ROWS) - 6
    assert sorted(by_row(records)) == [1, 4, 5, 6, 7, 8, 9, 10, 11, 12]


def test_malformed_rows_logged(retail, sample, caplog):
    with caplog.at_level(logging.WARNING, logger="retail"):
        collect(retail, [sample])

    messages = [record.getMessage() for record in caplog.records if record.name == "retail"]
    assert messages == [
        "sample.csv row 13 dropped: invalid Quantity 'two': expected an integer",
        (
            "sample.csv row 14 dropped: invalid InvoiceDate '05/01/2011 10:00': "
            "expected YYYY-MM-DD HH:MM:SS"
        ),
        "sample.csv row 15 dropped: invalid CustomerID '0.0': expected a positive number",
        "sample.csv row 16 dropped: expected 8 fields, got 3",
    ]


def test_cleaned_fields(retail, sample):
    _, records = collect(retail, [sample])
    rows = by_row(records)

    first = rows[1]
    assert first["invoice_no"] == "536365"
    assert first["stock_code"] == "85123A"
    assert first["description"] == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert first["customer_id"] == 17850
    assert first["quantity"] == 6
    assert first["unit_price"] == Decimal("2.55")
    assert first["amount"] == Decimal("15.30")
    assert first["line_type"] == "sale"
    assert first["is_product"] is True
    assert first["invoiced_at"] == datetime(2010, 12, 1, 8, 26, tzinfo=timezone.utc)
    assert first["country"] == "United Kingdom"

    assert rows[4]["line_key"] != first["line_key"]
    assert rows[4]["amount"] == Decimal("20.40")
    assert rows[6]["invoiced_at"] == datetime(2011, 6, 1, 9, 0, tzinfo=timezone.utc)
    assert rows[6]["customer_id"] is None
    assert rows[7]["description"] == 'ZINC "HEART", LATTICE'
    assert rows[12]["description"] is None
    assert rows[12]["customer_id"] is None


def test_line_types(retail, sample):
    _, records = collect(retail, [sample])
    rows = by_row(records)

    assert rows[5]["line_type"] == "cancellation"
    assert rows[5]["amount"] == Decimal("-27.50")
    assert rows[5]["is_product"] is False
    assert rows[7]["line_type"] == "adjustment"
    assert rows[8]["line_type"] == "adjustment"
    assert rows[8]["is_product"] is False
    assert rows[9]["is_product"] is False
    assert rows[10]["stock_code"] == "GIFT_0001_20"
    assert rows[10]["is_product"] is False
    assert rows[11]["is_product"] is True


def test_types_never_placeholder(retail, sample):
    _, records = collect(retail, [sample])

    for record in records:
        assert record["customer_id"] is None or (
            type(record["customer_id"]) is int and record["customer_id"] > 0
        )
        assert isinstance(record["amount"], Decimal)
        assert record["invoiced_at"].utcoffset().total_seconds() == 0
        assert record["description"] is None or record["description"] == (
            record["description"].strip()
        )


def test_keys_unique_and_stable(retail, sample, tmp_path):
    _, first = collect(retail, [sample])
    copy = tmp_path / "copy.csv"
    copy.write_text(sample.read_text())
    _, second = collect(retail, [copy])

    keys = [record["line_key"] for record in first]
    assert len(set(keys)) == len(keys)
    assert keys == [record["line_key"] for record in second]


def test_streaming_matches_in_memory(retail, sample):
    _, in_memory = collect(retail, [sample])
    stats, streamed = collect(retail, [sample], batch_size=3)

    assert streamed == in_memory
    assert stats.written == len(in_memory)


def test_same_pipeline_runs_twice(retail, sample):
    records = []
    pipeline = retail.retail_pipeline([sample], writer=lambda ctx, batch: records.extend(batch))

    first = pipeline.run()
    second = pipeline.run()

    assert (first.read, first.written, first.dropped) == (
        second.read,
        second.written,
        second.dropped,
    )
    assert first.written == 10
    assert records[: first.written] == records[first.written :]


def test_repeat_detection_restarts_per_file(retail, sample):
    # Each file of the per-day split contains whole days, so repeats are found within a file.
    stats, records = collect(retail, [sample, sample])

    assert stats.written == 2 * 10
    assert len({record["line_key"] for record in records}) == 10


def test_sqlite_writer_upserts(retail, sample, tmp_path):
    database = tmp_path / "retail.sqlite"
    pipeline = retail.retail_pipeline([sample], writer=retail.sqlite_writer(database))

    pipeline.run()
    stats = pipeline.run()
    retail.retail_pipeline([sample, sample], writer=retail.sqlite_writer(database)).run()

    connection = sqlite3.connect(database)
    try:
        count, keys = connection.execute(
            "SELECT count(*), count(DISTINCT line_key) FROM order_lines"
        ).fetchone()
        amount, customer = connection.execute(
            "SELECT amount, customer_id FROM order_lines WHERE source_row = 6"
        ).fetchone()
    finally:
        connection.close()
    assert count == keys == stats.written
    assert amount == "34.80"
    assert customer is None


def test_default_writer_uses_output_folder(retail, sample, examples_out):
    retail.retail_pipeline([sample], batch_size=4).run()

    assert (examples_out / "retail.sqlite").is_file()


def test_wrong_header_fails_read(retail, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("order,amount\n1,2\n")

    with pytest.raises(ReadError, match="expected the header InvoiceNo"):
        collect(retail, [path])


def test_pipeline_from_env(retail, sample, monkeypatch, examples_out):
    monkeypatch.setenv("RETAIL_INPUT", str(sample.parent))
    monkeypatch.setenv("RETAIL_BATCH_SIZE", "5")

    stats = retail.pipeline_from_env().run()

    assert stats.written == 10
    assert (examples_out / "retail.sqlite").is_file()


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({}, "RETAIL_INPUT is not set"),
        ({"RETAIL_INPUT": "/nonexistent/retail"}, "no such file or folder"),
        ({"RETAIL_INPUT": "{sample}", "RETAIL_BATCH_SIZE": "0"}, "RETAIL_BATCH_SIZE='0'"),
        ({"RETAIL_INPUT": "{sample}", "RETAIL_BATCH_SIZE": "ten"}, "expected a positive"),
    ],
)
def test_pipeline_from_env_rejects(retail, sample, monkeypatch, variables, fragment):
    monkeypatch.delenv("RETAIL_INPUT", raising=False)
    monkeypatch.delenv("RETAIL_BATCH_SIZE", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value.format(sample=sample))

    with pytest.raises(ValueError) as caught:
        retail.pipeline_from_env()
    assert fragment in str(caught.value)
