"""Structured logs: one JSON object per line on stderr.

Nothing personal is ever passed to a logger (no IP, UA, postcode, cookie id or URL query); as a
second line of defence, access logs are not written at all (aiohttp's access logger is off).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if extra:
            entry.update(extra)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return orjson.dumps(entry, default=str).decode()


def setup_logging(level: int = logging.INFO, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").disabled = True
    # one line per failed attempt from our shipper is enough during a store outage
    for chatty in ("urllib3.connectionpool", "clickhouse_connect.driver"):
        logging.getLogger(chatty).setLevel(logging.ERROR)
