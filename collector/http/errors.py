"""Clear, PII-free error answers: status + JSON ``{"error": ..., "details": [{field, problem}]}``."""

from __future__ import annotations

from aiohttp import web


def error(status: int, message: str, details: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message, "details": details or []}, status=status, headers=headers)


def field_error(status: int, message: str, field: str, problem: str) -> web.Response:
    return error(status, message, [{"field": field, "problem": problem}])
