"""Clean up the order lines of the "Online Retail" data set (UCI, dataset 352).

The input files hold one row per order line with the columns InvoiceNo,
StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID and
Country, as in the per-day split of the data set. `retail_pipeline(paths)`
builds a pipeline that reads such files and emits one clean record per line:

- `customer_id` is an int or None: the files print ids as floats (`12748.0`)
  and leave 36 % of them blank, and a blank never becomes 0 or "nan".
- `line_type` is `cancellation` for invoices with the `C` prefix,
  `adjustment` for the `A` bad-debt invoices and for negative quantities
  outside a cancellation (stock write-offs), and `sale` otherwise.
- Rows that repeat an earlier row of the same file exactly are dropped, so the
  output has one record per distinct line.
- `description` has no leading or trailing blanks, and an empty one is None.
- `invoiced_at` is an aware UTC datetime: the file's zone-less timestamps are
  read as Europe/London wall time, which is UTC+1 during British Summer Time.
- `is_product` separates goods from postage, fees, discounts, vouchers and manual
  lines, whose prices would otherwise distort any total.
- `unit_price` and `amount` (quantity times unit price) are exact Decimals.
- `line_key` is a hash of the cleaned content of the line. Equal lines get
  equal keys in every run, so a sink that upserts by it stays idempotent.

Malformed rows are logged as warnings on the `retail` logger and dropped.

From the command line, set `RETAIL_INPUT` to a CSV file or a folder of them
and name the function that builds the pipeline:

    RETAIL_INPUT=path/to/retail-by-day millpond run examples/retail.py:pipeline_from_env

The records are upserted into table `order_lines` of `retail.sqlite` in
`$MILLPOND_EXAMPLES_OUT`, or in `out/` beside this file when it is unset.
`RETAIL_BATCH_SIZE=N` switches to streaming with batches of N records.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from millpond.etl import Context, Pipeline, Record, Writer

__all__ = [
    "COLUMNS",
    "classify_stock_code",
    "clean_line",
    "line_key",
    "output_folder",
    "parse_customer_id",
    "parse_timestamp",
    "pipeline_from_env",
    "retail_pipeline",
    "sqlite_writer",
]

logger = logging.getLogger("retail")

OUT_ENV: Final = "MILLPOND_EXAMPLES_OUT"
INPUT_ENV: Final = "RETAIL_INPUT"
BATCH_ENV: Final = "RETAIL_BATCH_SIZE"
COLUMNS: Final = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)

_LONDON: Final = ZoneInfo("Europe/London")
_TIMESTAMP: Final = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")

# Goods have five digits and an optional letter suffix (`85123A`, `15056BL`);
# the `DCGS` codes are goods sold through a partner shop. Everything else is
# postage (POST, DOT, C2), a fee (AMAZONFEE, BANK CHARGES, CRUK), a discount
# (D), a sample (S), a manual line (M), a bad-debt adjustment (B) or a gift
# voucher (gift_0001_20).
_PRODUCT_CODE: Final = re.compile(r"\d{5}[A-Z]*|DCGS\w+")


def output_folder() -> Path:
    """Return the folder that receives the example's output files."""
    configured = os.environ.get(OUT_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent / "out"


def parse_customer_id(text: str) -> int | None:
    """Parse a customer id printed as an integer or a float (`12748.0`).

    A blank field, or the text `nan` left by a pandas export, gives None.
    Raises ValueError for anything that is not a positive whole number.
    """
    text = text.strip()
    if not text or text.lower() == "nan":
        return None

    if not text.isascii():
        raise ValueError(f"invalid CustomerID {text!r}: expected ASCII digits")

    # Fast path for the common `12748.0`.
    digits = text.removesuffix(".0")
    if digits.isdigit():
        value = int(digits)
    else:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"invalid CustomerID {text!r}: expected a whole number") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError(f"invalid CustomerID {text!r}: expected a whole number")
        value = int(number)
    if value <= 0:
        raise ValueError(f"invalid CustomerID {text!r}: expected a positive number")
    return value


@functools.lru_cache(maxsize=4096)
def parse_timestamp(text: str) -> datetime:
    """Read `YYYY-MM-DD HH:MM:SS` as Europe/London wall time and return it in UTC.

    A wall time that occurs twice when the clocks go back resolves to the first
    occurrence (`fold=0`). A wall time skipped when they go forward is read with
    the offset in force before the change. Cached, because a file has few
    distinct timestamps.
    """
    if not _TIMESTAMP.fullmatch(text):
        raise ValueError(f"invalid InvoiceDate {text!r}: expected YYYY-MM-DD HH:MM:SS")
    local = datetime.fromisoformat(text).replace(tzinfo=_LONDON)
    return local.astimezone(timezone.utc)


def classify_stock_code(code: str) -> bool:
    """Return whether an upper-cased stock code names goods rather than a service line."""
    return _PRODUCT_CODE.fullmatch(code) is not None


def line_key(fields: Sequence[str]) -> str:
    """Return a 20-hex-digit key derived from the cleaned fields of one line."""
    return hashlib.blake2b("\x1f".join(fields).encode(), digest_size=10).hexdigest()


def clean_line(fields: Sequence[str]) -> Record:
    """Turn the eight raw fields of one row into a clean order-line record.

    Raises ValueError naming the first bad field.
    """
    if len(fields) != len(COLUMNS):
        raise ValueError(f"expected {len(COLUMNS)} fields, got {len(fields)}")
    invoice_text, code_text, description_text, quantity_text = fields[:4]
    date_text, price_text, customer_text, country_text = fields[4:]

    invoice_no = invoice_text.strip()
    if not invoice_no:
        raise ValueError("missing InvoiceNo")
    # Codes differ only in the case of their suffix letter (`84509a`, `84509A`).
    stock_code = code_text.strip().upper()
    if not stock_code:
        raise ValueError("missing StockCode")
    description = description_text.strip() or None

    try:
        quantity = int(quantity_text)
    except ValueError:
        raise ValueError(f"invalid Quantity {quantity_text!r}: expected an integer") from None
    try:
        unit_price = Decimal(price_text)
    except InvalidOperation:
        raise ValueError(f"invalid UnitPrice {price_text!r}: expected a decimal") from None
    if not unit_price.is_finite():
        raise ValueError(f"invalid UnitPrice {price_text!r}: expected a finite decimal")
    invoiced_at = parse_timestamp(date_text.strip())
    customer_id = parse_customer_id(customer_text)
    country = country_text.strip()

    if invoice_no.startswith("C"):
        line_type = "cancellation"
    elif invoice_no.startswith("A") or quantity < 0:
        line_type = "adjustment"
    else:
        line_type = "sale"

    # The key covers every cleaned field, so two lines of one invoice that
    # differ only in quantity stay two lines, while an exact repeat shares its key.
    key = line_key(
        (
            invoice_no,
            stock_code,
            description or "",
            str(quantity),
            date_text.strip(),
            format(unit_price.normalize(), "f"),
            "" if customer_id is None else str(customer_id),
            country,
        )
    )
    return {
        "line_key": key,
        "invoice_no": invoice_no,
        "line_type": line_type,
        "stock_code": stock_code,
        "is_product": classify_stock_code(stock_code),
        "description": description,
        "quantity": quantity,
        "unit_price": unit_price,
        "amount": quantity * unit_price,
        "invoiced_at": invoiced_at,
        "customer_id": customer_id,
        "country": country,
    }


def _read_rows(paths: Sequence[Path]) -> Iterator[Record]:
    for path in paths:
        with path.open(encoding="utf-8", newline="") as file:
            rows = csv.reader(file)
            header = next(rows, None)
            if header is None or tuple(column.strip() for column in header) != COLUMNS:
                raise ValueError(f"{path}: expected the header {','.join(COLUMNS)}, got {header}")
            for number, fields in enumerate(rows, start=1):
                yield {"source": path.name, "row": number, "fields": fields}


def _clean(_ctx: Context, record: Record) -> Record:
    try:
        line = clean_line(record["fields"])
    except ValueError as error:
        # Flag instead of raising, so one bad row does not fail the whole run.
        return {"source": record["source"], "row": record["row"], "error": str(error)}
    line["source"] = record["source"]
    line["row"] = record["row"]
    return line


def _keep_valid(_ctx: Context, record: Record) -> bool:
    if "error" in record:
        logger.warning("%s row %d dropped: %s", record["source"], record["row"], record["error"])
        return False
    return True


class _FirstOccurrence:
    """Keep the first record of each line key within one input file.

    Exact repeats share their timestamp, and each input file of the per-day
    split contains one day, so remembering one file's keys finds every repeat
    while memory stays bounded by the largest file. The set starts afresh when
    the file changes or its row numbers start again, which is also how every
    new run begins.

    NOTE: one instance serves one run at a time; two concurrent runs of the
    same Pipeline object would share and reset each other's keys.
    """

    def __init__(self) -> None:
        self._source: str | None = None
        self._last_row = 0
        self._seen: set[str] = set()

    def __call__(self, _ctx: Context, record: Record) -> bool:
        if record["source"] != self._source or record["row"] <= self._last_row:
            self._source = record["source"]
            self._seen.clear()
        self._last_row = record["row"]

        key: str = record["line_key"]
        if key in self._seen:
            logger.debug(
                "%s row %d dropped: repeats line %s", record["source"], record["row"], key
            )
            return False
        self._seen.add(key)
        return True


_CREATE_TABLE: Final = """
CREATE TABLE IF NOT EXISTS order_lines (
    line_key TEXT PRIMARY KEY,
    invoice_no TEXT NOT NULL,
    line_type TEXT NOT NULL,
    stock_code TEXT NOT NULL,
    is_product INTEGER NOT NULL,
    description TEXT,
    quantity INTEGER NOT NULL,
    unit_price TEXT NOT NULL,
    amount TEXT NOT NULL,
    invoiced_at TEXT NOT NULL,
    customer_id INTEGER,
    country TEXT NOT NULL,
    source TEXT NOT NULL,
    source_row INTEGER NOT NULL
)
"""

# Amounts are stored as decimal text: SQLite's REAL would round them.
_UPSERT: Final = """
INSERT INTO order_lines VALUES (
    :line_key, :invoice_no, :line_type, :stock_code, :is_product, :description,
    :quantity, :unit_price, :amount, :invoiced_at, :customer_id, :country, :source, :row
)
ON CONFLICT (line_key) DO UPDATE SET
    invoice_no = excluded.invoice_no,
    line_type = excluded.line_type,
    stock_code = excluded.stock_code,
    is_product = excluded.is_product,
    description = excluded.description,
    quantity = excluded.quantity,
    unit_price = excluded.unit_price,
    amount = excluded.amount,
    invoiced_at = excluded.invoiced_at,
    customer_id = excluded.customer_id,
    country = excluded.country,
    source = excluded.source,
    source_row = excluded.source_row
"""


def _sqlite_row(record: Record) -> dict[str, Any]:
    return {
        **record,
        "is_product": int(record["is_product"]),
        "unit_price": str(record["unit_price"]),
        "amount": str(record["amount"]),
        "invoiced_at": record["invoiced_at"].isoformat().replace("+00:00", "Z"),
    }


def sqlite_writer(path: Path | None = None) -> Writer:
    """Return a writer that upserts order lines into table `order_lines`, keyed by `line_key`.

    `path` is the SQLite file; None means `retail.sqlite` in `output_folder()`,
    looked up when the writer runs. Each call commits its records in one
    transaction, so the writer also suits streaming batches.
    """

    def write(_ctx: Context, records: list[Record]) -> None:
        target = path
        if target is None:
            folder = output_folder()
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / "retail.sqlite"
        connection = sqlite3.connect(target)
        try:
            with connection:
                connection.execute(_CREATE_TABLE)
                connection.executemany(_UPSERT, map(_sqlite_row, records))
        finally:
            connection.close()

    return write


def retail_pipeline(
    paths: Sequence[Path | str],
    *,
    writer: Writer | None = None,
    batch_size: int | None = None,
    name: str = "retail_orders",
) -> Pipeline:
    """Build the order-lines cleanup over the CSV files `paths`, read in the order given.

    `writer` defaults to `sqlite_writer()`. With `batch_size` the pipeline
    streams: files are read lazily and the writer gets batches of at most
    `batch_size` records. Without it the writer gets every record in one call.
    """
    files = [Path(path) for path in paths]
    return (
        Pipeline(name)
        .read(lambda _ctx: _read_rows(files))
        .transform(_clean)
        .filter(_keep_valid)
        .filter(_FirstOccurrence())
        .write(writer if writer is not None else sqlite_writer(), batch_size=batch_size)
    )


def pipeline_from_env() -> Pipeline:
    """Build the pipeline from `RETAIL_INPUT` and `RETAIL_BATCH_SIZE` (see the module docs)."""
    configured = os.environ.get(INPUT_ENV)
    if not configured:
        raise ValueError(
            f"{INPUT_ENV} is not set: set it to a retail CSV file or a folder of them"
        )
    source = Path(configured)
    if source.is_dir():
        paths = sorted(source.glob("*.csv"))
        if not paths:
            raise ValueError(f"{INPUT_ENV}={configured!r}: the folder has no .csv files")
    elif source.is_file():
        paths = [source]
    else:
        raise ValueError(f"{INPUT_ENV}={configured!r}: no such file or folder")

    batch_text = os.environ.get(BATCH_ENV)
    batch_size = None
    if batch_text:
        if not batch_text.isdigit() or int(batch_text) == 0:
            raise ValueError(f"{BATCH_ENV}={batch_text!r}: expected a positive whole number")
        batch_size = int(batch_text)
    return retail_pipeline(paths, batch_size=batch_size)
