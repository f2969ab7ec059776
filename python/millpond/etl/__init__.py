"""ETL building blocks: a reader, transforms and filters, and a writer, run as a pipeline.

Every callback takes the run's `Context` first. `Pipeline` assembles and runs
the parts, hooks observe the run, and `Job` records the times and error of a
pipeline's runs. See docs/etl.md for a guide.
"""

from millpond.etl._context import Context
from millpond.etl._dispatch import Hooks
from millpond.etl._errors import (
    Cancelled,
    PipelineConfigError,
    PipelineError,
    ReadError,
    StepError,
    WriteError,
)
from millpond.etl._hooks import (
    JobHook,
    JobInfo,
    NoopJobHook,
    NoopPipelineHook,
    PipelineHook,
    PipelineInfo,
)
from millpond.etl._job import Job
from millpond.etl._logging_hook import LoggingHook
from millpond.etl._pipeline import Pipeline
from millpond.etl._run import RunStats
from millpond.etl._types import Predicate, Reader, Record, Transform, Writer

__all__ = [
    "Cancelled",
    "Context",
    "Hooks",
    "Job",
    "JobHook",
    "JobInfo",
    "LoggingHook",
    "NoopJobHook",
    "NoopPipelineHook",
    "Pipeline",
    "PipelineConfigError",
    "PipelineError",
    "PipelineHook",
    "PipelineInfo",
    "Predicate",
    "ReadError",
    "Reader",
    "Record",
    "RunStats",
    "StepError",
    "Transform",
    "WriteError",
    "Writer",
]
