"""The examples run on the same stores as the leader-only tests."""

from tests.jobs.conftest import job_store

__all__ = ["job_store"]
