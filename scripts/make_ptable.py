"""Write the perturbation table (p-table) of the cell-key method: collector/reports/ptable.csv.

For each count value v (0..MAX_ADJUSTMENT, then every larger value uses the last row) the table
gives the probability of each adjustment a, with

* |a| <= MAX_ADJUSTMENT and v + a >= 0 (no count becomes negative; small values may become 0),
* mean exactly 0 (the noise is unbiased: totals over many cells stay right on average),
* variance VARIANCE for every value from VARIANCE up, and the value itself below it (a count of 1
  or 2 moves by about as much as it is),
* 0 stays 0 (an empty cell is never made to look populated),

and, among such distributions, the one of maximum entropy: p(a) proportional to
exp(l1 * a - l2 * a^2), with l1 and l2 found by bisection. Run it to change the parameters:

    .venv/bin/python scripts/make_ptable.py
"""

from __future__ import annotations

import math
from pathlib import Path

MAX_ADJUSTMENT = 4
VARIANCE = 3.0
OUT = Path(__file__).resolve().parents[1] / "collector" / "reports" / "ptable.csv"


def _distribution(support: list[int], l1: float, l2: float) -> list[float]:
    weights = [math.exp(l1 * a - l2 * a * a) for a in support]
    total = sum(weights)
    return [w / total for w in weights]


def _moments(support: list[int], probs: list[float]) -> tuple[float, float]:
    mean = sum(a * p for a, p in zip(support, probs))
    return mean, sum((a - mean) ** 2 * p for a, p in zip(support, probs))


def _zero_mean_l1(support: list[int], l2: float) -> float:
    low, high = -50.0, 50.0  # the mean grows with l1
    for _ in range(200):
        mid = (low + high) / 2
        if _moments(support, _distribution(support, mid, l2))[0] < 0:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def row(value: int) -> list[tuple[int, float]]:
    if value == 0:
        return [(0, 1.0)]
    support = list(range(-min(value, MAX_ADJUSTMENT), MAX_ADJUSTMENT + 1))
    low, high = -5.0, 20.0  # the variance falls as l2 grows
    for _ in range(200):
        mid = (low + high) / 2
        probs = _distribution(support, _zero_mean_l1(support, mid), mid)
        if _moments(support, probs)[1] > min(VARIANCE, value):
            low = mid
        else:
            high = mid
    l2 = (low + high) / 2
    probs = _distribution(support, _zero_mean_l1(support, l2), l2)
    return list(zip(support, probs))


def main() -> None:
    lines = [
        f"# spii perturbation table (scripts/make_ptable.py): max |adjustment| {MAX_ADJUSTMENT}, mean 0, variance min({VARIANCE}, value),",
        "# 0 stays 0, no count below 0, maximum entropy. Values above the last row use the last row.",
        "value,adjustment,probability",
    ]
    for value in range(MAX_ADJUSTMENT + 1):
        for adjustment, probability in row(value):
            lines.append(f"{value},{adjustment},{probability:.12f}")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
