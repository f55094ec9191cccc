"""The per-message half of the beacon's inline path (collector/http/inline.py hooks it into
aiohttp's protocol): whether a parsed message can be answered here, the answer, and aiohttp's
keep-alive bookkeeping after it. Compiled with the rest of the hot path (collector/build_info.py);
inline.py, which swaps the class of aiohttp's server object, cannot be.

aiohttp's objects (the protocol, its parser's messages, the StreamReader of a body) are typed Any
here: the attributes read are the ones inline.install checks for.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.streams import StreamReader

from collector.http import beacon
from collector.http.errors import internal_error
from collector.http.state import State
from collector.ingest.pipeline import Outcome
from collector.privacy.keyring import NoCurrentKey

__all__ = ["PATH", "answer_messages", "serialise"]

PATH = "/api/event"


class Peer:
    """The socket's address, and whether it is a trusted proxy: looked up once per connection."""

    def __init__(self, address: str | None, trusted: bool) -> None:
        self.address = address
        self.trusted = trusted


def answer_messages(state: State, inline: Any, messages: Sequence[Any]) -> list[Any] | None:
    """Answer the parsed ``messages`` of an idle connection in order, writing each answer to the
    transport; None when all were answered, else the ones left for aiohttp (from the first that
    cannot be answered here, so the order holds). ``inline`` is the connection's wrapped parser
    (inline._InlineParser: aiohttp's parser and protocol, and the connection's Peer once known)."""
    protocol = inline._protocol
    transport = protocol.transport
    for index, (message, payload) in enumerate(messages):
        answer = _answer(state, message, payload, inline)
        if not isinstance(answer, bytes):
            return [answer, *messages[index + 1:]]
        inline._parser.message_consumed()
        if transport is not None:
            transport.write(answer)
    _keep_alive(protocol)
    return None


def _peer(state: State, inline: Any) -> Peer:
    peer = inline.peer
    if peer is None:
        peername = inline._protocol.peername
        address = str(peername[0]) if isinstance(peername, tuple) else None
        peer = inline.peer = Peer(address, address in state.trusted if address else False)
    return peer


def _answer(state: State, message: Any, payload: Any, inline: Any) -> Any:
    """The serialised answer to ``message`` (bytes), or the message and its body for aiohttp."""
    if message.method != "POST" or message.path != PATH or message.version != HttpVersion11 or message.should_close \
            or message.chunked or not payload.is_eof():
        return message, payload
    headers = message.headers
    if "Authorization" in headers:
        return message, payload  # an operator's request may date its event (beacon.backfill_time)
    body = _whole_body(payload)
    origin = headers.get("Origin")
    peer = _peer(state, inline)
    sessions = state.pipeline.sessions
    sessions.begin()
    try:
        if len(body) > beacon.MAX_EVENT_BYTES:
            raise beacon.too_large(beacon.MAX_EVENT_BYTES)
        facts = beacon.facts_of(headers, peer.address, state, peer.trusted)
        outcome = beacon.accept_event(state, beacon.parse_json(body), facts, datetime.now(UTC))
        if outcome.dropped is None and not origin:
            return _accepted()
        response = beacon.event_answer(outcome, beacon.cors_headers(origin, state))
    except NoCurrentKey:
        sessions.rollback()
        return message, _unread(body, inline._protocol)
    except beacon.Reject as rej:
        response = beacon.rejected(rej, origin, state)
    except Exception as exc:  # noqa: BLE001 - as the error middleware does for routed requests
        response = internal_error(exc, state.metrics, route=f"POST {PATH}")
    return serialise(response)


def _whole_body(payload: Any) -> bytes:
    """The body of a complete message. A small body arrives as one chunk: taken as it is, since
    read_nowait would also resume the protocol's reading (a re-entrant data_received, ~2% of the
    loop under wrk) for a body far below the size that ever pauses it."""
    chunks = payload._buffer
    if len(chunks) == 1 and not payload._buffer_offset and payload.total_bytes <= beacon.MAX_EVENT_BYTES:
        return bytes(chunks[0])
    return bytes(payload.read_nowait(-1))


def _unread(body: bytes, protocol: Any) -> StreamReader:
    """A complete body for aiohttp's handling of a message that was read to try it inline."""
    reader = StreamReader(protocol, 2**16, loop=protocol._loop)
    reader.feed_data(body)
    reader.feed_eof()
    return reader


def _keep_alive(protocol: Any) -> None:
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
    return str(_date[1])


_accepted_now: list[Any] = ["", b""]


def _accepted() -> bytes:
    """The answer to most events (beacon.event_answer's plain 202), built once a second."""
    date = _http_date()
    if _accepted_now[0] != date:
        _accepted_now[0], _accepted_now[1] = date, serialise(beacon.event_answer(Outcome(), {}))
    return bytes(_accepted_now[1])


def serialise(response: web.Response) -> bytes:
    """An HTTP/1.1 keep-alive answer with the headers aiohttp would send for ``response``."""
    body = response.body or b""
    assert isinstance(body, bytes)
    lines = [f"HTTP/1.1 {response.status} {response.reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    lines.append(f"Content-Length: {len(body)}\r\nDate: {_http_date()}\r\nServer: {SERVER_SOFTWARE}\r\n\r\n")
    return "\r\n".join(lines).encode("latin-1") + body
