"""A Celery app for the beat tests: one periodic task every second, its beat scheduled by
``leaselect.integrations.celery.LeaderScheduler``. Configured from the environment:
BEAT_BROKER_URL, BEAT_QUEUE, BEAT_STORE_URL, BEAT_ELECTION, BEAT_TTL, BEAT_RESULTS (a Redis list
the task appends what it was given to, for the worker test)."""

from __future__ import annotations

import json
import os

import redis
from celery import Celery

from leaselect.integrations.celery import SLOT_HEADER, fencing_token

app = Celery("leaselect_beat_test", broker=os.environ["BEAT_BROKER_URL"])
app.conf.update(
    task_default_queue=os.environ["BEAT_QUEUE"],
    beat_schedule={"every-second": {"task": "beat_test.tick", "schedule": 1.0}},
    leaselect_url=os.environ["BEAT_STORE_URL"],
    leaselect_name=os.environ["BEAT_ELECTION"],
    leaselect_ttl=float(os.environ.get("BEAT_TTL", "3")),
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="beat_test.tick", bind=True)  # type: ignore[untyped-decorator]
def tick(self: object) -> None:
    """Record the fencing token and the slot this run was sent with."""
    record = {"token": fencing_token(self), "slot": getattr(self.request, SLOT_HEADER, None)}  # type: ignore[attr-defined]
    client = redis.Redis.from_url(os.environ["BEAT_BROKER_URL"])
    client.rpush(os.environ["BEAT_RESULTS"], json.dumps(record))
    client.close()
