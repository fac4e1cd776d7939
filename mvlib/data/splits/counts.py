"""Split sizes from fractions: checked fractions, largest-remainder counts.

The sensor split, the balanced pair quota and the downstream partition all turn fractions
into integer counts the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_fractions(fractions: Sequence[float], name: str) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError(f"{name}: expected 3 positive fractions, got {list(fractions)}")
    if abs(f.sum() - 1.0) > 1e-3:
        raise ValueError(f"{name}: fractions {list(fractions)} sum to {f.sum():.4f}, expected 1")
    return f / f.sum()


def apportion(n: int, fractions: np.ndarray, min_each: bool) -> np.ndarray:
    """Largest-remainder rounding of ``fractions * n`` to integers summing to ``n``.

    Ties go to the earlier entry. With ``min_each`` (needs ``n >= len(fractions)``),
    an entry rounded to 0 takes one from the currently largest entry.
    """
    quota = np.round(fractions * n, 9)  # so that 39/56 * 56 is 39, not 38.999...
    counts = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[: n - int(counts.sum())]] += 1
    if min_each:
        assert n >= len(counts), f"cannot give each of {len(counts)} parts one of {n}"
        for k in np.flatnonzero(counts == 0):
            counts[int(np.argmax(counts))] -= 1
            counts[k] += 1
    assert int(counts.sum()) == n and np.all(counts >= 0), f"bad apportionment {counts}"
    return counts
