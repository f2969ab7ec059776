"""Bytes of the FileStore files: encoding, strict decoding, record checks and salvage.

The rules here define the file format that both backends share: the native
core must produce the same bytes and report the same damage, with the same
reason text and line. docs/file-store.md states them for implementers.

A record at this level is a dict of the eight `FIELDS`, each a str or None.
Times are RFC 3339 UTC strings with microseconds, as in
`2024-01-01T02:00:00.000000Z`, so their string order is their time order.

Damage is checked in this order, and the first problem found is reported:

1. invalid UTF-8, at the first invalid byte.
2. invalid JSON or nesting deeper than `MAX_DEPTH`, at the first character
   where the text stops being the start of a valid document. JSON means RFC
   8259, which has no NaN, and the store also rejects escaped lone
   surrogates, whose handling RFC 8259 calls unpredictable.
3. a duplicate key in an object, the first found when objects end, in order.
4. a wrong shape: the top level, the version, the keys, then each record.
"""

from __future__ import annotations

import calendar
import json
import operator
import re
from collections.abc import Callable
from json.encoder import encode_basestring as _encode_string
from typing import Final

__all__ = [
    "FIELDS",
    "MAX_DEPTH",
    "STATUSES",
    "VERSION",
    "DamageError",
    "Record",
    "decode_journal_line",
    "decode_snapshot",
    "encode_journal_line",
    "encode_snapshot",
    "is_blank",
    "is_utc_time",
    "quote",
    "record_problem",
    "salvage_snapshot",
    "scan_json",
]

Record = dict[str, str | None]

VERSION: Final = 1
FIELDS: Final = (
    "id",
    "pipeline_name",
    "job_id",
    "status",
    "started_at",
    "ended_at",
    "error",
    "scheduled_for",
)
STATUSES: Final = ("running", "succeeded", "failed", "canceled")
MAX_DEPTH: Final = 16
"""Maximum number of nested objects and arrays in a store file. A valid store needs 3."""

_FIELD_SET: Final = frozenset(FIELDS)
_NOT_NULL: Final = frozenset(("id", "pipeline_name", "job_id", "status", "started_at"))
_NOT_BLANK: Final = frozenset(("id", "pipeline_name", "job_id"))
_TIMES: Final = frozenset(("started_at", "ended_at", "scheduled_for"))
_STATUS_SET: Final = frozenset(STATUSES)

# The code points with the Unicode White_Space property (Rust's char::is_whitespace).
# Python's str.isspace() differs: it also accepts U+001C to U+001F.
_WHITESPACE: Final = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_QUOTE_LIMIT: Final = 40
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_TIME: Final = re.compile(
    r"(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z"
)


def is_blank(text: str) -> bool:
    """Return True for an empty string or one of only White_Space characters."""
    return all(char in _WHITESPACE for char in text)


def quote(text: str) -> str:
    """Quote `text` as a JSON string for a message, cut to its first 40 code points."""
    if len(text) > _QUOTE_LIMIT:
        text = text[:_QUOTE_LIMIT] + "..."
    return json.dumps(text, ensure_ascii=False)


def is_utc_time(text: str) -> bool:
    """Return True for a valid `YYYY-MM-DDTHH:MM:SS.ffffffZ` time in years 1 to 9999."""
    if _TIME.fullmatch(text) is None:
        return False
    day = text[8:10]
    return day <= "28" or int(day) <= calendar.monthrange(int(text[:4]), int(text[5:7]))[1]


def record_problem(value: object, *, check_surrogates: bool = False) -> str | None:
    """Return what makes `value` an invalid record, or None when it is valid.

    Fields are checked in `FIELDS` order. Lone surrogates can only come from
    Python callers (the decoder rejects them), so only `upsert` checks them.
    """
    if _is_valid_record(value) and not (check_surrogates and _has_surrogate(value)):  # type: ignore[arg-type]
        return None
    return _describe_record_problem(value, check_surrogates=check_surrogates)


def _describe_record_problem(value: object, *, check_surrogates: bool) -> str | None:
    if not isinstance(value, dict):
        return "not a JSON object"
    for name in FIELDS:
        if name not in value:
            return f'missing field "{name}"'
    if len(value) != len(FIELDS):
        extra = min(key for key in value if key not in _FIELD_SET)
        return f"unexpected field {quote(extra)}"
    for name in FIELDS:
        problem = _field_problem(name, value[name], check_surrogates=check_surrogates)
        if problem is not None:
            return problem
    return None


_get_fields: Final = operator.itemgetter(*FIELDS)


def _is_valid_record(value: object) -> bool:
    """Return True for a valid record, faster than `record_problem` finds that out.

    Loading a snapshot checks every record, so this is on the path of every
    compaction by a process that had not read the store yet.
    """
    if type(value) is not dict or value.keys() != _FIELD_SET:
        return False
    run_id, pipeline_name, job_id, status, started_at, ended_at, error, scheduled_for = (
        _get_fields(value)
    )
    return (
        type(run_id) is str
        and type(pipeline_name) is str
        and type(job_id) is str
        and not (is_blank(run_id) or is_blank(pipeline_name) or is_blank(job_id))
        and type(status) is str
        and status in _STATUS_SET
        and type(started_at) is str
        and is_utc_time(started_at)
        and (ended_at is None or (type(ended_at) is str and is_utc_time(ended_at)))
        and (error is None or type(error) is str)
        and (scheduled_for is None or (type(scheduled_for) is str and is_utc_time(scheduled_for)))
    )


def _has_surrogate(record: Record) -> bool:
    return any(value is not None and _SURROGATE.search(value) for value in record.values())


def _field_problem(name: str, field: object, *, check_surrogates: bool) -> str | None:
    if field is None:
        return f'field "{name}" must be a string, not null' if name in _NOT_NULL else None
    if not isinstance(field, str):
        return f'field "{name}" must be a string or null'
    if check_surrogates and _SURROGATE.search(field) is not None:
        return f'field "{name}" contains a lone surrogate'
    return _text_problem(name, field)


def _text_problem(name: str, field: str) -> str | None:
    if name in _NOT_BLANK and is_blank(field):
        return f'field "{name}" must not be blank'
    if name == "status" and field not in _STATUS_SET:
        return (
            f'field "status" must be "running", "succeeded", "failed" or "canceled",'
            f" not {quote(field)}"
        )
    if name in _TIMES and not is_utc_time(field):
        return (
            f'field "{name}" must be a UTC time like "2024-01-01T02:00:00.000000Z",'
            f" not {quote(field)}"
        )
    return None


# --- Encoding -----------------------------------------------------------------


def encode_journal_line(record: Record) -> bytes:
    """Encode one journal line: compact JSON, keys sorted, UTF-8, then a newline."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


_SORTED_FIELDS: Final = tuple(sorted(FIELDS))
_FIELD_PREFIXES: Final = tuple(f'      "{name}": ' for name in _SORTED_FIELDS)


def encode_snapshot(runs: dict[str, Record]) -> bytes:
    """Encode a snapshot: two-space indented JSON, keys sorted, UTF-8, final newline.

    The bytes are those of `json.dumps({"runs": runs, "version": 1}, indent=2,
    sort_keys=True, ensure_ascii=False) + "\n"` for valid records. They are
    assembled here with the string escaper that json.dumps uses, because the
    json module's indenting encoder is pure Python and about twice as slow.
    """
    if not runs:
        return b'{\n  "runs": {},\n  "version": 1\n}\n'
    blocks = []
    for run_id in sorted(runs):
        record = runs[run_id]
        members = ",\n".join(
            prefix + ("null" if record[name] is None else _encode_string(record[name]))  # type: ignore[arg-type]
            for prefix, name in zip(_FIELD_PREFIXES, _SORTED_FIELDS, strict=True)
        )
        blocks.append(f"    {_encode_string(run_id)}: {{\n{members}\n    }}")
    text = '{\n  "runs": {\n' + ",\n".join(blocks) + '\n  },\n  "version": 1\n}\n'
    return text.encode("utf-8")


# --- Strict syntax scan -------------------------------------------------------


class DamageError(Exception):
    """Damage found while decoding a snapshot or a journal line.

    `kind` is "utf-8", "syntax", "end" (the text ends too early), "depth",
    "duplicate" or "shape". `offset` is where the scan stopped, in bytes for
    "utf-8" and in characters otherwise, and None for the last two kinds.
    `detail` is the duplicate key or the shape problem. `decode_snapshot`
    sets `line` from the offset.
    """

    def __init__(self, kind: str, offset: int | None, detail: str = "") -> None:
        super().__init__(kind, offset, detail)
        self.kind = kind
        self.offset = offset
        self.detail = detail
        self.line: int | None = None

    def reason(self, unit: str) -> str:
        """Return the reason for a message. `unit`, "file" or "line", is what ended early."""
        if self.kind == "utf-8":
            return "invalid UTF-8"
        if self.kind == "syntax":
            return "invalid JSON"
        if self.kind == "end":
            return f"invalid JSON: unexpected end of {unit}"
        if self.kind == "depth":
            return f"invalid JSON: nested deeper than {MAX_DEPTH} levels"
        if self.kind == "duplicate":
            return f"duplicate key {quote(self.detail)}"
        return self.detail


_WS: Final = re.compile(r"[ \t\n\r]*")
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_DIGITS: Final = frozenset("0123456789")
_SIMPLE_ESCAPES: Final = frozenset('"\\/bfnrt')
_STRING_PATTERN: Final = (
    r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u(?![dD][89a-fA-F])[0-9a-fA-F]{4}'
    r"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})*\""
)
_NUMBER_PATTERN: Final = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_STRING: Final = re.compile(_STRING_PATTERN)
# Complete object members with a scalar value and a comma after them. The scan
# skips runs of them in one match, which makes it fast on a whole snapshot.
# Anything this pattern does not match is scanned one character at a time.
_MEMBERS: Final = re.compile(
    rf"(?:[ \t\n\r]*{_STRING_PATTERN}[ \t\n\r]*:[ \t\n\r]*"
    rf"(?:{_STRING_PATTERN}|null|true|false|{_NUMBER_PATTERN})[ \t\n\r]*,)*"
)


def scan_json(text: str) -> DamageError | None:
    """Return the first syntax or depth problem of `text` as one JSON document, or None.

    The offset is the first character at which `text` stops being the start
    of a valid document (RFC 8259 with no lone surrogate escapes), or
    `len(text)` with kind "end" when the text ends too early. Opening a
    container inside `MAX_DEPTH` others is a "depth" problem at that bracket.
    """
    try:
        _Scanner(text).run()
    except DamageError as problem:
        return problem
    return None


class _Scanner:
    """A syntax check of one JSON document, as a state machine over its characters.

    Each state method consumes some text and returns the next state, or None
    at the end of a valid document. Problems are raised as DamageError.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.end = len(text)
        self.position = 0
        self.open_brackets: list[str] = []

    def run(self) -> None:
        state: Callable[[], object] | None = self.value
        while state is not None:
            self.position = _skip_whitespace(self.text, self.position)
            state = state()  # type: ignore[assignment]

    def current(self) -> str:
        """Return the character at the position, raising an "end" problem past the end."""
        if self.position >= self.end:
            raise DamageError("end", self.end)
        return self.text[self.position]

    def value(self) -> Callable[[], object]:
        char = self.current()
        if char not in "{[":
            self.position = _scan_scalar(self.text, self.position)
            return self.after
        if len(self.open_brackets) == MAX_DEPTH:
            raise DamageError("depth", self.position)
        self.open_brackets.append(char)
        self.position = _skip_whitespace(self.text, self.position + 1)
        closer = "}" if char == "{" else "]"
        if self.position < self.end and self.text[self.position] == closer:
            self.open_brackets.pop()
            self.position += 1
            return self.after
        return self.key if char == "{" else self.value

    def key(self) -> Callable[[], object]:
        match = _MEMBERS.match(self.text, self.position)
        self.position = _skip_whitespace(self.text, match.end())  # type: ignore[union-attr]
        if self.current() != '"':
            raise DamageError("syntax", self.position)
        self.position = _skip_whitespace(self.text, _scan_string(self.text, self.position))
        if self.current() != ":":
            raise DamageError("syntax", self.position)
        self.position += 1
        return self.value

    def after(self) -> Callable[[], object] | None:
        if not self.open_brackets:
            if self.position < self.end:
                raise DamageError("syntax", self.position)
            return None
        char = self.current()
        inside_object = self.open_brackets[-1] == "{"
        if char == ",":
            self.position += 1
            return self.key if inside_object else self.value
        if char != ("}" if inside_object else "]"):
            raise DamageError("syntax", self.position)
        self.open_brackets.pop()
        self.position += 1
        return self.after


def _skip_whitespace(text: str, position: int) -> int:
    return _WS.match(text, position).end()  # type: ignore[union-attr]


def _scan_scalar(text: str, position: int) -> int:
    char = text[position]
    if char == '"':
        return _scan_string(text, position)
    if char == "-" or char in _DIGITS:
        return _scan_number(text, position)
    for word in ("true", "false", "null"):
        if char == word[0]:
            return _scan_word(text, position, word)
    raise DamageError("syntax", position)


def _scan_word(text: str, position: int, word: str) -> int:
    for index, expected in enumerate(word):
        if position + index >= len(text):
            raise DamageError("end", len(text))
        if text[position + index] != expected:
            raise DamageError("syntax", position + index)
    return position + len(word)


def _scan_number(text: str, position: int) -> int:
    end = len(text)

    def need_digit(at: int) -> None:
        if at >= end:
            raise DamageError("end", end)
        if text[at] not in _DIGITS:
            raise DamageError("syntax", at)

    def skip_digits(at: int) -> int:
        while at < end and text[at] in _DIGITS:
            at += 1
        return at

    if text[position] == "-":
        position += 1
    need_digit(position)
    position = position + 1 if text[position] == "0" else skip_digits(position)
    if position < end and text[position] == ".":
        need_digit(position + 1)
        position = skip_digits(position + 1)
    if position < end and text[position] in "eE":
        position += 1
        if position < end and text[position] in "+-":
            position += 1
        need_digit(position)
        position = skip_digits(position)
    return position


def _scan_string(text: str, position: int) -> int:
    """Return the offset just past the string that starts at `position`."""
    match = _STRING.match(text, position)
    if match is not None:
        return match.end()

    # The fast pattern failed, so find the first bad character one at a time.
    end = len(text)
    position += 1
    while True:
        if position >= end:
            raise DamageError("end", end)
        char = text[position]
        if char == '"':
            return position + 1
        if char < " ":
            raise DamageError("syntax", position)
        position = _scan_escape(text, position + 1) if char == "\\" else position + 1


def _scan_escape(text: str, position: int) -> int:
    """Return the offset past the escape whose backslash is just before `position`."""
    end = len(text)
    if position >= end:
        raise DamageError("end", end)
    char = text[position]
    if char in _SIMPLE_ESCAPES:
        return position + 1
    if char != "u":
        raise DamageError("syntax", position)
    high = _scan_hex4(text, position + 1, low_surrogate=False)
    position += 5
    if not 0xD800 <= high <= 0xDBFF:
        return position

    # A high surrogate escape must be followed by a low surrogate escape.
    for expected in "\\u":
        if position >= end:
            raise DamageError("end", end)
        if text[position] != expected:
            raise DamageError("syntax", position)
        position += 1
    _scan_hex4(text, position, low_surrogate=True)
    return position + 4


def _scan_hex4(text: str, position: int, *, low_surrogate: bool) -> int:
    """Return the value of the 4 hex digits at `position`, checking the surrogate rule.

    With `low_surrogate` the value must be DC00-DFFF, and without it the value
    must not be, because a low surrogate is valid only after a high one.
    """
    end = len(text)
    for index in range(4):
        at = position + index
        if at >= end:
            raise DamageError("end", end)
        digit = text[at]
        if digit not in _HEX:
            raise DamageError("syntax", at)
        if low_surrogate:
            if (index == 0 and digit not in "dD") or (index == 1 and digit not in "cdefCDEF"):
                raise DamageError("syntax", at)
        elif index == 1 and text[position] in "dD" and digit in "cdefCDEF":
            raise DamageError("syntax", at)
    return int(text[position : position + 4], 16)


# --- Decoding -----------------------------------------------------------------


class _Number:
    """A JSON number kept as its text: store files hold no numbers except the version."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _ConstantError(Exception):
    pass


def _object_from_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return result


def _reject_constant(name: str) -> object:
    raise _ConstantError(name)


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object_from_pairs,
    parse_int=_Number,
    parse_float=_Number,
    parse_constant=_reject_constant,
)
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


def _decode_document(text: str) -> object:
    """Decode one strict JSON document, raising DamageError in the documented order."""
    try:
        value = _DECODER.decode(text)
    except (json.JSONDecodeError, _ConstantError, _DuplicateKeyError, RecursionError) as error:
        # Python's decoder accepts NaN and lone surrogates, and the duplicate
        # key hook stops it early, so the strict scan decides what comes first.
        problem = scan_json(text)
        if problem is not None:
            raise problem from None
        if isinstance(error, _DuplicateKeyError):
            raise DamageError("duplicate", None, error.key) from None
        raise DamageError("syntax", getattr(error, "pos", None)) from None

    # Python decodes escaped lone surrogates, which the store rejects.
    if _SURROGATE_ESCAPE.search(text) is not None:
        problem = scan_json(text)
        if problem is not None:
            raise problem
    return value


def _shape_problem(text: str, detail: str) -> DamageError:
    # Nesting past MAX_DEPTH outranks a shape problem, and only the scan detects it.
    return scan_json(text) or DamageError("shape", None, detail)


def _describe(value: object) -> str:
    if isinstance(value, _Number):
        return value.text if len(value.text) <= _QUOTE_LIMIT else value.text[:_QUOTE_LIMIT] + "..."
    if isinstance(value, str):
        return quote(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "an object" if isinstance(value, dict) else "an array"


def decode_journal_line(line: bytes) -> Record:
    """Decode one journal line (without its newline) into a valid record.

    Raises DamageError, whose offset counts from the start of the line.
    """
    if not line:
        raise DamageError("shape", None, "empty line")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DamageError("utf-8", error.start) from None
    value = _decode_document(text)
    problem = record_problem(value)
    if problem is not None:
        raise _shape_problem(text, problem)
    return value  # type: ignore[return-value]


def decode_snapshot(data: bytes) -> dict[str, Record]:
    """Decode a whole snapshot file into its runs by id.

    Raises DamageError, with `line` set (1-based) when the damage has an offset.
    """
    if not data:
        raise DamageError("shape", None, "empty file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        problem = DamageError("utf-8", error.start)
        problem.line = data.count(b"\n", 0, error.start) + 1
        raise problem from None
    try:
        document = _decode_document(text)
        shape = _snapshot_problem(document)
        if shape is not None:
            raise _shape_problem(text, shape)
    except DamageError as problem:
        if problem.offset is not None:
            problem.line = text.count("\n", 0, problem.offset) + 1
        raise
    return document["runs"]  # type: ignore[index, no-any-return]


def _snapshot_problem(document: object) -> str | None:
    if not isinstance(document, dict):
        return "the top level is not a JSON object"
    version_problem = _version_problem(document)
    if version_problem is not None:
        return version_problem
    extra = sorted(key for key in document if key not in ("runs", "version"))
    if extra:
        return f"unexpected key {quote(extra[0])}"
    if "runs" not in document:
        return 'missing key "runs"'
    runs = document["runs"]
    if not isinstance(runs, dict):
        return '"runs" is not a JSON object'
    return _runs_problem(runs)


def _version_problem(document: dict[str, object]) -> str | None:
    if "version" not in document:
        return 'missing key "version"'
    version = document["version"]
    if isinstance(version, _Number) and version.text == str(VERSION):
        return None
    return f"unsupported version {_describe(version)}: expected {VERSION}"


def _runs_problem(runs: dict[str, object]) -> str | None:
    # Report the problem of the smallest run id, so the order of the file
    # does not change which problem is named.
    first_bad: tuple[str, str] | None = None
    for run_id, record in runs.items():
        if first_bad is not None and run_id >= first_bad[0]:
            continue
        problem = record_problem(record)
        if problem is None and record["id"] != run_id:  # type: ignore[index]
            problem = f'field "id" is {quote(record["id"])}, not the key of the run'  # type: ignore[index]
        if problem is not None:
            first_bad = (run_id, problem)
    if first_bad is None:
        return None
    return f"run {quote(first_bad[0])}: {first_bad[1]}"


# --- Salvage ------------------------------------------------------------------

_BLOCK_START_PREFIX: Final = b'    "'
_BLOCK_START_SUFFIX: Final = b'": {'
_BLOCK_ENDS: Final = (b"    }", b"    },")


def salvage_snapshot(data: bytes) -> dict[str, Record]:
    """Return every valid record that can be read from a damaged snapshot.

    When the file is valid JSON with a "runs" object, each valid record in it
    is kept, whatever the version. Otherwise the file is read as the layout
    this module writes, in which a record is the lines from `    "<id>": {`
    to the next `    }` or `    },`. Each such block that decodes on its own
    to a valid record under its own id is kept, the last one winning.
    """
    try:
        document = _decode_document(data.decode("utf-8"))
    except (UnicodeDecodeError, DamageError):
        return _salvage_blocks(data)
    runs = document.get("runs") if isinstance(document, dict) else None
    if not isinstance(runs, dict):
        return _salvage_blocks(data)
    return {
        run_id: record
        for run_id, record in runs.items()
        if record_problem(record) is None and record["id"] == run_id
    }


def _salvage_blocks(data: bytes) -> dict[str, Record]:
    runs: dict[str, Record] = {}
    block: list[bytes] | None = None
    for line in data.split(b"\n"):
        is_start = (
            line.startswith(_BLOCK_START_PREFIX)
            and line.endswith(_BLOCK_START_SUFFIX)
            and len(line) >= len(_BLOCK_START_PREFIX) + len(_BLOCK_START_SUFFIX)
        )
        if is_start:
            block = [line]
        elif block is not None:
            if line in _BLOCK_ENDS:
                block.append(b"    }")
                _keep_block(b"{" + b"\n".join(block) + b"}", runs)
                block = None
            else:
                block.append(line)
    return runs


def _keep_block(text: bytes, runs: dict[str, Record]) -> None:
    try:
        value = _decode_document(text.decode("utf-8"))
    except (UnicodeDecodeError, DamageError):
        return
    if not isinstance(value, dict) or len(value) != 1:
        return
    ((run_id, record),) = value.items()
    if record_problem(record) is None and record["id"] == run_id:
        runs[run_id] = record
