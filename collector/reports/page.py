"""A page's numbers fetched in-process (the dashboard, an export, an e-mailed report): each stats
call as the HTTP API would answer it (reports/request.py reads its query), the calls a page is
about to make counted together where they can be (reports/together.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from collector.reports.query import QueryError
from collector.reports.request import parse_request
from collector.reports.stats import Stats, StatsRequest
from collector.reports.together import Planned, Together
from collector.tenants import Client

__all__ = ["PageFetch"]


class PageFetch:
    """``fetch(endpoint, query)`` for a page built in-process (the dashboard, an export), with
    ``expect(calls)``: the stats calls that come next, counted together where they can be."""

    def __init__(self, stats: Stats, client: Client, parse: Callable[[Mapping[str, str]], StatsRequest] = parse_request) -> None:
        self.stats, self.client, self.parse = stats, client, parse
        self.together = Together(stats.store.query_dicts, stats.daily)

    def __call__(self, endpoint: str, query: Mapping[str, str]) -> dict[str, Any]:
        answer = getattr(self.stats, endpoint)
        if endpoint in ("aggregate", "timeseries", "breakdown"):
            return answer(self.client, self.parse(query), together=self.together)
        return answer(self.client, self.parse(query))

    def expect(self, calls: list[tuple[str, Mapping[str, str]]]) -> None:
        planned: list[Planned] = []
        for endpoint, query in calls:
            try:
                planned += self.stats.plan(self.client, endpoint, self.parse(query))
            except QueryError:
                continue  # the call itself answers the error
        self.together.expect(planned)
