"""Cell-key perturbation of report counts (the method of the ABS TableBuilder and of the ONS for
the 2021 Census), so that differencing answers does not rebuild a hidden small count.

* Every visitor pseudonym has a **record key**: its visitor id hashed under a per-client secret
  derived from the master key (``record_secret``). Analysts can compute neither. The visitor id
  is itself a keyed hash under the day's epoch key, so record keys rotate with it. Once that key
  is destroyed, no address can be linked to a record key again.
* A cell's key comes from the distinct visitors in it, computed in ClickHouse: the largest
  record key ``m`` of the cell and the number ``n`` of its visitors, hashed together into a
  position in [0, 1). The position depends only on *which* visitors are in the cell. The same
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

__all__ = ["PTable", "cell_position", "RECORD_KEY_SQL", "CELL_KEY_SQL", "VISIT_CELL_KEY_SQL", "PTABLE"]

PTABLE_PATH = Path(__file__).resolve().parent / "ptable.csv"

# A row's record key, in ClickHouse; {record_secret:UInt64} is bound per client.
RECORD_KEY_SQL = "cityHash64(visitor_id, {record_secret:UInt64})"
VISIT_CELL_KEY_SQL = f"maxIf({RECORD_KEY_SQL}, visitor_id != 0)"  # over one row per visit
CELL_KEY_SQL = f"maxIf({RECORD_KEY_SQL}, visitor_id != 0 AND kind != 'engagement')"  # over events: the cell's visitors (catalogue.COUNTED)


def cell_position(max_record_key: int, visitors: int) -> float:
    """The cell key in [0, 1) from the cell's largest record key and its number of visitors."""
    if visitors <= 0:
        return 0.0
    digest = hashlib.blake2b(f"{max_record_key}:{visitors}".encode(), digest_size=8).digest()
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
