"""The structured fields of leaselect's log records, and a JSON formatter for them.

Records about one election carry ``election``, ``identity`` and ``store`` (the URL scheme) as
``extra`` attributes, plus ``token`` and ``reason`` where they apply; records about a store
connection carry ``store``. ``JsonFormatter`` prints one JSON object per record with every field
present, credentials hidden (``leaselect run --log-format json``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from .urls import redact

FIELDS = ("election", "identity", "token", "reason", "store")


def election_fields(election: str, identity: str, store: str) -> dict[str, Any]:
    """The ``extra`` of a record about one elector."""
    return {"election": election, "identity": identity, "store": store}


def store_log(scheme: str) -> logging.LoggerAdapter[logging.Logger]:
    """The ``leaselect`` logger for a store adapter's records (``store`` set)."""
    return logging.LoggerAdapter(logging.getLogger("leaselect"), {"store": scheme})


def with_fields(base: dict[str, Any], **more: Any) -> dict[str, Any]:
    """``base`` plus ``more`` (a record's ``token``, ``reason``)."""
    return {**base, **more}


class DefaultFields(logging.Filter):
    """Fills the fields a record lacks from ``defaults`` (a process that runs one election, as
    ``leaselect run`` does, gives every record its election)."""

    def __init__(self, **defaults: Any) -> None:
        super().__init__()
        self.defaults = defaults

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.defaults.items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the fields it has."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value if isinstance(value, int) else redact(str(value))
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)
