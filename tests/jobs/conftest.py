"""The leader-only tests run on the stores of ``tests.support.jobs``."""

from tests.support.jobs import job_store

__all__ = ["job_store"]
