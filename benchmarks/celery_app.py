"""The Celery app of ``benchmarks.celery_beat``: one task every second, scheduled by the beat
scheduler given with ``-S`` (leaselect's ``LeaderScheduler`` or celery-redbeat's
``RedBeatScheduler``), both configured for a 3 s lease on the same Redis. Environment:
BEAT_BROKER_URL, BEAT_QUEUE, BEAT_STORE_URL, BEAT_ELECTION, BEAT_TTL."""

from __future__ import annotations

import os

from celery import Celery

ttl = float(os.environ.get("BEAT_TTL", "3"))
app = Celery("leaselect_beat_bench", broker=os.environ["BEAT_BROKER_URL"])
app.conf.update(
    task_default_queue=os.environ["BEAT_QUEUE"],
    beat_schedule={"every-second": {"task": "beat_bench.tick", "schedule": 1.0}},
    broker_connection_retry_on_startup=True,
    leaselect_url=os.environ["BEAT_STORE_URL"],
    leaselect_name=os.environ["BEAT_ELECTION"],
    leaselect_ttl=ttl,
    redbeat_redis_url=os.environ["BEAT_STORE_URL"],
    redbeat_key_prefix=f"{os.environ['BEAT_ELECTION']}:",
    redbeat_lock_timeout=int(ttl),
    beat_max_loop_interval=1,  # redbeat extends its lock, and a follower retries, every tick
)


@app.task(name="beat_bench.tick")  # type: ignore[untyped-decorator]
def tick() -> None:
    """Never run: the benchmark reads the queue."""
