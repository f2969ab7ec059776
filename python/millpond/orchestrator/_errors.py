"""The exceptions that `Orchestrator` raises for bad names and bad state."""

from __future__ import annotations

__all__ = ["AlreadyRegisteredError", "SchedulerRunningError", "UnknownPipelineError"]


class AlreadyRegisteredError(ValueError):
    """A pipeline name that the orchestrator already has; each name is registered once."""


class UnknownPipelineError(ValueError):
    """A pipeline name that was never registered; the message lists the registered ones."""


class SchedulerRunningError(RuntimeError):
    """`start_scheduler()` was called while the scheduler thread is running."""
