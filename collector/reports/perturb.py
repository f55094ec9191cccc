"""Cell-key perturbation of report counts (the method of the ABS TableBuilder and of the ONS for
the 2021 Census), so that differencing answers does not rebuild a hidden small count.

* A cell's key comes from the distinct visitors in it: the largest visitor id ``m`` of the cell
  (a plain maximum, computed in ClickHouse) and the number ``n`` of its visitors, hashed
  together under a per-client secret derived from the master key (``record_secret``) into a
  position in [0, 1). Analysts cannot compute it, and the secret never reaches ClickHouse (nor
  its query log). The visitor id is
  itself a keyed hash under the day's epoch key, so it rotates with it. Once that key is
  destroyed, no address can be linked to a visitor id again. The position depends only on
  *which* visitors are in the cell. The same
  cell asked through other filters, another phrasing of the period, or a repeated query gets
  the same position and so the same noise, and averaging repeated questions gains nothing. A
  nested cell (the same visitors and a few more) has another ``n``, so its position is
  unrelated. A maximum costs one pass and no hash set (a sum of distinct keys doubled the cost
  of a breakdown at 10M events).
* The **p-table** (``ptable.csv``, written by ``scripts/make_ptable.py``) maps (count, position)
  to an adjustment of at most +-4, with mean 0 and variance min(3, count). Counts never go below
  0, 0 stays 0, and a count of 1 to 3 may become 0.

Derived metrics (rates, averages) are computed from the perturbed counts. Suppression still
decides on the true number of people, so a row under k is hidden, never shown with noise.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PTable", "cell_position", "CELL_KEY_SQL", "VISIT_CELL_KEY_SQL", "PTABLE"]

PTABLE_PATH = Path(__file__).resolve().parent / "ptable.csv"

# A cell's largest visitor id, in ClickHouse (the secret is applied in cell_position).
VISIT_CELL_KEY_SQL = "maxIf(visitor_id, visitor_id != 0)"  # over one row per visit
CELL_KEY_SQL = "maxIf(visitor_id, visitor_id != 0 AND kind != 'engagement')"  # over events: the cell's visitors (catalogue.COUNTED)


def cell_position(max_visitor: int, visitors: int, secret: int = 0) -> float:
    """The cell key in [0, 1) from the cell's largest visitor id and its number of visitors,
    under the client's record secret."""
    if visitors <= 0:
        return 0.0
    digest = hashlib.blake2b(f"{max_visitor}:{visitors}".encode(), key=secret.to_bytes(8, "big"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


@dataclass(frozen=True)
class _Row:
    adjustments: tuple[int, ...]
    cumulative: tuple[float, ...]


class PTable:
    """The perturbation table: for each count (up to the last row, which larger counts share), the
    adjustments and their cumulative probabilities."""

    def __init__(self, rows: dict[int, list[tuple[int, float]]]) -> None:
        self._rows: list[_Row] = []
        for value in range(max(rows) + 1):
            pairs = sorted(rows[value])
            total, cumulative = 0.0, []
            for _, probability in pairs:
                total += probability
                cumulative.append(total)
            cumulative[-1] = 1.0
            self._rows.append(_Row(tuple(a for a, _ in pairs), tuple(cumulative)))
        self.max_adjustment = max(abs(a) for row in self._rows for a in row.adjustments)

    @classmethod
    def load(cls, path: Path = PTABLE_PATH) -> PTable:
        rows: dict[int, list[tuple[int, float]]] = {}
        with open(path, newline="") as handle:
            for record in csv.DictReader(line for line in handle if not line.startswith("#")):
                rows.setdefault(int(record["value"]), []).append((int(record["adjustment"]), float(record["probability"])))
        return cls(rows)

    def adjustment(self, value: int, position: float) -> int:
        row = self._rows[min(value, len(self._rows) - 1)]
        return row.adjustments[min(bisect.bisect_right(row.cumulative, position), len(row.adjustments) - 1)]

    def perturb(self, value: int, position: float) -> int:
        return max(0, value + self.adjustment(value, position)) if value > 0 else 0


PTABLE = PTable.load()
