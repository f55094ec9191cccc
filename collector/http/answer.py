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
from collector.spool.segments import SpoolRefused

__all__ = ["PATH", "Peer", "TickBatch", "answer_messages", "serialise"]

PATH = "/api/event"


class Peer:
    """The socket's address, and whether it is a trusted proxy: looked up once per connection."""

    def __init__(self, address: str | None, trusted: bool) -> None:
        self.address = address
        self.trusted = trusted


class TickBatch:
    """The inline answers of one turn of the event loop. Their rows go to the spool in one write
    at the end of the turn, then the answers go out in the order they were made: a 202 never
    leaves before its row is in the spool, and the spool takes one write per turn instead of one
    per event (under wrk, 32 connections, a turn answers several events)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.to_store: list[Outcome] = []  # the turn's outcomes with a row: written, then counted
        self.answers: list[tuple[Any, bytes, bool]] = []  # (transport, answer, whether its row is in this batch)
        self.steps: list[Any] = []  # the visit steps of to_store's events (SessionCache.detach)
        self.scheduled = False

    def add(self, protocol: Any, answer: bytes, to_store: Outcome | None) -> None:
        """Queue ``answer``; ``to_store`` is its Outcome when that has a row to write first."""
        if to_store is not None:
            self.to_store.append(to_store)
        self.answers.append((protocol.transport, answer, to_store is not None))
        if not self.scheduled:
            self.scheduled = True
            protocol._loop.call_soon(self.flush)

    def flush(self) -> None:
        state = self.state
        to_store, answers, steps = self.to_store, self.answers, self.steps
        self.to_store, self.answers, self.steps, self.scheduled = [], [], [], False
        failed: bytes | None = None
        if to_store:
            try:
                # the budget was checked as each was accepted (_answer): a turn's rows may pass it, as a batch's do
                state.spool.append(b"".join([o.row for o in to_store if o.row is not None]), enforce_budget=False)
            except SpoolRefused as refused:  # a full or failing disk: 503 to their senders, their visits not stepped
                state.pipeline.sessions.undo(steps)
                rejection = beacon.unavailable(refused.reason)
                state.metrics.rejected.labels(refused.reason).inc(len(to_store))
                failed = serialise(rejection.response)
            except Exception as exc:  # noqa: BLE001 - anything else: their senders get a 500, never a 202
                state.pipeline.sessions.undo(steps)
                failed = serialise(internal_error(exc, state.metrics, route=f"POST {PATH}"))
            else:
                for outcome in to_store:
                    beacon.count(state, outcome)
        for transport, answer, stored in answers:
            if transport is not None and not transport.is_closing():
                transport.write(failed if stored and failed is not None else answer)


def answer_messages(state: State, inline: Any, messages: Sequence[Any]) -> list[Any] | None:
    """Answer the parsed ``messages`` of an idle connection in order (their answers go out at
    the end of the loop's turn: TickBatch); None when all were answered, else the ones left for
    aiohttp (from the first that cannot be answered here, so the order holds). ``inline`` is
    the connection's wrapped parser (inline._InlineParser: aiohttp's parser and protocol, this
    server's TickBatch, and the connection's Peer once known)."""
    protocol = inline._protocol
    batch: TickBatch = inline.batch
    for index, (message, payload) in enumerate(messages):
        answer = _answer(state, message, payload, inline, batch)
        if isinstance(answer, Handover):
            return [(answer.message, answer.payload), *messages[index + 1:]]
        inline._parser.message_consumed()
        batch.add(protocol, answer[0], answer[1])
    _keep_alive(protocol)
    return None


def _peer(state: State, inline: Any) -> Peer:
    peer = inline.peer
    if peer is None:
        peername = inline._protocol.peername
        address = str(peername[0]) if isinstance(peername, tuple) else None
        peer = inline.peer = Peer(address, address in state.trusted if address else False)
    return peer


class Handover:
    """A message (and its body) for aiohttp's own handling."""

    def __init__(self, message: Any, payload: Any) -> None:
        self.message = message
        self.payload = payload


def _answer(state: State, message: Any, payload: Any, inline: Any, batch: TickBatch) -> tuple[bytes, Outcome | None] | Handover:
    """The serialised answer to ``message`` and its Outcome when that has a row still to store
    (None otherwise); or a Handover for aiohttp."""
    if message.method != "POST" or message.path != PATH or message.version != HttpVersion11 or message.should_close \
            or message.chunked or not payload.is_eof():
        return Handover(message, payload)
    headers = message.headers
    if "Authorization" in headers:
        return Handover(message, payload)  # an operator's request may date its event (beacon.backfill_time)
    body = _whole_body(payload)
    origin = headers.get("Origin")
    peer = _peer(state, inline)
    sessions = state.pipeline.sessions
    sessions.begin()
    try:
        if len(body) > beacon.MAX_EVENT_BYTES:
            raise beacon.too_large(beacon.MAX_EVENT_BYTES)
        facts = beacon.facts_of(headers, peer.address, state, peer.trusted)
        outcome = beacon.run_event(state, beacon.parse_json(body), facts, datetime.now(UTC))
        to_store = outcome if outcome.row is not None else None
        if to_store is None:
            beacon.count(state, outcome)
            sessions.commit()
        elif (refused := state.spool.refusal()) is not None:
            sessions.rollback()
            raise beacon.unavailable(refused)
        else:  # its row is written at the end of the turn, before its answer goes out: the batch
            batch.steps.extend(sessions.detach())  # keeps its visit steps, to take them back if that write fails
        if outcome.dropped is None and not origin:
            return _accepted(), to_store
        return serialise(beacon.event_answer(outcome, beacon.cors_headers(origin, state))), to_store
    except NoCurrentKey:
        sessions.rollback()
        return Handover(message, _unread(body, inline._protocol))
    except beacon.Reject as rej:
        response = beacon.rejected(rej, origin, state)
    except Exception as exc:  # noqa: BLE001 - as the error middleware does for routed requests
        response = internal_error(exc, state.metrics, route=f"POST {PATH}")
    return serialise(response), None


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
