"""The retired seed × test-clip bootstrap, kept to measure it against the book's procedure.

Before the cluster procedure of :mod:`mvlib.evaluate.significance`, the book's paired
comparisons drew, in every replicate, the test clips with replacement (one draw per split,
shared by its units and both configurations: crossed with the units on one split, nested
in them with a split per seed) and the units with replacement, and took the mean over the
drawn units of each unit's mean over the drawn clips; CI and p used normal quantiles. It
treats clips as independent draws: on sensor-clustered data its 95% interval covers 74–91%
(``benchmarks/interval_coverage.py``). ``benchmarks/power.py --method seed-clip`` builds the book's
tables with it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from mvlib.evaluate.score_matrix import check_matrix, draw_counts, unit_splits
from mvlib.evaluate.significance import PairedDiff, mdd

__all__ = ["bootstrap_replicates", "seed_clip_bootstrap", "seed_clip_procedure"]


def bootstrap_replicates(d: np.ndarray, clip_counts: dict, seed_counts: np.ndarray) -> np.ndarray:
    """Replicates of the mean paired difference for given resampling counts.

    The deterministic core of :func:`seed_clip_bootstrap`, exposed so that tests can check
    it against an explicit loop over drawn indices.

    Parameters
    ----------
    d : ndarray[S x N]
        Paired per-clip differences, NaN where a unit did not score a clip.
    clip_counts : dict
        ``{split index: ndarray[B x n_g]}``: how often each clip of split g (in the order
        of :func:`mvlib.evaluate.score_matrix.unit_splits`) is drawn in each of B
        replicates (each row sums to n_g).
    seed_counts : ndarray[B x S]
        How often each unit is drawn per replicate (each row sums to S).

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


def seed_clip_bootstrap(
    a, b, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05, *, clusters=None
) -> PairedDiff:
    """The paired difference ``a - b`` (ndarray[S x N] each) by the seed × clip bootstrap.

    ``se_units`` is the spread with the clips fixed (units resampled), ``se_sensors`` the
    spread with the units fixed (clips resampled, each clip its own cluster); CI and p use
    normal quantiles (``df`` infinite), ``mdd`` 80% power. ``clusters`` (the sensor of
    every clip) is only counted (``n_clusters``): the procedure ignores it.
    """
    a, b = check_matrix("a", a), check_matrix("b", b)
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        raise ValueError("seed_clip_bootstrap: a and b must score the same (unit, clip) cells")
    if n_boot < 2:
        raise ValueError(f"seed_clip_bootstrap: n_boot must be >= 2, got {n_boot}")
    d = a - b
    keep = (~np.isnan(d)).any(axis=0)  # clips some unit scored
    d = d[:, keep]
    sensors = None if clusters is None else np.asarray(clusters)[keep]
    rng = np.random.default_rng(seed)
    splits = unit_splits(~np.isnan(d))
    clip_counts = {g: draw_counts(rng, n_boot, clips.size) for g, (_, clips) in enumerate(splits)}
    seed_counts = draw_counts(rng, n_boot, d.shape[0])
    est = float(np.mean([np.nanmean(row) for row in d]))
    se = float(bootstrap_replicates(d, clip_counts, seed_counts).std(ddof=1))
    fixed_clips = {g: np.ones_like(k) for g, k in clip_counts.items()}  # every clip once
    se_units = float(bootstrap_replicates(d, fixed_clips, seed_counts).std(ddof=1))
    se_clips = float(bootstrap_replicates(d, clip_counts, np.ones_like(seed_counts)).std(ddof=1))
    q = float(stats.norm.ppf(1 - alpha / 2))
    p = float(2 * stats.norm.sf(abs(est) / se)) if se > 0 else (math.nan if est == 0 else 0.0)
    return PairedDiff(
        estimate=est,
        se=se,
        ci_low=est - q * se,
        ci_high=est + q * se,
        p=p,
        se_units=se_units,
        se_sensors=se_clips,
        n_units=int(d.shape[0]),
        n_clips=int(d.shape[1]),
        mdd=mdd(se, alpha, 0.8),
        n_clusters=0 if sensors is None else int(np.unique(sensors).size),
        n_splits=len(splits),
        procedure=f"seed × test-clip bootstrap ({n_boot} replicates, normal quantiles)",
    )


def seed_clip_procedure(n_boot: int = 2000, seed: int = 0):
    """:func:`seed_clip_bootstrap` as a table's ``procedure``
    (:func:`mvlib.report.comparison.compare`): ``(a, b, *, alpha, clusters) -> PairedDiff``."""

    def procedure(a, b, *, alpha: float = 0.05, clusters=None) -> PairedDiff:
        return seed_clip_bootstrap(a, b, n_boot, seed, alpha, clusters=clusters)

    return procedure
