"""Opt-in differential privacy for exports: a per-client budget of epsilon per calendar month
(UTC), spent by every export, with the noise drawn by OpenDP (its discrete Laplace
mechanism, never hand-written noise). Off unless a client has ``dp_budget``.

What an export releases under it: the visitor count of the period, of each shown time bucket and
of each shown breakdown row (and ``(other)``). Each of these changes by at most one when one
visitor is added or removed (sensitivity 1). The export's epsilon is split evenly across them
(sequential composition): an export of n figures adds discrete Laplace noise of scale
n / epsilon to each. The counts used are the exact ones, not the cell-key perturbed ones, whose
noise would raise the sensitivity. Counts of events (pageviews, visits, ...) are left out: one
visitor can add any number of them, so they have no useful bound.

Not covered: which rows appear is decided by the k-suppression of true counts, not by the
mechanism, so a row's presence says "at least k visitors" (documented in docs/design.md).

The ledger (``<data dir>/privacy_budget.json``) is written atomically under a file lock before
any figure is released. A refused export has spent nothing. Nodes that serve one client should
share the data dir's ledger (or let one node serve exports)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from collector.errors import UserError
from collector.files import atomic_write, locked

__all__ = ["PrivacyLedger", "BudgetSpent", "DpUnavailable", "dp_release", "require_opendp"]


class DpUnavailable(UserError):
    """This install has no OpenDP: differential privacy is an optional extra (265 MB)."""


def require_opendp() -> None:
    """Raise DpUnavailable, naming the extra to install, when OpenDP is not installed."""
    try:
        import opendp  # noqa: F401
    except ImportError:
        raise DpUnavailable("differential privacy needs OpenDP, an optional extra: pip install -e '.[dp]' "
                            "(or pip install 'spii[dp]')") from None


class BudgetSpent(Exception):
    def __init__(self, budget: float, spent: float, renews: date) -> None:
        super().__init__(f"privacy budget of epsilon {budget:g} for this month is spent ({spent:g} used); it renews on {renews}")
        self.budget, self.spent, self.renews = budget, spent, renews


def _month(now: datetime) -> str:
    return now.strftime("%Y-%m")


def _next_month(now: datetime) -> date:
    return date(now.year + now.month // 12, now.month % 12 + 1, 1)


class PrivacyLedger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, float]]:
        try:
            return json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}

    def spent(self, client_id: str, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        return float(self._read().get(client_id, {}).get(_month(now), 0.0))

    def spend(self, client_id: str, epsilon: float, budget: float, now: datetime | None = None) -> float:
        """Record ``epsilon`` as spent this month; BudgetSpent (nothing recorded) when it would
        exceed ``budget``. Returns what is left."""
        now = now or datetime.now(UTC)
        with locked(self.path):
            ledger = self._read()
            months = ledger.setdefault(client_id, {})
            used = float(months.get(_month(now), 0.0))
            if used + epsilon > budget + 1e-9:
                raise BudgetSpent(budget, used, _next_month(now))
            months[_month(now)] = round(used + epsilon, 9)
            atomic_write(self.path, json.dumps(ledger, indent=1, sort_keys=True).encode() + b"\n")
        return budget - used - epsilon


def _figures(overview: dict[str, Any]) -> list[tuple[dict, str]]:
    """Every visitor count the export will show, as (holder, key) to overwrite in place."""
    out: list[tuple[dict, str]] = []
    visitors = overview["aggregate"]["results"].get("visitors")
    if visitors is not None and visitors.get("value") is not None:
        out.append((visitors, "value"))
    out += [(point, "visitors") for point in overview["timeseries"]["results"] if point.get("visitors") is not None]
    for panel in overview["panels"]:
        out += [(row, "visitors") for row in panel["results"] if row.get("visitors") is not None]
    return out


def dp_release(overview: dict[str, Any], epsilon: float) -> dict[str, Any]:
    """The overview with its visitor counts released through OpenDP's discrete Laplace
    mechanism, and every other count removed (see the module docstring). Changes ``overview``."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    figures = _figures(overview)
    if not figures:
        return overview
    scale = len(figures) / epsilon  # epsilon / n each: sensitivity 1 -> epsilon_i = 1 / scale
    mechanism = dp.m.make_laplace(dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=scale)
    assert abs(mechanism.map(1) * len(figures) - epsilon) < 1e-9 * max(1.0, epsilon)
    for holder, key in figures:
        holder[key] = max(0, int(mechanism(int(holder[key]))))  # clamping is post-processing: still private
    overview["aggregate"]["results"] = {"visitors": overview["aggregate"]["results"].get("visitors", {"value": None})}
    for point in overview["timeseries"]["results"]:
        point.pop("pageviews", None)
    for panel in overview["panels"]:
        panel["metrics"] = ["visitors"]
        for row in panel["results"]:
            for metric in list(row):
                if metric not in ("visitors", "other", panel["key"]):
                    row.pop(metric)
    overview["noise_note"] = (f"Differential privacy: each visitor count has OpenDP discrete Laplace noise of scale {scale:.1f} "
                              f"(this export spent epsilon {epsilon:g} over {len(figures)} counts); other counts are left out.")
    return overview
