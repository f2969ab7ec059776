"""Turn a `location` argument into a result tzinfo and a backend zone.

Both backends receive the TZif bytes that `zoneinfo` reads for the same key:
the first `<folder>/<key>` file over `zoneinfo.TZPATH`, else the resource in
the `tzdata` package.
"""

from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any, Final
from zoneinfo import TZPATH, ZoneInfo

from millpond._backend import impl

_LOCALTIME: Final = Path("/etc/localtime")
_LOCALTIME_KEY: Final = "localtime"


@dataclass(frozen=True)
class Location:
    """A resolved location: the tzinfo of results, the backend zone, a label for repr."""

    tzinfo: tzinfo
    zone: Any
    label: str


def resolve_location(location: object) -> Location:
    """Resolve a ZoneInfo, an IANA name, a fixed `datetime.timezone`, or None (system zone).

    Raises TypeError for other tzinfo classes (pytz, dateutil) and other types,
    and ValueError for unknown zone names.
    """
    if location is None:
        return _system_location()
    if isinstance(location, str):
        return _keyed_location(location)
    if isinstance(location, ZoneInfo):
        return _zoneinfo_location(location)
    if isinstance(location, timezone):
        return _fixed_location(location)
    if isinstance(location, tzinfo):
        kind = f"{type(location).__module__}.{type(location).__qualname__}"
        raise TypeError(
            f"unsupported location type {kind}: expected a zoneinfo.ZoneInfo, an IANA "
            "name such as 'Europe/Berlin', or a fixed datetime.timezone; "
            "for pytz or dateutil zones pass ZoneInfo(name) instead"
        )
    raise TypeError(
        f"invalid location {location!r} ({type(location).__name__}): expected a "
        "zoneinfo.ZoneInfo, an IANA name such as 'Europe/Berlin', a fixed "
        "datetime.timezone, or None for the system's local zone"
    )


def _zoneinfo_location(location: ZoneInfo) -> Location:
    key = location.key
    if key is None:
        raise ValueError(
            f"invalid location {location!r}: a ZoneInfo built from a file without a key "
            "cannot be looked up; use ZoneInfo('Area/City') or pass the IANA name"
        )
    zone = _zone_for_key(key, what="time zone")
    return Location(tzinfo=location, zone=zone, label=repr(key))


def _fixed_location(location: timezone) -> Location:
    offset = location.utcoffset(None)
    if offset % timedelta(seconds=1):
        raise ValueError(
            f"invalid location {location!r}: the offset must be a whole number of seconds"
        )
    zone = impl.Zone.fixed(offset // timedelta(seconds=1))
    label = "timezone.utc" if location == timezone.utc else repr(location)
    return Location(tzinfo=location, zone=zone, label=label)


def _keyed_location(key: str, *, what: str = "time zone") -> Location:
    zone = _zone_for_key(key, what=what)
    return Location(tzinfo=ZoneInfo(key), zone=zone, label=repr(key))


def _system_location() -> Location:
    """Resolve the system's local zone: the TZ variable, else /etc/localtime, else UTC."""
    tz_variable = os.environ.get("TZ")
    if tz_variable is None:
        if not _LOCALTIME.exists():
            return _keyed_location("UTC")
        return _path_location(_LOCALTIME)

    # As in glibc: a leading ':' is dropped, and an empty value means UTC.
    value = tz_variable.removeprefix(":")
    if not value:
        return _keyed_location("UTC")
    if Path(value).is_absolute():
        if not Path(value).is_file():
            raise ValueError(
                f"invalid TZ environment variable {tz_variable!r}: no such file; "
                "set TZ to an IANA name such as 'Europe/Berlin' or pass location="
            )
        return _path_location(Path(value))
    return _keyed_location(value, what="TZ environment variable")


def _path_location(path: Path) -> Location:
    """Resolve a TZif file by path, named after its key when it lies in a zone folder."""
    key = _key_of_path(path)
    if key is not None:
        return _keyed_location(key)
    data = path.read_bytes()
    try:
        zone = impl.Zone.from_tzif(_LOCALTIME_KEY, data)
    except ValueError as error:
        raise ValueError(f"invalid time zone file {path!r}: {error}") from error
    zone_tzinfo = ZoneInfo.from_file(io.BytesIO(data), key=_LOCALTIME_KEY)
    return Location(tzinfo=zone_tzinfo, zone=zone, label=repr(str(path)))


def _key_of_path(path: Path) -> str | None:
    """Return the zone key of `path` when it, or the link it is, points into a TZPATH folder."""
    candidates = [str(path)]
    if path.is_symlink():
        # One level of the link keeps names such as America/Montreal that
        # are themselves links to another zone's file.
        candidates.append(os.path.normpath(path.parent / path.readlink()))
    candidates.append(str(path.resolve()))
    for candidate in candidates:
        for folder in TZPATH:
            relative = os.path.relpath(candidate, folder)
            if not relative.startswith(os.pardir) and _find_tzif(relative) is not None:
                return relative.replace(os.sep, "/")
    return None


def _zone_for_key(key: str, *, what: str) -> Any:
    if not _is_valid_key(key):
        raise ValueError(_unknown(key, what))
    return _cached_zone(key, what)


@functools.lru_cache(maxsize=256)
def _cached_zone(key: str, what: str) -> Any:
    data = _find_tzif(key)
    if data is None:
        raise ValueError(_unknown(key, what))
    try:
        return impl.Zone.from_tzif(key, data)
    except ValueError as error:
        raise ValueError(f"{_unknown(key, what)} ({error})") from error


def _unknown(key: str, what: str) -> str:
    return (
        f"unknown {what} {key!r}: expected an IANA name such as 'Europe/Berlin' "
        "(see zoneinfo.available_timezones())"
    )


def _is_valid_key(key: str) -> bool:
    # The same shape zoneinfo accepts: a relative path that stays inside the folder.
    if not key or Path(key).is_absolute() or "\0" in key:
        return False
    normalized = os.path.normpath(key)
    return normalized == key.replace("/", os.sep) and not normalized.startswith(os.pardir)


def _find_tzif(key: str) -> bytes | None:
    """Return the TZif bytes zoneinfo reads for `key`, or None when it finds none."""
    for folder in TZPATH:
        path = Path(folder, key)
        if path.is_file():
            data = path.read_bytes()
            return data if data.startswith(b"TZif") else None
    try:
        resource = resources.files("tzdata.zoneinfo").joinpath(*key.split("/"))
        data = resource.read_bytes()
    except (ModuleNotFoundError, OSError):
        return None
    return data if data.startswith(b"TZif") else None
