"""A server-rendered page sent while it is computed: a big client's cold dashboard takes seconds
(its panels one after another), and the browser can show the head (totals, chart) and each
panel as it arrives instead of a blank page. Plain chunked HTML: no JavaScript needed.

The page is rendered in a worker thread. Before each number is fetched, what was rendered so
far goes out, so a panel's query never holds back the panels above it. A reader who leaves
stops the remaining queries.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from typing import Any

from aiohttp import web

__all__ = ["PageStream"]

log = logging.getLogger("spii.http")
INCOMPLETE = ('<p class="note" id="incomplete">This page could not be completed: the numbers below it are missing. '
              'Reload to try again.</p></body></html>')


class _ReaderGone(Exception):
    """The reader closed the connection: no more queries for this page."""


class PageStream:
    def __init__(self, threads: Executor | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._threads = threads  # where the page renders (None: the loop's default pool)
        self._queue: asyncio.Queue[tuple[str, threading.Event] | BaseException | None] = asyncio.Queue()
        self._rendered: list[str] = []
        self._gone = False

    def fetching(self, fetch: Callable[[str, dict[str, str]], Any]) -> Callable[[str, dict[str, str]], Any]:
        """``fetch`` that first sends what the page has so far (called in the worker thread)."""

        def fetch_after_sending(endpoint: str, query: dict[str, str]) -> Any:
            self._send_rendered()
            if self._gone:
                raise _ReaderGone()
            return fetch(endpoint, query)

        return fetch_after_sending

    def _send_rendered(self) -> None:
        """What the page has so far, to the reader; back once it is written (or the reader is
        gone). So the next query starts only after the write that would show a reader has left:
        answers counted ahead with others (reports/together.py) come back at once, and the
        rendering would otherwise outrun the writes through the rest of the page."""
        if self._rendered and not self._gone:
            text = "".join(self._rendered)
            self._rendered.clear()
            written = threading.Event()
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (text, written))
            while not written.wait(0.5) and not self._gone:
                pass

    def _render(self, chunks: Iterator[str]) -> None:
        """In the worker thread: the whole page into the queue, then None (or what went wrong)."""
        end: BaseException | None = None
        try:
            for chunk in chunks:
                self._rendered.append(chunk)
            self._send_rendered()
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which reports it
            end = exc
        self._loop.call_soon_threadsafe(self._queue.put_nowait, end)

    async def send(self, request: web.Request, chunks: Iterator[str], headers: dict[str, str]) -> web.StreamResponse:
        """Answer 200 with the page as it is rendered (the page's head must be computed already:
        errors before the first byte get their own answer from the caller)."""
        response = web.StreamResponse(status=200, headers=headers)
        response.content_type = "text/html"
        response.charset = "utf-8"
        self._loop.run_in_executor(self._threads, self._render, chunks)  # (it never raises: its end is in the queue)
        try:
            await response.prepare(request)
            while (item := await self._queue.get()) is not None:
                if isinstance(item, BaseException):
                    if not isinstance(item, _ReaderGone):
                        log.warning("dashboard page cut short: %s", type(item).__name__)  # (the type only: never a value)
                        await response.write(INCOMPLETE.encode())
                    break
                text, written = item
                try:
                    await response.write(text.encode())
                except BaseException:
                    self._gone = True
                    raise
                finally:
                    written.set()
            await response.write_eof()
        finally:
            self._gone = True  # a reader who left: the rendering stops at its next query
        return response
