"""The jobs every worker runs, in one list."""
from __future__ import annotations

from jobs.runner import Job


def default_jobs() -> list[Job]:
    return []
