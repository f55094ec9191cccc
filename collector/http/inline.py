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

This module hooks the path into aiohttp and stays Python (it swaps the class of aiohttp's server
object); the per-message work, the checks, the answer and the keep-alive bookkeeping, is in
collector/http/answer.py, compiled with the rest of the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web_protocol, web_server
from aiohttp.streams import StreamReader

from collector.http import answer
from collector.http.state import State

__all__ = ["install"]

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
    server.spii_batch = answer.TickBatch(state)  # type: ignore[attr-defined]
    return True


class _BeaconServer(web_server.Server):
    """aiohttp's connection factory, with the parser of each connection wrapped."""

    spii_state: State
    spii_batch: answer.TickBatch

    def __call__(self) -> web_protocol.RequestHandler:
        protocol = super().__call__()
        protocol._parser = _InlineParser(protocol._parser, protocol, self.spii_state, self.spii_batch)
        return protocol


class _InlineParser:
    """aiohttp's request parser, keeping back the messages answered inline: the protocol queues
    only what is left, so its own handling never sees them."""

    __slots__ = ("_parser", "_protocol", "_state", "batch", "peer")

    def __init__(self, parser: Any, protocol: web_protocol.RequestHandler, state: State, batch: answer.TickBatch) -> None:
        self._parser, self._protocol, self._state = parser, protocol, state
        self.batch = batch  # the server's answers of this turn of the loop (one for all its connections)
        self.peer: answer.Peer | None = None  # the socket's address, and whether it is a trusted proxy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def feed_data(self, data: bytes) -> tuple[Sequence[Any], bool, bytes]:
        messages, upgraded, tail = self._parser.feed_data(data)
        protocol = self._protocol
        waiter = protocol._waiter
        if not messages or upgraded or waiter is None or waiter.done():
            return messages, upgraded, tail  # nothing new, or the protocol is busy: order first
        left = answer.answer_messages(self._state, self, messages)
        return (left or ()), upgraded, tail
