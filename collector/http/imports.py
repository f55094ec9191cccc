"""Imports over HTTP (admin token): a web server's access log streamed in the request body (plain
or gzip), imported as it arrives (importing/weblog.py) on a report thread, the event loop free,
the answer its summary; a Plausible export's ZIP (importing/plausible.py), stored whole or not at
all; the list of a client's imports, and the removal of one. `spii import` is their client."""

from __future__ import annotations

import zlib

from aiohttp import web

from collector.http.admin import for_admin
from collector.http.errors import field_error
from collector.http.state import STATE
from collector.importing.logformat import compile_format
from collector.importing.plausible import ExportError, delete_import, list_imports, read_export, store_import
from collector.importing.weblog import WeblogImport
from collector.tenants import Client

__all__ = ["add_routes"]

CHUNK_LINES = 20_000  # lines handed to the import thread at once
MAX_EXPORT_BYTES = 1 << 30  # a Plausible export's ZIP is read whole (it is checked whole before anything is stored)
_GZIP = b"\x1f\x8b"


class _Lines:
    """Bytes in, whole lines out: a gzip body (several members too) decompressed as it comes."""

    def __init__(self) -> None:
        self._rest = b""
        self.gzipped: bool | None = None  # (known from the first bytes)
        self._gzip: zlib._Decompress | None = None  # type: ignore[name-defined]  # the member being inflated

    def _inflate(self, data: bytes) -> bytes:
        out = []
        while data:
            if self._gzip is None:
                self._gzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out.append(self._gzip.decompress(data))
            data = self._gzip.unused_data if self._gzip.eof else b""
            if self._gzip.eof:
                self._gzip = None
        return b"".join(out)

    def push(self, data: bytes) -> list[str]:
        if self.gzipped is None and data:
            self.gzipped = data[:2] == _GZIP
        if self.gzipped:
            data = self._inflate(data)
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        return [line.decode("utf-8", "replace") for line in lines]

    def end(self) -> list[str]:
        return [self._rest.decode("utf-8", "replace")] if self._rest else []


async def import_logs(request: web.Request, client: Client) -> web.Response:
    """POST /api/v1/admin/import/logs?client=NAME[&format=combined|common|<nginx log_format>]"""
    state = request.app[STATE]
    pattern = request.query.get("format", "combined")
    try:
        compile_format(pattern)
    except (ValueError, Exception) as exc:  # noqa: BLE001 - re.error too: a bad pattern is the caller's
        return field_error(400, "invalid format", "format", str(exc) if isinstance(exc, ValueError) else "not a usable log_format")
    importer = WeblogImport(client, state.store, state.keyring.store, pattern, flags=state.flags, locate=state.pipeline.locate,
                            us_zip3=state.settings.us_zip3)
    lines, waiting = _Lines(), []
    try:
        async for data in request.content.iter_chunked(1 << 20):
            waiting += lines.push(data)
            if len(waiting) >= CHUNK_LINES:
                batch, waiting = waiting, []
                await state.in_report_thread(importer.feed, batch)
        waiting += lines.end()
        await state.in_report_thread(importer.feed, waiting)
        summary = await state.in_report_thread(importer.finish)
    except zlib.error:
        return field_error(400, "invalid body", "body", "not a complete gzip stream")
    state.stats.forget()  # answers kept for closed periods may now be short of the imported rows
    return web.json_response({"client": client.client_id, **summary})


async def import_plausible(request: web.Request, client: Client) -> web.Response:
    """POST /api/v1/admin/import/plausible?client=NAME&file=EXPORT.zip (the ZIP as the body)"""
    state = request.app[STATE]
    name = request.query.get("file", "export.zip")[:200]
    data = bytearray()
    async for chunk in request.content.iter_chunked(1 << 20):
        data += chunk
        if len(data) > MAX_EXPORT_BYTES:
            return field_error(413, "export too large", "file", f"at most {MAX_EXPORT_BYTES >> 20} MiB")
    try:
        record = await state.in_report_thread(lambda: store_import(state.store, client.client_id, "plausible", name,
                                                                   read_export(bytes(data), name)))
    except ExportError as exc:
        return field_error(400, "invalid export", "file", str(exc))
    state.stats.forget()
    return web.json_response(record, status=201)


async def imports(request: web.Request, client: Client) -> web.Response:
    """GET /api/v1/admin/imports?client=NAME: the client's imports; DELETE with &import_id=ID: remove one."""
    state = request.app[STATE]
    if request.method == "GET":
        return web.json_response({"client": client.client_id, "imports": await state.in_report_thread(list_imports, state.store,
                                                                                                      client.client_id)})
    raw = request.query.get("import_id", "")
    if not raw.isdigit() or len(raw) > 18:
        return field_error(400, "invalid request", "import_id", "the import's id, as `spii import list` shows it")
    if not await state.in_report_thread(delete_import, state.store, client.client_id, int(raw)):
        return field_error(404, "unknown import", "import_id", f"{client.name} has no import {raw}")
    state.stats.forget()
    return web.json_response({"client": client.client_id, "deleted": int(raw)})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/admin/import/logs", for_admin(import_logs))
    app.router.add_post("/api/v1/admin/import/plausible", for_admin(import_plausible))
    app.router.add_get("/api/v1/admin/imports", for_admin(imports))
    app.router.add_delete("/api/v1/admin/imports", for_admin(imports))
