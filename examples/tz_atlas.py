"""Build an atlas of the IANA time zones: where each zone is and what its clock shows now.

Run it from the repository root (or give the path from anywhere else):

    millpond run examples/tz_atlas.py

The input is the zone table `zone1970.tab`, joined with `iso3166.tab` to turn
country codes into names. Both come from the zone database that `zoneinfo`
uses: the first folder of `zoneinfo.TZPATH` that has them, else the `tzdata`
package. Each zone gets decimal coordinates, its UTC offset at the moment of
the run and whether its offset changes during the current year.

Malformed rows are logged as warnings on the `tz_atlas` logger and dropped.
The output folder is `$MILLPOND_EXAMPLES_OUT`, or `out/` beside this file when
the variable is unset. It receives:

- `tz_atlas.sqlite`: table `zones`, one row per zone, upserted by zone name,
  so a second run updates rows instead of adding them;
- `tz_atlas.jsonl`: one JSON object per zone, rewritten on each run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import tempfile
import zoneinfo
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.etl import Context, Pipeline, Record, Writer

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "build_pipeline",
    "find_zone_tables",
    "observes_dst",
    "output_folder",
    "parse_coordinates",
    "parse_countries",
    "parse_zone_row",
    "pipeline",
    "utc_offset_text",
]

logger = logging.getLogger("tz_atlas")

OUT_ENV = "MILLPOND_EXAMPLES_OUT"
ZONE_TABLE = "zone1970.tab"
COUNTRY_TABLE = "iso3166.tab"

# ISO 6709 as the zone tables write it: sign, degrees, minutes and optional
# seconds, latitude first. Both halves use the same precision.
_COORDINATES = re.compile(
    r"(?P<lat_sign>[+-])(?P<lat_deg>\d{2})(?P<lat_min>\d{2})(?P<lat_sec>\d{2})?"
    r"(?P<lon_sign>[+-])(?P<lon_deg>\d{3})(?P<lon_min>\d{2})(?P<lon_sec>\d{2})?"
)
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")


def output_folder() -> Path:
    """Return the folder that receives the example's output files."""
    configured = os.environ.get(OUT_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent / "out"


def find_zone_tables() -> tuple[Traversable, Traversable]:
    """Return `zone1970.tab` and `iso3166.tab` from the zone database `zoneinfo` uses.

    Raises FileNotFoundError when neither a `zoneinfo.TZPATH` folder nor the
    `tzdata` package has both files.
    """
    for folder in map(Path, zoneinfo.TZPATH):
        zones, countries = folder / ZONE_TABLE, folder / COUNTRY_TABLE
        if zones.is_file() and countries.is_file():
            return zones, countries

    try:
        package = resources.files("tzdata.zoneinfo")
    except ModuleNotFoundError:
        package = None
    if package is not None:
        zones_resource = package.joinpath(ZONE_TABLE)
        countries_resource = package.joinpath(COUNTRY_TABLE)
        if zones_resource.is_file() and countries_resource.is_file():
            return zones_resource, countries_resource

    searched = ", ".join(zoneinfo.TZPATH) or "(empty)"
    raise FileNotFoundError(
        f"no {ZONE_TABLE} with {COUNTRY_TABLE} in zoneinfo.TZPATH ({searched}) "
        "or in the tzdata package; install it with `pip install tzdata`"
    )


def parse_countries(text: str) -> dict[str, str]:
    """Parse `iso3166.tab` into a mapping from country code to country name.

    Raises ValueError naming the line when a row is not `CODE<TAB>name`.
    """
    countries = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        code, tab, name = line.partition("\t")
        if not tab or not _COUNTRY_CODE.fullmatch(code) or not name.strip():
            raise ValueError(
                f"{COUNTRY_TABLE} line {number}: expected a two-letter code, a tab "
                f"and a name, got {line!r}"
            )
        countries[code] = name.strip()
    return countries


def parse_coordinates(text: str) -> tuple[float, float]:
    """Convert ISO 6709 `+DDMM+DDDMM` or `+DDMMSS+DDDMMSS` to decimal (latitude, longitude).

    North and east are positive. The result is rounded to 6 decimal places
    (about 0.1 m at the equator). Raises ValueError naming the bad part.
    """
    match = _COORDINATES.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid coordinates {text!r}: expected ISO 6709 +DDMM+DDDMM or +DDMMSS+DDDMMSS"
        )
    if (match["lat_sec"] is None) != (match["lon_sec"] is None):
        raise ValueError(
            f"invalid coordinates {text!r}: latitude and longitude must both have "
            "seconds or both omit them"
        )

    latitude = _degrees(
        text, match["lat_sign"], match["lat_deg"], match["lat_min"], match["lat_sec"]
    )
    longitude = _degrees(
        text, match["lon_sign"], match["lon_deg"], match["lon_min"], match["lon_sec"]
    )
    if abs(latitude) > 90:
        raise ValueError(f"invalid coordinates {text!r}: latitude {latitude} is beyond ±90")
    if abs(longitude) > 180:
        raise ValueError(f"invalid coordinates {text!r}: longitude {longitude} is beyond ±180")
    return latitude, longitude


def _degrees(text: str, sign: str, degrees: str, minutes: str, seconds: str | None) -> float:
    if int(minutes) >= 60 or (seconds is not None and int(seconds) >= 60):
        raise ValueError(f"invalid coordinates {text!r}: minutes and seconds must be below 60")
    value = int(degrees) + int(minutes) / 60 + int(seconds or 0) / 3600
    return round(-value if sign == "-" else value, 6)


def parse_zone_row(fields: list[str], countries: Mapping[str, str]) -> Record:
    """Parse the tab-separated fields of one `zone1970.tab` row into a zone record.

    The first field may list several comma-separated country codes. Raises
    ValueError naming the problem: a wrong number of fields, an unknown
    country code, bad coordinates, or a zone that `zoneinfo` cannot load.
    """
    if len(fields) not in (3, 4):
        raise ValueError(f"expected 3 or 4 tab-separated fields, got {len(fields)}")
    codes_field, coordinates, zone = fields[0], fields[1], fields[2]
    comment = fields[3] if len(fields) == 4 and fields[3] else None

    codes = codes_field.split(",")
    unknown = [code for code in codes if code not in countries]
    if unknown:
        raise ValueError(f"unknown country code {', '.join(map(repr, unknown))}")
    latitude, longitude = parse_coordinates(coordinates)

    if not zone:
        raise ValueError("empty zone name")
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"zone {zone!r} is not in the zone database: {error}") from None

    return {
        "zone": zone,
        "country_codes": codes,
        "countries": [countries[code] for code in codes],
        "latitude": latitude,
        "longitude": longitude,
        "comment": comment,
    }


def utc_offset_text(offset: timedelta) -> str:
    """Format a UTC offset as `+HH:MM`, or `+HH:MM:SS` when it has seconds."""
    sign = "-" if offset < timedelta(0) else "+"
    seconds = abs(int(offset.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return f"{text}:{seconds:02d}" if seconds else text


def observes_dst(zone: zoneinfo.ZoneInfo, year: int) -> bool:
    """Return whether the zone's UTC offset changes during `year`.

    The offset is sampled at 12:00 UTC on every day of the year. A zone that
    moved its standard offset for good during the year also counts, because
    the zone database alone does not tell the two apart.
    """
    day = datetime(year, 1, 1, 12, tzinfo=timezone.utc)
    offsets = set()
    while day.year == year:
        offsets.add(day.astimezone(zone).utcoffset())
        day += timedelta(days=1)
    return len(offsets) > 1


# Pipeline steps. The reader stamps each raw row with the country table and the
# instant of the run, so every step is a function of its record alone.


def _read_rows(now: datetime | None, tables: tuple[Path, Path] | None) -> Iterator[Record]:
    zones_file, countries_file = tables if tables is not None else find_zone_tables()
    countries = parse_countries(countries_file.read_text(encoding="utf-8"))
    as_of = now if now is not None else datetime.now(timezone.utc)
    for number, line in enumerate(zones_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        yield {"line": number, "text": line, "countries": countries, "as_of": as_of}


def _parse(_ctx: Context, record: Record) -> Record:
    try:
        zone = parse_zone_row(record["text"].split("\t"), record["countries"])
    except ValueError as error:
        # Flag instead of raising, so one bad row does not fail the whole run.
        return {"line": record["line"], "text": record["text"], "error": str(error)}
    zone["as_of"] = record["as_of"]
    return zone


def _keep_valid(_ctx: Context, record: Record) -> bool:
    if "error" in record:
        logger.warning(
            "%s line %d dropped: %s: %r",
            ZONE_TABLE,
            record["line"],
            record["error"],
            record["text"],
        )
        return False
    return True


def _add_clock(_ctx: Context, record: Record) -> Record:
    zone = zoneinfo.ZoneInfo(record["zone"])
    as_of: datetime = record.pop("as_of")
    local = as_of.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    record["utc_offset"] = utc_offset_text(offset)
    record["utc_offset_seconds"] = int(offset.total_seconds())
    record["abbreviation"] = local.tzname()
    record["observes_dst"] = observes_dst(zone, as_of.year)
    record["as_of"] = as_of.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return record


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS zones (
    zone TEXT PRIMARY KEY,
    country_codes TEXT NOT NULL,
    countries TEXT NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    comment TEXT,
    utc_offset TEXT NOT NULL,
    utc_offset_seconds INTEGER NOT NULL,
    abbreviation TEXT,
    observes_dst INTEGER NOT NULL,
    as_of TEXT NOT NULL
)
"""

# The upsert keeps one row per zone: a re-run overwrites every other column.
_UPSERT = """
INSERT INTO zones (
    zone, country_codes, countries, latitude, longitude, comment,
    utc_offset, utc_offset_seconds, abbreviation, observes_dst, as_of
) VALUES (
    :zone, :country_codes, :countries, :latitude, :longitude, :comment,
    :utc_offset, :utc_offset_seconds, :abbreviation, :observes_dst, :as_of
)
ON CONFLICT (zone) DO UPDATE SET
    country_codes = excluded.country_codes,
    countries = excluded.countries,
    latitude = excluded.latitude,
    longitude = excluded.longitude,
    comment = excluded.comment,
    utc_offset = excluded.utc_offset,
    utc_offset_seconds = excluded.utc_offset_seconds,
    abbreviation = excluded.abbreviation,
    observes_dst = excluded.observes_dst,
    as_of = excluded.as_of
"""


def _sqlite_row(record: Record) -> dict[str, Any]:
    # SQLite has no list type: codes are stored comma-separated as in the
    # source, names as a JSON array because a name may contain a comma.
    return {
        **record,
        "country_codes": ",".join(record["country_codes"]),
        "countries": json.dumps(record["countries"], ensure_ascii=False),
        "observes_dst": int(record["observes_dst"]),
    }


def write_sqlite(path: Path, records: list[Record]) -> None:
    """Upsert the zone records into table `zones` of the SQLite file at `path`."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute(_CREATE_TABLE)
            connection.executemany(_UPSERT, map(_sqlite_row, records))
    finally:
        connection.close()


def write_jsonl(path: Path, records: list[Record]) -> None:
    """Replace the file at `path` with one JSON object per record.

    The new content goes to a temporary file that is renamed over the old one,
    so a reader never sees a half-written file.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            for record in records:
                file.write(json.dumps(record, ensure_ascii=False) + "\n")
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _atlas_writer(out: Path | None) -> Writer:
    # NOTE: the JSONL file is rewritten from the records of one writer call, so
    # this writer expects the whole run at once, as it gets it without
    # write(batch_size=...).
    def write(_ctx: Context, records: list[Record]) -> None:
        folder = out if out is not None else output_folder()
        folder.mkdir(parents=True, exist_ok=True)
        write_sqlite(folder / "tz_atlas.sqlite", records)
        write_jsonl(folder / "tz_atlas.jsonl", records)

    return write


def build_pipeline(
    out: Path | None = None,
    *,
    now: datetime | None = None,
    tables: tuple[Path, Path] | None = None,
) -> Pipeline:
    """Build the atlas pipeline.

    `out` is the output folder; None picks `output_folder()` when the run
    writes, so `$MILLPOND_EXAMPLES_OUT` may change after the pipeline is built.
    `now` is the aware instant whose offsets are reported; None means the time
    at which each run starts. `tables` is a (`zone1970.tab`, `iso3166.tab`)
    pair of paths to read instead of `find_zone_tables()`.
    """
    if now is not None and now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}; pass tzinfo=timezone.utc")
    return (
        Pipeline("tz_atlas")
        .read(lambda _ctx: _read_rows(now, tables))
        .transform(_parse)
        .filter(_keep_valid)
        .transform(_add_clock)
        .write(_atlas_writer(out))
    )


pipeline = build_pipeline()
