"""`millpond.cli.main()` called in this process, and TARGET parsing."""

from __future__ import annotations

import json
import logging
import sys

import pytest

import millpond
from millpond._target import Target, TargetError, parse_target
from millpond.cli import main

JOB = """
from millpond.etl import Pipeline

import job_helper

pipeline = Pipeline("in_process").read(lambda ctx: job_helper.rows()).write(
    lambda ctx, records: None
)
"""


@pytest.fixture
def job(tmp_path):
    (tmp_path / "job_helper.py").write_text("def rows():\n    return [{'n': 1}, {'n': 2}]\n")
    path = tmp_path / "job.py"
    path.write_text(JOB)
    return path


def test_main_runs_file_target(job, capsys):
    code = main(["run", str(job), "--json"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    document = json.loads(captured.out)
    assert document["pipeline"] == "in_process"
    assert document["read"] == 2


def test_main_restores_import_state(job, capsys):
    path_before = list(sys.path)

    assert main(["run", str(job)]) == 0

    assert sys.path == path_before
    assert "job" not in sys.modules
    capsys.readouterr()


def test_main_twice_reloads_file(job, capsys):
    assert main(["run", str(job), "--json"]) == 0
    job.write_text(JOB.replace('"in_process"', '"edited"'))

    assert main(["run", str(job), "--json"]) == 0

    outputs = capsys.readouterr().out.splitlines()
    assert json.loads(outputs[-1])["pipeline"] == "edited"


def test_main_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"millpond {millpond.__version__} ({millpond.BACKEND} backend)"
    )


def test_main_usage_error_returns_two(capsys):
    assert main([]) == 2
    assert "usage: millpond" in capsys.readouterr().err


def test_main_bad_target_returns_two(tmp_path, capsys):
    assert main(["run", str(tmp_path / "absent.py")]) == 2
    assert capsys.readouterr().err.startswith("millpond: error: file not found")


def test_main_keeps_logging_setup(job, capsys):
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    level_before = root.level

    assert main(["-v", "run", str(job)]) == 0

    assert root.handlers == handlers_before
    assert root.level == level_before
    capsys.readouterr()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jobs/daily.py", Target("jobs/daily.py", None, is_file=True)),
        ("jobs/daily.py:nightly", Target("jobs/daily.py", "nightly", is_file=True)),
        ("daily.py", Target("daily.py", None, is_file=True)),
        ("acme.jobs", Target("acme.jobs", None, is_file=False)),
        ("acme.jobs:build", Target("acme.jobs", "build", is_file=False)),
        ("C:\\jobs\\daily.py", Target("C:\\jobs\\daily.py", None, is_file=True)),
        ("C:\\jobs\\daily.py:nightly", Target("C:\\jobs\\daily.py", "nightly", is_file=True)),
        ("C:/jobs/daily.py:nightly", Target("C:/jobs/daily.py", "nightly", is_file=True)),
        ("d:\\daily.py", Target("d:\\daily.py", None, is_file=True)),
        (
            "\\\\server\\share\\daily.py:x",
            Target("\\\\server\\share\\daily.py", "x", is_file=True),
        ),
        ("data:v2/daily.py", Target("data:v2/daily.py", None, is_file=True)),
    ],
)
def test_parse_target(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty TARGET"),
        (":pipeline", "nothing before ':'"),
        ("jobs.py:", "invalid name ''"),
        ("jobs.py:a.b", "invalid name 'a.b'"),
        ("acme-jobs", "invalid TARGET 'acme-jobs'"),
        ("acme..jobs", "invalid TARGET"),
    ],
)
def test_parse_target_rejects(text, fragment):
    with pytest.raises(TargetError) as caught:
        parse_target(text)
    assert fragment in str(caught.value)


def test_target_str_round_trips():
    assert str(parse_target("C:\\jobs\\daily.py:nightly")) == "C:\\jobs\\daily.py:nightly"
    assert str(parse_target("acme.jobs")) == "acme.jobs"
