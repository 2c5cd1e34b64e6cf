"""The examples run on the same stores as the leader-only tests."""

from tests.support.jobs import job_store

__all__ = ["job_store"]
