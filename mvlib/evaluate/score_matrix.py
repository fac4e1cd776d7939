"""Per-clip score matrices [units × clips]: their check, their splits, and resampling counts.

The paired comparisons (:mod:`mvlib.evaluate.significance`) take per-clip scores as a
matrix with one row per unit (a seed, or a (split seed, seed) pair) and one column per test
clip, NaN where a unit did not score a clip. Units that score the same clips form a split.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_matrix", "unit_splits", "draw_counts"]


def check_matrix(name: str, a) -> np.ndarray:
    """``a`` as a float matrix [S units x N clips]; ValueError naming ``name`` otherwise."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name}: expected per-clip scores [S seeds x N clips], got {a.shape}")
    if np.isinf(a).any():
        raise ValueError(f"{name}: scores must be finite or NaN (not scored), found inf")
    return a


def unit_splits(present: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group units by their set of scored clips: [(unit indices, clip indices)].

    ``present`` ndarray[S x N] of bool: which clips each unit scored.
    """
    groups: dict[bytes, list[int]] = {}
    for s in range(present.shape[0]):
        groups.setdefault(present[s].tobytes(), []).append(s)
    return [(np.array(v), np.nonzero(present[v[0]])[0]) for v in groups.values()]


def draw_counts(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
    """How often each of n items is drawn in n draws with replacement: ndarray[B x n]."""
    idx = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]  # (B, n)
    return np.bincount(idx.ravel(), minlength=n_boot * n).reshape(n_boot, n)
