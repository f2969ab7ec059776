"""`millpond run` in a child process: summaries, JSON, exit codes and bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cli_helpers import run_cli, write_source

import millpond


@pytest.fixture
def write_job(tmp_path):
    """Return a function that writes a job file, by default into `tmp_path`."""

    def write(source: str, name: str = "job.py", folder: Path | None = None) -> Path:
        return write_source(folder or tmp_path, source, name)

    return write


@pytest.fixture
def run_millpond(tmp_path):
    """Return a function that runs `python -m millpond ARGS`, by default in `tmp_path`."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
        return run_cli(args, cwd or tmp_path, env)

    return run


COUNTING_JOB = """
    from pathlib import Path

    from millpond.etl import Pipeline

    OUT = Path(__file__).with_name("written.txt")


    def write(ctx, records):
        OUT.write_text(",".join(str(record["n"]) for record in records))


    pipeline = (
        Pipeline("counting")
        .read(lambda ctx: ({"n": n} for n in range(5)))
        .filter(lambda ctx, record: record["n"] % 2 == 0)
        .write(write)
    )
"""

FAILING_JOB = """
    from millpond.etl import Pipeline


    def explode(ctx, record):
        raise ValueError(f"bad record {record['n']}")


    pipeline = (
        Pipeline("failing")
        .read(lambda ctx: [{"n": 1}])
        .transform(explode)
        .write(lambda ctx, records: None)
    )
"""

JSON_KEYS = {
    "pipeline",
    "target",
    "run_id",
    "status",
    "read",
    "written",
    "dropped",
    "duration_seconds",
    "error",
}


def test_version_names_backend(run_millpond):
    result = run_millpond("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"millpond {millpond.__version__} ({millpond.BACKEND} backend)"


def test_run_prints_summary(run_millpond, write_job, tmp_path):
    job = write_job(COUNTING_JOB)

    result = run_millpond("run", str(job))

    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    assert lines["pipeline"] == "counting"
    assert lines["status"] == "succeeded"
    assert lines["read"] == "5"
    assert lines["written"] == "3"
    assert lines["dropped"] == "2"
    assert lines["duration"].endswith(" s")
    assert "run" in lines
    assert result.stderr == ""
    assert (tmp_path / "written.txt").read_text() == "0,2,4"


def test_run_json_success(run_millpond, write_job):
    job = write_job(COUNTING_JOB)

    result = run_millpond("run", str(job), "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == JSON_KEYS
    assert document["pipeline"] == "counting"
    assert document["target"] == str(job)
    assert document["status"] == "succeeded"
    assert (document["read"], document["written"], document["dropped"]) == (5, 3, 2)
    assert isinstance(document["duration_seconds"], float)
    assert document["duration_seconds"] >= 0
    assert len(document["run_id"]) == 32
    assert document["error"] is None


def test_run_relative_path_from_cwd(run_millpond, write_job, tmp_path):
    write_job(COUNTING_JOB, folder=tmp_path / "jobs")

    result = run_millpond("run", "jobs/job.py", cwd=tmp_path)

    assert result.returncode == 0, result.stderr


def test_failure_exit_one_without_traceback(run_millpond, write_job):
    job = write_job(FAILING_JOB)

    result = run_millpond("run", str(job))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "millpond: error: step[0] failed: ValueError: bad record 1"
    ]
    assert "status    failed" in result.stdout


def test_failure_verbose_prints_traceback(run_millpond, write_job):
    job = write_job(FAILING_JOB)

    result = run_millpond("-v", "run", str(job))

    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "in explode" in result.stderr
    assert result.stderr.rstrip().endswith(
        "millpond: error: step[0] failed: ValueError: bad record 1"
    )


def test_verbose_after_subcommand(run_millpond, write_job):
    job = write_job(FAILING_JOB)

    result = run_millpond("run", str(job), "--verbose")

    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_verbose_logs_debug(run_millpond, write_job):
    job = write_job(COUNTING_JOB)

    result = run_millpond("-v", "run", str(job))

    assert result.returncode == 0
    assert "DEBUG millpond.cli: loaded pipeline 'counting'" in result.stderr


def test_failure_json(run_millpond, write_job):
    job = write_job(FAILING_JOB)

    result = run_millpond("run", str(job), "--json")

    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert set(document) == JSON_KEYS
    assert document["status"] == "failed"
    assert document["error"] == "step[0] failed: ValueError: bad record 1"
    assert document["read"] is None
    assert document["written"] is None
    assert document["dropped"] is None


def test_cancel_inside_pipeline_is_failure(run_millpond, write_job):
    # A Cancelled that no Ctrl-C caused reports `canceled` but exits 1, not 130.
    job = write_job(
        """
        from millpond.etl import Pipeline


        def read(ctx):
            ctx.cancel()
            yield {"n": 1}


        pipeline = Pipeline("self_cancel").read(read).write(lambda ctx, records: None)
        """
    )

    result = run_millpond("run", str(job), "--json")

    assert result.returncode == 1
    assert json.loads(result.stdout)["status"] == "canceled"


@pytest.mark.parametrize(
    ("call", "error"),
    [("sys.exit(3)", "SystemExit: 3"), ("sys.exit('disk full')", "SystemExit: 'disk full'")],
)
def test_sys_exit_in_callback_is_failure(run_millpond, write_job, call, error):
    # A callback that calls sys.exit() must not end the command with its own
    # exit code and no summary. The run failed, and the summary gives the reason.
    job = write_job(
        f"""
        import sys

        from millpond.etl import Pipeline


        def write(ctx, records):
            {call}


        pipeline = Pipeline("exits").read(lambda ctx: [{{"n": 1}}]).write(write)
        """
    )

    result = run_millpond("run", str(job), "--json")

    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["status"] == "failed"
    assert document["error"] == error


def test_incomplete_pipeline_is_bad_input(run_millpond, write_job):
    job = write_job(
        """
        from millpond.etl import Pipeline

        pipeline = Pipeline("no_writer").read(lambda ctx: [])
        """
    )

    result = run_millpond("run", str(job), "--json")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "writer must be set via write()" in result.stderr


# Bad input: exit 2, one line on stderr, nothing on stdout.


def assert_bad_input(result, *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("millpond: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_missing_file(run_millpond, tmp_path):
    missing = tmp_path / "nowhere" / "job.py"

    result = run_millpond("run", str(missing))

    assert_bad_input(result, "file not found", str(missing))


def test_folder_is_not_a_file(run_millpond, tmp_path):
    (tmp_path / "jobs.py").mkdir()

    result = run_millpond("run", "jobs.py")

    assert_bad_input(result, "not a file", "jobs.py")


def test_syntax_error_names_file_and_line(run_millpond, write_job):
    job = write_job("from millpond.etl import Pipeline\n\npipeline = Pipeline(\n\ndef (:\n")

    result = run_millpond("run", str(job))

    assert_bad_input(result, "syntax error in", str(job), "line ")


def test_syntax_error_in_sibling_names_sibling(run_millpond, write_job, tmp_path):
    write_job("x = = 1\n", name="helpers.py")
    job = write_job("import helpers\n")

    result = run_millpond("run", str(job))

    line = assert_bad_input(result, "syntax error in", "helpers.py", "line 1")
    assert str(job) not in line


def test_import_error_in_file(run_millpond, write_job):
    job = write_job("import no_such_module_for_millpond\n")

    result = run_millpond("run", str(job))

    assert_bad_input(
        result, "failed to load", "ModuleNotFoundError", "no_such_module_for_millpond"
    )


def test_error_at_import_time(run_millpond, write_job):
    job = write_job("raise RuntimeError('config missing')\n")

    result = run_millpond("run", str(job))

    assert_bad_input(result, "failed to load", "RuntimeError: config missing")


def test_bad_input_verbose_prints_traceback(run_millpond, write_job):
    job = write_job("raise RuntimeError('config missing')\n")

    result = run_millpond("run", str(job), "-v")

    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("millpond: error: failed to load")


def test_module_without_pipeline(run_millpond, write_job):
    job = write_job(
        """
        from millpond.etl import Pipeline


        def build() -> Pipeline:
            return Pipeline("built").read(lambda ctx: []).write(lambda ctx, records: None)
        """
    )

    result = run_millpond("run", str(job))

    assert_bad_input(result, "no module-level Pipeline", "build", f"{job}:NAME")


def test_module_with_several_pipelines(run_millpond, write_job):
    job = write_job(
        """
        from millpond.etl import Pipeline

        daily = Pipeline("daily").read(lambda ctx: []).write(lambda ctx, records: None)
        hourly = Pipeline("hourly").read(lambda ctx: []).write(lambda ctx, records: None)
        alias = daily
        """
    )

    result = run_millpond("run", str(job))

    line = assert_bad_input(result, "several Pipelines", "daily, hourly", ":NAME")
    assert "alias" not in line


def test_name_picks_one_of_several(run_millpond, write_job):
    job = write_job(
        """
        from millpond.etl import Pipeline

        daily = Pipeline("daily").read(lambda ctx: [{}]).write(lambda ctx, records: None)
        hourly = Pipeline("hourly").read(lambda ctx: []).write(lambda ctx, records: None)
        """
    )

    result = run_millpond("run", f"{job}:hourly", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pipeline"] == "hourly"


def test_unknown_name_lists_available(run_millpond, write_job):
    job = write_job(
        """
        from millpond.etl import Pipeline

        daily = Pipeline("daily").read(lambda ctx: []).write(lambda ctx, records: None)
        hourly = Pipeline("hourly").read(lambda ctx: []).write(lambda ctx, records: None)
        """
    )

    result = run_millpond("run", f"{job}:weekly")

    assert_bad_input(result, "no attribute 'weekly'", "available Pipelines: daily, hourly")


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        ("thing = 42", "is a int"),
        ("class thing:\n    pass", "is a type"),
        ("def thing():\n    return 42", "returned a int, expected a Pipeline"),
        ("def thing(day):\n    return None", "requires arguments (day)"),
        ("def thing():\n    raise KeyError('region')", "calling"),
    ],
)
def test_name_that_is_not_a_pipeline(run_millpond, write_job, definition, fragment):
    job = write_job(definition + "\n")

    result = run_millpond("run", f"{job}:thing")

    assert_bad_input(result, fragment)


def test_name_of_factory_function(run_millpond, write_job):
    job = write_job(
        """
        from millpond.etl import Pipeline


        def build(batch_size=None):
            return (
                Pipeline("built")
                .read(lambda ctx: [{"n": 1}, {"n": 2}])
                .write(lambda ctx, records: None, batch_size=batch_size)
            )
        """
    )

    result = run_millpond("run", f"{job}:build", "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["pipeline"] == "built"
    assert document["written"] == 2


def test_module_target_from_cwd(run_millpond, write_job, tmp_path):
    package = tmp_path / "acme"
    write_job("", name="__init__.py", folder=package)
    write_job(COUNTING_JOB, name="jobs.py", folder=package)

    result = run_millpond("run", "acme.jobs:pipeline", "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pipeline"] == "counting"


def test_module_target_without_name(run_millpond, write_job, tmp_path):
    write_job(COUNTING_JOB, name="nightly.py")

    result = run_millpond("run", "nightly", cwd=tmp_path)

    assert result.returncode == 0, result.stderr


def test_module_not_found(run_millpond, tmp_path):
    result = run_millpond("run", "acme_missing.jobs:pipeline", cwd=tmp_path)

    assert_bad_input(result, "module 'acme_missing.jobs' not found", "'acme_missing'")


def test_module_import_error_is_not_not_found(run_millpond, write_job, tmp_path):
    write_job("import no_such_dependency_for_millpond\n", name="broken_jobs.py")

    result = run_millpond("run", "broken_jobs", cwd=tmp_path)

    line = assert_bad_input(result, "failed to import broken_jobs", "no_such_dependency")
    assert "not found:" not in line


@pytest.mark.parametrize("target", ["not-a-module", "jobs:", ":pipeline", "job.py:not-a-name"])
def test_malformed_target(run_millpond, target):
    result = run_millpond("run", target)

    assert_bad_input(result, "invalid")


def test_file_imports_its_siblings(run_millpond, write_job, tmp_path):
    folder = tmp_path / "project"
    write_job("ROWS = [{'n': 1}, {'n': 2}, {'n': 3}]\n", name="job_rows.py", folder=folder)
    write_job(
        """
        from millpond.etl import Pipeline

        import job_rows

        pipeline = Pipeline("siblings").read(lambda ctx: job_rows.ROWS).write(
            lambda ctx, records: None
        )
        """,
        folder=folder,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = run_millpond("run", str(folder / "job.py"), "--json", cwd=elsewhere)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["read"] == 3


def test_file_target_leaves_no_bytecode(run_millpond, write_job, tmp_path):
    job = write_job(COUNTING_JOB)

    result = run_millpond("run", str(job))

    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["job.py", "written.txt"]


def test_file_name_not_an_identifier(run_millpond, write_job):
    job = write_job(COUNTING_JOB, name="nightly-job.py")

    result = run_millpond("run", f"{job}:pipeline", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pipeline"] == "counting"


def test_no_command_is_usage_error(run_millpond):
    result = run_millpond()

    assert result.returncode == 2
    assert "usage: millpond" in result.stderr


def test_unknown_option_is_usage_error(run_millpond, write_job):
    job = write_job(COUNTING_JOB)

    result = run_millpond("run", str(job), "--frobnicate")

    assert result.returncode == 2
    assert "unrecognized arguments: --frobnicate" in result.stderr


def test_python_dash_m_uses_program_name(run_millpond):
    result = run_millpond("--help")

    assert result.returncode == 0
    assert result.stdout.startswith("usage: millpond ")


@pytest.mark.skipif(sys.platform == "win32", reason="the example paths are POSIX paths")
def test_example_runs_from_another_folder(run_millpond, tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "orders.py"
    out = tmp_path / "out"

    result = run_millpond("run", str(example), "--json", env={"MILLPOND_EXAMPLES_OUT": str(out)})

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["written"] == 10
    assert (out / "orders.jsonl").is_file()
