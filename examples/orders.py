"""Keep the paid orders of a CSV file and add their gross amount.

Run it from the repository root (or give the path from anywhere else):

    millpond run examples/orders.py

The input is `data/orders.csv` beside this file. Rows that cannot be parsed
(a bad amount, a missing field, an unknown status, a bad timestamp) are logged
as warnings on the `orders` logger and dropped, and so are orders that are not
paid. Amounts are `decimal.Decimal`, so `gross = net + tax` is exact.

The output is `orders.jsonl` in `$MILLPOND_EXAMPLES_OUT`, or in `out/` beside
this file when the variable is unset. The file is rewritten on each run. It
contains one object per paid order, with amounts as decimal strings (JSON numbers
would pass through binary floats in most readers) and `ordered_at` in UTC.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

from millpond.etl import Context, Pipeline, Record, Writer

__all__ = ["INPUT", "build_pipeline", "output_folder", "parse_amount", "parse_order", "pipeline"]

logger = logging.getLogger("orders")

OUT_ENV = "MILLPOND_EXAMPLES_OUT"
INPUT = Path(__file__).resolve().parent / "data" / "orders.csv"
STATUSES = frozenset({"paid", "unpaid", "refunded"})
_CURRENCY = re.compile(r"[A-Z]{3}")


def output_folder() -> Path:
    """Return the folder that receives the example's output files."""
    configured = os.environ.get(OUT_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent / "out"


def parse_amount(field: str, text: str) -> Decimal:
    """Parse a non-negative decimal amount such as `12.50`; raise ValueError naming `field`."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(
            f"invalid {field} {text!r}: expected a decimal number like 12.50"
        ) from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"invalid {field} {text!r}: expected a finite amount >= 0")
    return amount


def parse_order(row: dict[str, str]) -> Record:
    """Turn one CSV row into an order record with typed fields.

    Raises ValueError naming the first field that is missing or invalid.
    """
    for field in ("order_id", "customer", "status", "net", "tax", "currency", "ordered_at"):
        if not (row.get(field) or "").strip():
            raise ValueError(f"missing {field}")

    status = row["status"].strip().lower()
    if status not in STATUSES:
        raise ValueError(
            f"unknown status {row['status']!r}: expected one of {', '.join(sorted(STATUSES))}"
        )
    currency = row["currency"].strip()
    if not _CURRENCY.fullmatch(currency):
        raise ValueError(f"invalid currency {currency!r}: expected a three-letter ISO 4217 code")

    try:
        ordered_at = datetime.fromisoformat(row["ordered_at"].strip())
    except ValueError:
        raise ValueError(
            f"invalid ordered_at {row['ordered_at']!r}: expected ISO 8601 with a UTC offset"
        ) from None
    if ordered_at.utcoffset() is None:
        raise ValueError(f"invalid ordered_at {row['ordered_at']!r}: the UTC offset is missing")

    return {
        "order_id": row["order_id"].strip(),
        "customer": row["customer"].strip(),
        "status": status,
        "net": parse_amount("net", row["net"]),
        "tax": parse_amount("tax", row["tax"]),
        "currency": currency,
        "ordered_at": ordered_at.astimezone(timezone.utc),
    }


def _read_csv(path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        for row in reader:
            yield {"line": reader.line_num, "row": row}


def _parse(_ctx: Context, record: Record) -> Record:
    try:
        return parse_order(record["row"])
    except ValueError as error:
        # Flag instead of raising, so one bad row does not fail the whole run.
        return {"line": record["line"], "error": str(error)}


def _keep_valid(_ctx: Context, record: Record) -> bool:
    if "error" in record:
        logger.warning("orders.csv line %d dropped: %s", record["line"], record["error"])
        return False
    return True


def _is_paid(_ctx: Context, record: Record) -> bool:
    return bool(record["status"] == "paid")


def _add_gross(_ctx: Context, record: Record) -> Record:
    record["gross"] = record["net"] + record["tax"]
    return record


def _json_line(record: Record) -> str:
    document = {
        "order_id": record["order_id"],
        "customer": record["customer"],
        "currency": record["currency"],
        "net": str(record["net"]),
        "tax": str(record["tax"]),
        "gross": str(record["gross"]),
        "ordered_at": record["ordered_at"].isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(document, ensure_ascii=False)


def _jsonl_writer(out: Path | None) -> Writer:
    # NOTE: the file is rewritten from the records of one writer call, so this
    # writer expects the whole run at once, as it gets it without
    # write(batch_size=...).
    def write(_ctx: Context, records: list[Record]) -> None:
        folder = out if out is not None else output_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "orders.jsonl"

        # Write a temporary file and rename it, so a reader never sees half a file.
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".orders.jsonl.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.writelines(_json_line(record) + "\n" for record in records)
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    return write


def build_pipeline(source: Path = INPUT, out: Path | None = None) -> Pipeline:
    """Build the orders pipeline for the CSV file `source`.

    `out` is the output folder; None picks `output_folder()` when the run
    writes, so `$MILLPOND_EXAMPLES_OUT` may change after the pipeline is built.
    """
    return (
        Pipeline("orders")
        .read(lambda _ctx: _read_csv(source))
        .transform(_parse)
        .filter(_keep_valid)
        .filter(_is_paid)
        .transform(_add_gross)
        .write(_jsonl_writer(out))
    )


pipeline = build_pipeline()
