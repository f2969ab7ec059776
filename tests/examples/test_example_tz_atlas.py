"""examples/tz_atlas.py: row parsing, offsets, and real runs into SQLite and JSONL."""

from __future__ import annotations

import json
import logging
import sqlite3
import zoneinfo
from datetime import datetime, timedelta, timezone

import pytest
from example_loader import load_example


@pytest.fixture(scope="module")
def tz_atlas():
    return load_example("tz_atlas")


@pytest.fixture
def examples_out(tmp_path, monkeypatch):
    """Point MILLPOND_EXAMPLES_OUT at a fresh folder."""
    out = tmp_path / "out"
    monkeypatch.setenv("MILLPOND_EXAMPLES_OUT", str(out))
    return out


WINTER = datetime(2024, 1, 15, 12, tzinfo=timezone.utc)
SUMMER = datetime(2024, 7, 15, 12, tzinfo=timezone.utc)

COUNTRIES = {"AE": "United Arab Emirates", "OM": "Oman", "GB": "Britain (UK)", "IN": "India"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+4230+00131", (42.5, 1.516667)),
        ("+2518+05518", (25.3, 55.3)),
        ("-3352+15113", (-33.866667, 151.216667)),
        ("+404251-0740023", (40.714167, -74.006389)),
        ("-0000-00000", (0.0, 0.0)),
        ("+9000+18000", (90.0, 180.0)),
        ("-5448-06818", (-54.8, -68.3)),
    ],
)
def test_parse_coordinates(tz_atlas, text, expected):
    assert tz_atlas.parse_coordinates(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "expected ISO 6709"),
        ("4230+00131", "expected ISO 6709"),
        ("+4230+0131", "expected ISO 6709"),
        ("+4230 +00131", "expected ISO 6709"),
        ("+42.5+001.5", "expected ISO 6709"),
        ("+423000+00131", "both have seconds"),
        ("+4260+00131", "below 60"),
        ("+4230+00131+", "expected ISO 6709"),
        ("+404260-0740023", "below 60"),
        ("+9100+00000", "latitude 91.0 is beyond"),
        ("+0000+18100", "longitude 181.0 is beyond"),
    ],
)
def test_parse_coordinates_rejects(tz_atlas, text, fragment):
    with pytest.raises(ValueError, match="invalid coordinates") as caught:
        tz_atlas.parse_coordinates(text)
    assert fragment in str(caught.value)


def test_parse_countries(tz_atlas):
    text = "# comment\n#code\tname\nAD\tAndorra\nAE\tUnited Arab Emirates\n\nGB\tBritain (UK)\n"

    assert tz_atlas.parse_countries(text) == {
        "AD": "Andorra",
        "AE": "United Arab Emirates",
        "GB": "Britain (UK)",
    }


@pytest.mark.parametrize("line", ["AD Andorra", "ad\tAndorra", "AD\t", "AND\tAndorra"])
def test_parse_countries_rejects(tz_atlas, line):
    with pytest.raises(ValueError, match=r"iso3166\.tab line 2"):
        tz_atlas.parse_countries(f"# header\n{line}\n")


def test_parse_zone_row_several_countries(tz_atlas):
    record = tz_atlas.parse_zone_row(["AE,OM", "+2518+05518", "Asia/Dubai"], COUNTRIES)

    assert record == {
        "zone": "Asia/Dubai",
        "country_codes": ["AE", "OM"],
        "countries": ["United Arab Emirates", "Oman"],
        "latitude": 25.3,
        "longitude": 55.3,
        "comment": None,
    }


def test_parse_zone_row_keeps_comment(tz_atlas):
    record = tz_atlas.parse_zone_row(
        ["GB", "+513030-0000731", "Europe/London", "Great Britain"], COUNTRIES
    )

    assert record["comment"] == "Great Britain"
    assert record["latitude"] == pytest.approx(51.508333)
    assert record["longitude"] == pytest.approx(-0.125278)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        (["GB", "+513030-0000731"], "expected 3 or 4 tab-separated fields, got 2"),
        (["GB", "+5130-00007", "Europe/London", "x", "y"], "got 5"),
        (["XX", "+5130-00007", "Europe/London"], "unknown country code 'XX'"),
        (["GB,", "+5130-00007", "Europe/London"], "unknown country code ''"),
        (["GB", "+5199-00007", "Europe/London"], "invalid coordinates"),
        (["GB", "+5130-00007", ""], "empty zone name"),
        (["GB", "+5130-00007", "Mars/Olympus_Mons"], "'Mars/Olympus_Mons' is not in the zone"),
        (["GB", "+5130-00007", "../etc/passwd"], "is not in the zone database"),
    ],
)
def test_parse_zone_row_rejects(tz_atlas, fields, fragment):
    with pytest.raises(ValueError) as caught:
        tz_atlas.parse_zone_row(fields, COUNTRIES)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (timedelta(0), "+00:00"),
        (timedelta(hours=5, minutes=30), "+05:30"),
        (timedelta(hours=-3, minutes=-30), "-03:30"),
        (timedelta(hours=-10), "-10:00"),
        (timedelta(hours=14), "+14:00"),
        (timedelta(minutes=-75, seconds=-14), "-01:15:14"),
    ],
)
def test_utc_offset_text(tz_atlas, offset, text):
    assert tz_atlas.utc_offset_text(offset) == text


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/London", True),
        ("America/New_York", True),
        ("Australia/Sydney", True),
        ("Asia/Kolkata", False),
        ("Asia/Tokyo", False),
        ("UTC", False),
    ],
)
def test_observes_dst(tz_atlas, zone, expected):
    assert tz_atlas.observes_dst(zoneinfo.ZoneInfo(zone), 2024) is expected


def tab_rows(tz_atlas) -> list[str]:
    zones_file, _ = tz_atlas.find_zone_tables()
    lines = zones_file.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def select_zones(database):
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute("SELECT * FROM zones ORDER BY zone").fetchall()
        names = [
            description[0] for description in connection.execute("SELECT * FROM zones").description
        ]
    finally:
        connection.close()
    return [dict(zip(names, row, strict=True)) for row in rows]


def test_run_twice_upserts(tz_atlas, tmp_path):
    expected_zones = sorted(line.split("\t")[2] for line in tab_rows(tz_atlas))

    first = tz_atlas.build_pipeline(tmp_path, now=WINTER).run()
    second = tz_atlas.build_pipeline(tmp_path, now=SUMMER).run()

    assert first.read == len(expected_zones)
    assert first.written == len(expected_zones)
    assert first.dropped == 0
    assert second.written == first.written
    rows = select_zones(tmp_path / "tz_atlas.sqlite")
    assert [row["zone"] for row in rows] == expected_zones
    assert {row["as_of"] for row in rows} == {"2024-07-15T12:00:00Z"}
    jsonl = (tmp_path / "tz_atlas.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["zone"] for line in jsonl) == expected_zones


@pytest.fixture(scope="module")
def atlas_by_season(tz_atlas, tmp_path_factory):
    """Run the atlas once for a winter and once for a summer instant; return rows by zone."""
    rows = {}
    for season, now in (("winter", WINTER), ("summer", SUMMER)):
        out = tmp_path_factory.mktemp(season)
        tz_atlas.build_pipeline(out, now=now).run()
        rows[now] = {row["zone"]: row for row in select_zones(out / "tz_atlas.sqlite")}
    return rows


@pytest.mark.parametrize(
    ("now", "zone", "offset", "dst"),
    [
        (WINTER, "Europe/London", "+00:00", 1),
        (SUMMER, "Europe/London", "+01:00", 1),
        (WINTER, "America/New_York", "-05:00", 1),
        (SUMMER, "America/New_York", "-04:00", 1),
        (WINTER, "Australia/Sydney", "+11:00", 1),
        (SUMMER, "Australia/Sydney", "+10:00", 1),
        (WINTER, "Asia/Kolkata", "+05:30", 0),
        (SUMMER, "Asia/Tokyo", "+09:00", 0),
        (WINTER, "Asia/Kathmandu", "+05:45", 0),
    ],
)
def test_known_offsets(atlas_by_season, now, zone, offset, dst):
    row = atlas_by_season[now][zone]

    assert row["utc_offset"] == offset
    assert row["observes_dst"] == dst


def test_sqlite_row_fields(atlas_by_season):
    dubai = atlas_by_season[WINTER]["Asia/Dubai"]

    assert dubai["country_codes"].split(",")[:2] == ["AE", "OM"]
    assert json.loads(dubai["countries"])[0] == "United Arab Emirates"
    assert dubai["utc_offset_seconds"] == 4 * 3600
    assert dubai["abbreviation"] == "+04"
    assert dubai["latitude"] == pytest.approx(25.3)
    assert dubai["as_of"] == "2024-01-15T12:00:00Z"


def write_tables(tmp_path, zone_lines: list[str]):
    zones = tmp_path / "zone1970.tab"
    countries = tmp_path / "iso3166.tab"
    zones.write_text("# zones\n" + "\n".join(zone_lines) + "\n", encoding="utf-8")
    countries.write_text(
        "# countries\n" + "".join(f"{code}\t{name}\n" for code, name in COUNTRIES.items()),
        encoding="utf-8",
    )
    return zones, countries


def test_malformed_rows_logged_and_dropped(tz_atlas, tmp_path, caplog):
    tables = write_tables(
        tmp_path,
        [
            "AE,OM\t+2518+05518\tAsia/Dubai",
            "GB\t+513030-0000731\tEurope/London",
            "IN\t+2232+08822",
            "ZZ\t+2232+08822\tAsia/Kolkata",
            "IN\t+2299+08822\tAsia/Kolkata",
            "IN\t+2232+08822\tAsia/Not_A_City",
        ],
    )
    out = tmp_path / "out"

    with caplog.at_level(logging.WARNING, logger="tz_atlas"):
        stats = tz_atlas.build_pipeline(out, now=WINTER, tables=tables).run()

    assert (stats.read, stats.written, stats.dropped) == (6, 2, 4)
    messages = [record.getMessage() for record in caplog.records if record.name == "tz_atlas"]
    assert len(messages) == 4
    assert messages[0].startswith("zone1970.tab line 4 dropped: expected 3 or 4")
    assert "line 5 dropped: unknown country code 'ZZ'" in messages[1]
    assert "line 6 dropped: invalid coordinates '+2299+08822'" in messages[2]
    assert "line 7 dropped: zone 'Asia/Not_A_City'" in messages[3]
    assert [row["zone"] for row in select_zones(out / "tz_atlas.sqlite")] == [
        "Asia/Dubai",
        "Europe/London",
    ]


def test_output_folder_from_environment(tz_atlas, examples_out):
    stats = tz_atlas.build_pipeline(now=WINTER).run()

    assert stats.written > 0
    assert (examples_out / "tz_atlas.sqlite").is_file()
    assert (examples_out / "tz_atlas.jsonl").is_file()


def test_naive_now_rejected(tz_atlas):
    with pytest.raises(ValueError, match="timezone-aware"):
        tz_atlas.build_pipeline(now=datetime(2024, 1, 1))  # noqa: DTZ001 - the naive value is the test


def test_module_pipeline_is_the_atlas(tz_atlas):
    assert tz_atlas.pipeline.name == "tz_atlas"
