"""The beacon's hot path inside aiohttp's protocol.

Most of the collector's traffic is one small ``POST /api/event`` per keep-alive request. aiohttp
spends more on each than spii's whole privacy pass: a waiter woken, a Request, a task, a
Response and its headers written field by field. So a complete event that arrives on an *idle*
connection (no earlier request of it still queued or running) is answered in the callback that
parsed it, with aiohttp's own C parser: the same checks, pipeline, spool write and answer as
``beacon.post_event``, serialised once and written to the transport.

Everything else goes on to aiohttp untouched and in order: other endpoints, a body still
arriving, a chunked or oversized body, HTTP/1.0 or ``Connection: close``, an operator's request
(``Authorization``: backfill), and an event that finds no current key (aiohttp's path has the
key keeper supply one; nothing was stored or stepped before it is handed over).

This leans on some of aiohttp's RequestHandler attributes (the parser, the idle waiter and the
keep-alive timer) and on its StreamReader's buffer; ``install`` refuses to run on an aiohttp
without them, and the tests drive both paths over raw sockets.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web, web_protocol, web_server
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.streams import StreamReader

from collector.http import beacon
from collector.http.errors import internal_error
from collector.http.state import State
from collector.ingest.pipeline import Outcome
from collector.privacy.keyring import NoCurrentKey

__all__ = ["install"]

_PATH = "/api/event"
_NEEDED = ("_parser", "_waiter", "_loop", "peername", "_keepalive", "_keepalive_handle", "_next_keepalive_close_time",
           "_process_keepalive", "_keepalive_timeout")


def install(server: web_server.Server, state: State) -> bool:
    """Make ``server``'s connections answer complete beacon events inline; False (and nothing
    changed) on an aiohttp whose protocol lacks what this relies on."""
    if not all(hasattr(web_protocol.RequestHandler, name) for name in _NEEDED) \
            or not all(name in StreamReader.__slots__ for name in ("_buffer", "_buffer_offset", "total_bytes")):
        return False
    server.__class__ = _BeaconServer  # the same object: aiohttp's sites and shutdown keep their reference
    server.spii_state = state  # type: ignore[attr-defined]
    return True


class _BeaconServer(web_server.Server):
    """aiohttp's connection factory, with the parser of each connection wrapped."""

    spii_state: State

    def __call__(self) -> web_protocol.RequestHandler:
        protocol = super().__call__()
        protocol._parser = _InlineParser(protocol._parser, protocol, self.spii_state)
        return protocol


class _InlineParser:
    """aiohttp's request parser, keeping back the messages answered inline: the protocol queues
    only what is left, so its own handling never sees them."""

    __slots__ = ("_parser", "_protocol", "_state", "peer")

    def __init__(self, parser: Any, protocol: web_protocol.RequestHandler, state: State) -> None:
        self._parser, self._protocol, self._state = parser, protocol, state
        self.peer: tuple[str | None, bool] | None = None  # the socket's address, and whether it is a trusted proxy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def feed_data(self, data: bytes) -> tuple[Sequence[Any], bool, bytes]:
        messages, upgraded, tail = self._parser.feed_data(data)
        protocol = self._protocol
        waiter = protocol._waiter
        if not messages or upgraded or waiter is None or waiter.done():
            return messages, upgraded, tail  # nothing new, or the protocol is busy: order first
        transport = protocol.transport
        for index, (message, payload) in enumerate(messages):
            answer = _answer_inline(self._state, message, payload, self)
            if not isinstance(answer, bytes):
                return [answer, *messages[index + 1:]], upgraded, tail
            self._parser.message_consumed()
            if transport is not None:
                transport.write(answer)
        _keep_alive(protocol)
        return (), upgraded, tail


def _answer_inline(state: State, message: Any, payload: Any, parser: _InlineParser) -> bytes | tuple[Any, Any]:
    """The serialised answer to ``message``, or the message and its body for aiohttp to handle."""
    if message.method != "POST" or message.path != _PATH or message.version != HttpVersion11 or message.should_close \
            or message.chunked or not payload.is_eof():
        return message, payload
    headers = message.headers
    if "Authorization" in headers:
        return message, payload  # an operator's request may date its event (beacon.backfill_time)
    body = _whole_body(payload)
    origin = headers.get("Origin")
    if parser.peer is None:
        peername = parser._protocol.peername
        address = peername[0] if isinstance(peername, tuple) else None
        parser.peer = address, bool(address) and address in state.trusted
    sessions = state.pipeline.sessions
    sessions.begin()
    try:
        if len(body) > beacon.MAX_EVENT_BYTES:
            raise beacon.too_large(beacon.MAX_EVENT_BYTES)
        address, trusted = parser.peer
        facts = beacon.facts_of(headers, address, state, trusted)
        outcome = beacon.accept_event(state, beacon.parse_json(body), facts, datetime.now(UTC))
        if outcome.dropped is None and not origin:
            return _accepted()
        response = beacon.event_answer(outcome, beacon.cors_headers(origin, state))
    except NoCurrentKey:
        sessions.rollback()
        return message, _unread(body, parser._protocol)
    except beacon.Reject as rej:
        response = beacon.rejected(rej, origin, state)
    except Exception as exc:  # noqa: BLE001 - as the error middleware does for routed requests
        response = internal_error(exc, state.metrics, route=f"POST {_PATH}")
    return serialise(response)


def _whole_body(payload: StreamReader) -> bytes:
    """The body of a complete message. A small body arrives as one chunk: taken as it is, since
    read_nowait would also resume the protocol's reading (a re-entrant data_received, ~2% of the
    loop under wrk) for a body far below the size that ever pauses it."""
    chunks = payload._buffer
    if len(chunks) == 1 and not payload._buffer_offset and payload.total_bytes <= beacon.MAX_EVENT_BYTES:
        return chunks[0]
    return payload.read_nowait(-1)


def _unread(body: bytes, protocol: web_protocol.RequestHandler) -> StreamReader:
    """A complete body for aiohttp's handling of a message that was read to try it inline."""
    reader = StreamReader(protocol, 2**16, loop=protocol._loop)
    reader.feed_data(body)
    reader.feed_eof()
    return reader


def _keep_alive(protocol: web_protocol.RequestHandler) -> None:
    """What aiohttp does after each answer: the idle connection closes keepalive_timeout after it."""
    loop = protocol._loop
    protocol._keepalive = True
    protocol._next_keepalive_close_time = close_time = loop.time() + protocol._keepalive_timeout
    if protocol._keepalive_handle is None:
        protocol._keepalive_handle = loop.call_at(close_time, protocol._process_keepalive)


_date: list[Any] = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if _date[0] != now:
        _date[0], _date[1] = now, email.utils.formatdate(now, usegmt=True)
    return _date[1]


_accepted_now: list[Any] = ["", b""]


def _accepted() -> bytes:
    """The answer to most events (beacon.event_answer's plain 202), built once a second."""
    date = _http_date()
    if _accepted_now[0] != date:
        _accepted_now[0], _accepted_now[1] = date, serialise(beacon.event_answer(Outcome(), {}))
    return _accepted_now[1]


def serialise(response: web.Response) -> bytes:
    """An HTTP/1.1 keep-alive answer with the headers aiohttp would send for ``response``."""
    body = response.body or b""
    assert isinstance(body, bytes)
    lines = [f"HTTP/1.1 {response.status} {response.reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    lines.append(f"Content-Length: {len(body)}\r\nDate: {_http_date()}\r\nServer: {SERVER_SOFTWARE}\r\n\r\n")
    return "\r\n".join(lines).encode("latin-1") + body
