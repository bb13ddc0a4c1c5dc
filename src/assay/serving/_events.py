"""The server's own log: one JSON line per event (or access-log entry) on stderr."""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson


def log_line(data: dict[str, Any]) -> None:
    """Write ``data`` with its time (``ts``, seconds since the epoch) as one JSON line."""
    data = {"ts": round(time.time(), 6), **data}
    sys.stderr.write(orjson.dumps(data, default=str).decode() + "\n")
    sys.stderr.flush()
