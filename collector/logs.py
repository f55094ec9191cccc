"""Structured logs: one JSON object per line on stderr, through one allowlist.

Nothing personal is ever passed to a spii logger (no IP, UA, postcode, cookie id or URL query).
Other people's loggers are not under our control: aiohttp's server logger writes the peer
address of a malformed request, asyncio prints task reprs, database drivers quote SQL and row
data. So every line is built here from an allowlist, whoever logs it:

* spii's own loggers (``spii.*``) keep their message and structured fields;
* any other logger keeps its name, its level and its message *template* only when that
  template is in :data:`SAFE_TEMPLATES` and has no arguments; otherwise the text is withheld;
* an exception is shown as its type name only (messages quote input: a header, a row, a path);
* aiohttp's protocol errors (a malformed request line, header or body) are counted by reason
  through :func:`count_protocol_errors` and logged without the address.

Access logs are not written at all (aiohttp's access logger is off).

A repeated warning or error (the same logger, source line, level and exception type: a full disk
fails every event the same way) is written at most once a minute (:class:`RepeatLimit`); the
next line written for it says how many were withheld since the last (``repeats_withheld``).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

import orjson

OWN_PREFIX = "spii"
# Third-party message templates known to carry no request data once their arguments are dropped.
SAFE_TEMPLATES = {
    "aiohttp.server": {"Error handling request from %s": "malformed or failed HTTP request", "Unhandled exception": "unhandled exception"},
    "aiohttp.web": {},
    "asyncio": {"Executing %s took %.3f seconds": "slow callback on the event loop"},
}
WITHHELD = "message withheld (third-party text may quote request data)"
PROTOCOL_LOGGER = "aiohttp.server"
# Third-party loggers worth hearing only when something fails: their debug and info chatter
# is of no use to an operator and is a leak risk.
QUIET_LOGGERS = ("urllib3", "clickhouse_connect", "chdb", "asyncio", "aiohttp.web", "aiohttp.client", "aiohttp.internal")

REPEAT_WINDOW_SECONDS = 60.0
_REPEAT_KEYS_MAX = 4096
_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def exception_name(exc: BaseException | type[BaseException] | None) -> str:
    kind = exc if isinstance(exc, type) else type(exc)
    return kind.__name__ if exc is not None else ""


def safe_message(record: logging.LogRecord) -> str:
    """The text a record may show: spii's own message, or an allowlisted third-party template."""
    if record.name == OWN_PREFIX or record.name.startswith(OWN_PREFIX + "."):
        return record.getMessage()
    templates = SAFE_TEMPLATES.get(record.name, {})
    if isinstance(record.msg, str) and record.msg in templates:
        return templates[record.msg]
    return WITHHELD


def safe_entry(record: logging.LogRecord) -> dict:
    entry = {
        "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": safe_message(record),
    }
    own = record.name == OWN_PREFIX or record.name.startswith(OWN_PREFIX + ".")
    extra = getattr(record, "fields", None)
    if extra and own:
        entry.update(extra)
    if record.exc_info and record.exc_info[0] is not None:
        entry["error"] = exception_name(record.exc_info[0])
    if withheld := getattr(record, "repeats_withheld", 0):
        entry["repeats_withheld"] = withheld
    return entry


class RepeatLimit(logging.Filter):
    """On the handler: a warning or error from the same place (logger, file, line, level and
    exception type) passes at most once per ``window`` seconds; the next one that passes carries
    the count withheld meanwhile as ``repeats_withheld``. One mechanism for every call site,
    spii's and other libraries' alike, so a failure repeated per request cannot flood the log."""

    def __init__(self, window: float = REPEAT_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: dict[tuple, list] = {}  # place -> [when it last passed, withheld since]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = record.exc_info[0] if record.exc_info and record.exc_info[0] is not None else None
        fields = getattr(record, "fields", None)
        error = fields.get("error") if isinstance(fields, dict) else None  # spii's own loggers name it here
        place = (record.name, record.pathname, record.lineno, record.levelno, kind, error)
        now = self.clock()
        with self._lock:
            seen = self._seen.get(place)
            if seen is not None and now - seen[0] < self.window:
                seen[1] += 1
                return False
            if len(self._seen) >= _REPEAT_KEYS_MAX:
                self._seen.clear()
            self._seen[place] = [now, 0]
        record.repeats_withheld = seen[1] if seen is not None else 0
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return orjson.dumps(safe_entry(record), default=str).decode()


class TextFormatter(logging.Formatter):
    """For the CLI: ``LEVEL logger: message [error=Type]``, through the same allowlist."""

    def format(self, record: logging.LogRecord) -> str:
        entry = safe_entry(record)
        text = f"{entry['level'].upper()} {entry['logger']}: {entry['msg']}"
        text += f" [error={entry['error']}]" if "error" in entry else ""
        return text + (f" ({entry['repeats_withheld']} more like it in the last minute)" if "repeats_withheld" in entry else "")


class ProtocolErrorCounter(logging.Filter):
    """On aiohttp's server logger: count each failed request by reason (the exception's type,
    e.g. ``bad_status_line``, ``line_too_long``, ``invalid_header``) and keep debug records
    (a TLS hello on the plain port, logged by aiohttp at debug) out of the output."""

    def __init__(self) -> None:
        super().__init__()
        self.sink: Callable[[str], None] | None = None
        self.show_debug = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None and self.sink is not None:
            self.sink(_SNAKE.sub("_", record.exc_info[0].__name__).lower())
        return self.show_debug or record.levelno >= logging.INFO


_protocol_counter = ProtocolErrorCounter()


def count_protocol_errors(sink: Callable[[str], None] | None) -> None:
    """Send aiohttp's protocol-error reasons to ``sink`` (the app's metrics)."""
    _protocol_counter.sink = sink


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None, where: str) -> None:
    frames = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb)[-5:])
    logging.getLogger("spii.crash").error(f"uncaught exception {where}", extra={"fields": {"error": kind.__name__, "frames": frames}})


def setup_logging(level: int = logging.INFO, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.setLevel(level)
    handler.addFilter(RepeatLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    logging.getLogger("aiohttp.access").disabled = True
    server = logging.getLogger(PROTOCOL_LOGGER)
    server.setLevel(logging.DEBUG)  # so protocol errors aiohttp logs at debug are counted too
    _protocol_counter.show_debug = level <= logging.DEBUG
    if _protocol_counter not in server.filters:
        server.addFilter(_protocol_counter)
    for quiet in QUIET_LOGGERS:
        logging.getLogger(quiet).setLevel(max(level, logging.WARNING))
    # one line per failed attempt from our shipper is enough during a store outage
    for chatty in ("urllib3.connectionpool", "clickhouse_connect.driver"):
        logging.getLogger(chatty).setLevel(logging.ERROR)
    # tracebacks of uncaught errors quote values: log the type and the frames only
    sys.excepthook = lambda kind, exc, tb: _log_uncaught(kind, exc, tb, "in the main thread")
    threading.excepthook = lambda hook: _log_uncaught(hook.exc_type, hook.exc_value or hook.exc_type(), hook.exc_traceback,
                                                      f"in thread {hook.thread.name if hook.thread else '?'}")
