"""The former seed x test-clip ("pigeonhole") bootstrap, kept to measure it; shared helpers.

Until the cluster procedure of :mod:`mvlib.evaluate.significance` replaced it, the book's
paired comparisons drew, in every replicate, the test clips with replacement (one draw per
split, shared by its seeds and both configurations: crossed with the seeds on one split,
nested in them with a split per seed) and the seeds with replacement, and took the mean over
the drawn seeds of each seed's mean over the drawn clips; CI and p used normal quantiles.
It treats clips as independent draws: on sensor-clustered data its 95% interval covers
74–91% (``benchmarks/coverage.py``). ``paired_bootstrap(..., method="pigeonhole")`` runs it.

Also here, shared with :func:`mvlib.evaluate.significance.prob_best`: the input checks, the
grouping of units into splits and the resampling counts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_replicates", "pigeonhole", "check_matrix", "unit_splits", "draw_counts"]


def check_matrix(name: str, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name}: expected per-clip scores [S seeds x N clips], got {a.shape}")
    if np.isinf(a).any():
        raise ValueError(f"{name}: scores must be finite or NaN (not scored), found inf")
    return a


def unit_splits(present: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group seeds by their set of scored clips: [(seed indices, clip indices)]."""
    groups: dict[bytes, list[int]] = {}
    for s in range(present.shape[0]):
        groups.setdefault(present[s].tobytes(), []).append(s)
    return [(np.array(v), np.nonzero(present[v[0]])[0]) for v in groups.values()]


def draw_counts(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
    """How often each of n items is drawn in n draws with replacement: ndarray[B x n]."""
    idx = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]  # (B, n)
    return np.bincount(idx.ravel(), minlength=n_boot * n).reshape(n_boot, n)


def bootstrap_replicates(d: np.ndarray, clip_counts: dict, seed_counts: np.ndarray) -> np.ndarray:
    """Replicates of the mean paired difference for given resampling counts.

    The deterministic core of :func:`paired_bootstrap`, exposed so that tests can check it
    against an explicit loop over drawn indices.

    Parameters
    ----------
    d : ndarray[S x N]
        Paired per-clip differences, NaN where a seed did not score a clip.
    clip_counts : dict
        ``{split index: ndarray[B x n_g]}``: how often each clip of split g (in the order
        of :func:`unit_splits`) is drawn in each of B replicates (each row sums to n_g).
    seed_counts : ndarray[B x S]
        How often each seed is drawn per replicate (each row sums to S).

    Returns
    -------
    ndarray[B]
    """
    splits = unit_splits(~np.isnan(d))
    n_boot = seed_counts.shape[0]
    seed_means = np.empty((n_boot, d.shape[0]))  # (B, S)
    for g, (seeds, clips) in enumerate(splits):
        k = np.asarray(clip_counts[g], dtype=np.float64)  # (B, n_g)
        assert k.shape == (n_boot, clips.size), f"clip_counts[{g}]: shape {k.shape}"
        block = d[np.ix_(seeds, clips)]  # (S_g, n_g)
        seed_means[:, seeds] = (k @ block.T) / clips.size  # (B, S_g)
    w = np.asarray(seed_counts, dtype=np.float64)
    assert w.shape == (n_boot, d.shape[0]), f"seed_counts: shape {w.shape}"
    return (w * seed_means).sum(axis=1) / d.shape[0]


def pigeonhole(d: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float, float]:
    """The former seed x clip bootstrap of ``d`` ndarray[S x N]: (estimate, se, se_units,
    se_clips), with ``n_boot`` replicates drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    splits = unit_splits(~np.isnan(d))
    clip_counts = {g: draw_counts(rng, n_boot, clips.size) for g, (_, clips) in enumerate(splits)}
    seed_counts = draw_counts(rng, n_boot, d.shape[0])
    reps = bootstrap_replicates(d, clip_counts, seed_counts)
    est = float(np.mean([np.nanmean(row) for row in d]))
    fixed_clips = {g: np.ones_like(k) for g, k in clip_counts.items()}  # every clip once
    se_units = float(bootstrap_replicates(d, fixed_clips, seed_counts).std(ddof=1))
    se_clips = float(bootstrap_replicates(d, clip_counts, np.ones_like(seed_counts)).std(ddof=1))
    return est, float(reps.std(ddof=1)), se_units, se_clips
