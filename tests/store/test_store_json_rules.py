"""The reference rules for reading store files: strict JSON, error positions, record checks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from millpond._pure.store_format import (
    MAX_DEPTH,
    DamageError,
    _describe_record_problem,
    decode_journal_line,
    decode_snapshot,
    encode_journal_line,
    encode_snapshot,
    record_problem,
    salvage_snapshot,
    scan_json,
)

RECORD = {
    "id": "run-1",
    "pipeline_name": "orders",
    "job_id": "job-1",
    "status": "succeeded",
    "started_at": "2024-01-01T02:00:00.000000Z",
    "ended_at": "2024-01-01T02:00:30.000000Z",
    "error": None,
    "scheduled_for": None,
}


@pytest.mark.parametrize(
    ("text", "kind", "offset"),
    [
        ("[1,]", "syntax", 3),
        ('{"a" 1}', "syntax", 5),
        ('{"a":1,}', "syntax", 7),
        ("[01]", "syntax", 2),
        ("[1.]", "syntax", 3),
        ("[tru]", "syntax", 4),
        ("[NaN]", "syntax", 1),
        ("[-Infinity]", "syntax", 2),
        ("\ufeff{}", "syntax", 0),
        ('"\\x"', "syntax", 2),
        ('{"a":"b\nc"}', "syntax", 7),
        ('"\\ud800"', "syntax", 7),
        ('"\\ud800\\u0041"', "syntax", 9),
        ('"\\udc00"', "syntax", 4),
        ("{} {}", "syntax", 3),
        ("", "end", 0),
        (" \n ", "end", 3),
        ("[tru", "end", 4),
        ('{"a":1e', "end", 7),
        ('{\n"a":\n', "end", 7),
        ('"abc', "end", 4),
        ("[" * (MAX_DEPTH + 1), "depth", MAX_DEPTH),
    ],
)
def test_scan_finds_first_invalid_character(text, kind, offset):
    problem = scan_json(text)
    assert problem is not None
    assert (problem.kind, problem.offset) == (kind, offset)


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "[]",
        '{"a":[1,-2.5e+3,{"b":null}],"c":true,"d":false}',
        '"\\ud83d\\ude00 \\u00e9 \\/"',
        "[" * MAX_DEPTH + "]" * MAX_DEPTH,
        " \t\r\n0 ",
    ],
)
def test_scan_accepts_valid_json(text):
    assert scan_json(text) is None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


def strict_line(text):
    """Return None if Python's json accepts `text` under the store's rules, else its error line."""

    def reject(name):
        raise ValueError(name)

    try:
        value = json.loads(text, parse_constant=reject)
    except json.JSONDecodeError as error:
        return error.lineno
    except (ValueError, RecursionError):
        return -1
    written = json.dumps(value, ensure_ascii=False)
    if any("\ud800" <= char <= "\udfff" for char in written):
        return -1
    return None


def depth(value):
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@given(json_values, st.integers(0, 2), st.booleans())
def test_scan_accepts_what_json_writes(value, indent, ascii_only):
    text = json.dumps(value, indent=indent or None, ensure_ascii=ascii_only)
    assert scan_json(text) is None


@given(json_values, st.data())
def test_scan_agrees_with_json_module_on_damage(value, data):
    text = json.dumps(value, indent=1)
    position = data.draw(st.integers(0, len(text)))
    damage = data.draw(st.sampled_from(["cut", "delete", "insert"]))
    if damage == "cut":
        text = text[:position]
    elif damage == "delete":
        text = text[:position] + text[position + 1 :]
    else:
        text = (
            text[:position]
            + data.draw(st.sampled_from(list('{}[]:,"\\ 0-eEnN\n')))
            + text[position:]
        )

    problem = scan_json(text)
    expected_line = strict_line(text)
    if problem is None:
        assert expected_line is None
        return
    if problem.kind == "depth":
        return
    assert expected_line is not None
    if expected_line > 0:
        # Python reports an unterminated string at its start, but strings
        # never span lines, so the line agrees with the first invalid character.
        assert text.count("\n", 0, problem.offset) + 1 == expected_line


def test_journal_line_rules_in_order():
    valid = encode_journal_line(RECORD)[:-1]
    cases = {
        b"": "empty line",
        b"\xff" + valid: "invalid UTF-8",
        valid[:-1]: "invalid JSON: unexpected end of line",
        b"[]": "not a JSON object",
        b'{"id":"a","id":"b"}': 'duplicate key "id"',
        b'{"id":"a","id":"b", NaN}': "invalid JSON",
        valid.replace(b'"status":"succeeded"', b'"status":"done"'): (
            'field "status" must be "running", "succeeded", "failed" or "canceled", not "done"'
        ),
        valid.replace(b'"error":null', b'"error":[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]'): (
            f"invalid JSON: nested deeper than {MAX_DEPTH} levels"
        ),
        valid.replace(b'"error":null', b'"error":["x"]'): 'field "error" must be a string or null',
    }
    for line, reason in cases.items():
        with pytest.raises(DamageError) as caught:
            decode_journal_line(line)
        assert caught.value.reason("line") == reason, line
    assert decode_journal_line(valid) == RECORD


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"id": ""}, 'field "id" must not be blank'),
        ({"pipeline_name": "\u3000\t"}, 'field "pipeline_name" must not be blank'),
        ({"job_id": None}, 'field "job_id" must be a string, not null'),
        ({"status": 1}, 'field "status" must be a string or null'),
        ({"started_at": "2024-01-01T02:00:00Z"}, 'field "started_at" must be a UTC time like'),
        ({"ended_at": "2023-02-29T00:00:00.000000Z"}, 'field "ended_at" must be a UTC time'),
        ({"scheduled_for": "0000-01-01T00:00:00.000000Z"}, 'field "scheduled_for" must be'),
        ({"started_at": "2024-01-01T24:00:00.000000Z"}, 'field "started_at" must be'),
        # A full-width digit two: only ASCII digits are valid.
        ({"started_at": "\uff12024-01-01T02:00:00.000000Z"}, 'field "started_at" must be'),
        ({"extra": "x"}, 'unexpected field "extra"'),
        ({"error": "a" * 50, "status": "x" * 50}, 'not "' + "x" * 40 + '..."'),
    ],
)
def test_record_problem_messages(change, problem):
    assert problem in record_problem({**RECORD, **change})


def test_record_problem_accepts_leap_day_and_valid_record():
    assert record_problem(RECORD) is None
    assert record_problem({**RECORD, "ended_at": "2024-02-29T23:59:59.999999Z"}) is None


def test_record_problem_missing_field_and_surrogates():
    without_error = {key: value for key, value in RECORD.items() if key != "error"}
    assert record_problem(without_error) == 'missing field "error"'
    with_surrogate = {**RECORD, "error": "a\ud800"}
    assert record_problem(with_surrogate) is None
    assert (
        record_problem(with_surrogate, check_surrogates=True)
        == 'field "error" contains a lone surrogate'
    )


def test_snapshot_rules_in_order():
    good = encode_snapshot({"run-1": RECORD})
    cases = [
        (b"", None, "empty file"),
        (
            good.replace(b'"version": 1', b'"version": 2'),
            None,
            "unsupported version 2: expected 1",
        ),
        (good.replace(b'"version": 1', b'"version": 1.0'), None, "unsupported version 1.0"),
        (good.replace(b'"version": 1', b'"version": "1"'), None, 'unsupported version "1"'),
        (good.replace(b'"version": 1', b'"version": NaN'), 14, "invalid JSON"),
        (good.replace(b'"runs": {', b'"runs": {"run-1": {}, '), None, 'duplicate key "run-1"'),
        (good.replace(b'"version"', b'"extra": 0, "version"'), None, 'unexpected key "extra"'),
        (good.replace(b'"id": "run-1"', b'"id": "run-2"'), None, 'run "run-1": field "id" is'),
        (good[:-3], 14, "invalid JSON: unexpected end of file"),
        (good.replace(b"orders", b"ord\xc3ers"), 8, "invalid UTF-8"),
        (b"[]", None, "the top level is not a JSON object"),
        (b'{"version": 1}', None, 'missing key "runs"'),
        (b'{"runs": [], "version": 1}', None, '"runs" is not a JSON object'),
    ]
    for data, line, reason in cases:
        with pytest.raises(DamageError) as caught:
            decode_snapshot(data)
        assert caught.value.line == line, data
        assert caught.value.reason("file").startswith(reason), data
    assert decode_snapshot(good) == {"run-1": RECORD}


def test_snapshot_reports_smallest_bad_run_id():
    runs = {
        f"run-{number}": {**RECORD, "id": f"run-{number}", "status": "bad"} for number in (5, 3, 9)
    }
    with pytest.raises(DamageError) as caught:
        decode_snapshot(encode_snapshot(runs))
    assert caught.value.reason("file").startswith('run "run-3": field "status"')


def test_salvage_keeps_complete_blocks_of_truncated_snapshot():
    runs = {f"run-{number}": {**RECORD, "id": f"run-{number}"} for number in range(4)}
    data = encode_snapshot(runs)
    cut = data.index(b'"run-3"') + 20
    assert sorted(salvage_snapshot(data[:cut])) == ["run-0", "run-1", "run-2"]


def test_salvage_skips_damaged_block_and_reads_valid_document():
    runs = {f"run-{number}": {**RECORD, "id": f"run-{number}"} for number in range(3)}
    data = encode_snapshot(runs)
    damaged = data.replace(b'"job_id": "job-1",\n      "pipeline_name": "orders"', b"#", 1)
    assert sorted(salvage_snapshot(damaged)) == ["run-1", "run-2"]
    future = data.replace(b'"version": 1', b'"version": 7')
    assert sorted(salvage_snapshot(future)) == ["run-0", "run-1", "run-2"]
    assert salvage_snapshot(b"\x00garbage") == {}


field_values = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "running",
            "failed",
            "2024-02-29T00:00:00.000000Z",
            "2023-02-29T00:00:00.000000Z",
            "0000-01-01T00:00:00.000000Z",
            "2024-01-31T23:59:59.999999Z",
            "2024-04-31T00:00:00.000000Z",
            "",
            " ",
            "\u3000",
        ]
    ),
    st.text(max_size=8),
    st.integers(),
    st.lists(st.none(), max_size=1),
)


@given(st.fixed_dictionaries(dict.fromkeys(RECORD, field_values)), st.booleans())
def test_fast_record_check_agrees_with_detailed(value, drop_one):
    if drop_one:
        value.pop("error")
    detailed = _describe_record_problem(value, check_surrogates=True)
    assert record_problem(value, check_surrogates=True) == detailed


@given(
    st.dictionaries(
        st.text(st.characters(codec="utf-8"), max_size=6),
        st.fixed_dictionaries(
            {
                name: st.none() | st.text(st.characters(codec="utf-8"), max_size=6)
                for name in RECORD
            }
        ),
        max_size=5,
    )
)
def test_snapshot_encoding_equals_json_dumps(runs):
    expected = json.dumps(
        {"runs": runs, "version": 1}, indent=2, sort_keys=True, ensure_ascii=False
    )
    assert encode_snapshot(runs) == (expected + "\n").encode()
