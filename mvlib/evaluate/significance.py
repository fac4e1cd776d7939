"""Paired comparisons with power: a seed × test-clip bootstrap, Holm's correction, the MDD.

The quantity a table compares is the paired difference between two configurations scored
on the SAME test clips with the SAME seeds. Its uncertainty has two sources: which seeds
(initialisation, pair sampling) were drawn, and which test clips happened to be in the
test partition. Seeds alone (a t-test over 3 seeds) ignore the second; this module
resamples both.

The bootstrap (:func:`paired_bootstrap`)
----------------------------------------
Input is a per-clip score (clip Jaccard, 0/1 correctness, ...) for every (seed, clip) of
both configurations, ``ndarray[S x N]`` with NaN where a seed did not score a clip. The
paired difference ``d[s, n] = a[s, n] - b[s, n]`` is formed first, and every replicate

1. draws test clips with replacement, ONE draw per split (group of seeds scored on the same
   clip set) shared by every seed of that split and by both configurations: with one
   split, the clip draw is crossed with the seeds ("pigeonhole" bootstrap); with a split
   per seed it is nested in the seeds;
2. draws S seeds with replacement;

and takes the mean over the drawn seeds of each drawn seed's mean difference over the
drawn clips. The estimate is the same mean on the data. Its standard error ``se`` is the
standard deviation of the replicates; the CI is the normal (Wald) interval
``est ± z_{1-α/2} se`` and the p-value ``2 Φ(-|est| / se)``, so that CI, test and MDD all
rest on the same ``se`` (the CI excludes 0 exactly when the uncorrected p < α).

With very few seeds the bootstrap under-states the seed component of the variance by the
factor (S-1)/S (2/3 for 3 seeds).

Which source dominates decides how to buy power, so :class:`PairedDiff` also carries the
two apart, from the same draws: ``se_units`` resamples the seeds alone (the test clips held
fixed: variation between seeds and, with a split-seed axis, between splits) and
``se_clips`` the test clips alone (the seeds held fixed). A larger test partition shrinks
only ``se_clips``; more seeds or split seeds shrink ``se_units`` (and, with new splits,
``se_clips`` too). ``se² ≈ se_units² + se_clips²`` (plus a small interaction term).

Multiple comparisons (:func:`holm`)
-----------------------------------
Holm's step-down adjustment controls the family-wise error rate over all comparisons of
one table (both tasks together).

Minimum detectable difference (:func:`mdd`)
-------------------------------------------
``(z_{1-α/2} + z_{power}) × se``: the true difference a two-sided z-test at level α detects
with the given power. Tables state it at Holm's strictest level ``α / m`` (the level the
smallest of the m p-values must pass), so a difference of that size is detected with 80%
power even when it is the only real one in the table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

__all__ = [
    "PairedDiff",
    "bootstrap_replicates",
    "paired_bootstrap",
    "holm",
    "mdd",
    "mean_bootstrap",
    "z_quantile",
]


def z_quantile(q: float) -> float:
    """Standard normal quantile ``Φ⁻¹(q)``."""
    return float(stats.norm.ppf(q))


@dataclass(frozen=True)
class PairedDiff:
    """The paired difference ``a - b`` of two configurations with its bootstrap statistics."""

    estimate: float  #: mean over seeds of the mean over clips of a - b
    se: float  #: bootstrap standard error
    ci_low: float
    ci_high: float
    p: float  #: two-sided, uncorrected (normal approximation with the bootstrap se)
    se_units: float  #: se with the seeds (units) alone resampled, the test clips held fixed
    se_clips: float  #: se with the test clips alone resampled, the seeds held fixed
    n_seeds: int
    n_clips: int  #: distinct clips scored by both
    n_boot: int

    def as_dict(self) -> dict:
        return asdict(self)


def _check_matrix(name: str, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name}: expected per-clip scores [S seeds x N clips], got {a.shape}")
    if np.isinf(a).any():
        raise ValueError(f"{name}: scores must be finite or NaN (not scored), found inf")
    return a


def _splits(present: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group seeds by their set of scored clips: [(seed indices, clip indices)]."""
    groups: dict[bytes, list[int]] = {}
    for s in range(present.shape[0]):
        groups.setdefault(present[s].tobytes(), []).append(s)
    return [(np.array(v), np.nonzero(present[v[0]])[0]) for v in groups.values()]


def _draw_counts(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
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
        of :func:`_splits`) is drawn in each of B replicates (each row sums to n_g).
    seed_counts : ndarray[B x S]
        How often each seed is drawn per replicate (each row sums to S).

    Returns
    -------
    ndarray[B]
    """
    splits = _splits(~np.isnan(d))
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


def paired_bootstrap(
    a,
    b,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> PairedDiff:
    """Paired difference ``a - b`` over seeds and test clips, with a seed × clip bootstrap.

    Parameters
    ----------
    a, b : ndarray[S x N]
        Per-clip scores of the two configurations, rows the same seeds, columns the same
        clips (NaN: not scored; a clip must be scored or not by both).
    n_boot : int
        Replicates.
    seed : int
        Seed of the resampling (the same seed gives the same result).
    alpha : float
        1 - confidence of the CI.

    Returns
    -------
    PairedDiff
        ``se`` is 0 (and ``p`` 0 or NaN) when there is no variation at all.
    """
    a, b = _check_matrix("a", a), _check_matrix("b", b)
    if a.shape != b.shape:
        raise ValueError(f"paired_bootstrap: a and b differ in shape, {a.shape} vs {b.shape}")
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        raise ValueError("paired_bootstrap: a and b must score the same (seed, clip) cells")
    if n_boot < 2:
        raise ValueError(f"paired_bootstrap: n_boot must be >= 2, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"paired_bootstrap: alpha must be in (0, 1), got {alpha!r}")
    d = a - b  # (S, N)
    present = ~np.isnan(d)
    keep = present.any(axis=0)
    d, present = d[:, keep], present[:, keep]
    if not present.any(axis=1).all():
        raise ValueError("paired_bootstrap: a seed has no scored clip")
    rng = np.random.default_rng(seed)
    splits = _splits(present)
    clip_counts = {g: _draw_counts(rng, n_boot, clips.size) for g, (_, clips) in enumerate(splits)}
    n_seeds = d.shape[0]
    seed_counts = _draw_counts(rng, n_boot, n_seeds)
    reps = bootstrap_replicates(d, clip_counts, seed_counts)
    est = float(np.mean([np.nanmean(row) for row in d]))
    se = float(reps.std(ddof=1))
    # the two sources apart, from the same draws: which one a larger design should add
    fixed_clips = {g: np.ones_like(k) for g, k in clip_counts.items()}  # every clip once
    se_units = float(bootstrap_replicates(d, fixed_clips, seed_counts).std(ddof=1))
    se_clips = float(bootstrap_replicates(d, clip_counts, np.ones_like(seed_counts)).std(ddof=1))
    z = z_quantile(1 - alpha / 2)
    if se > 0:
        p = float(2 * stats.norm.sf(abs(est) / se))
    else:
        p = math.nan if est == 0 else 0.0
    return PairedDiff(
        estimate=est,
        se=se,
        ci_low=est - z * se,
        ci_high=est + z * se,
        p=p,
        se_units=se_units,
        se_clips=se_clips,
        n_seeds=int(n_seeds),
        n_clips=int(d.shape[1]),
        n_boot=int(n_boot),
    )


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control).

    Sorted ascending, ``p_(i)`` (i = 1..m) becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``;
    NaN p-values (undefined tests) stay NaN and do not count in m.

    Returns
    -------
    ndarray[m] in the input order
    """
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"holm: p-values must be in [0, 1], got {p.tolist()}")
    out = np.full(p.shape, np.nan)
    ok = np.nonzero(~np.isnan(p))[0]
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


def mdd(se: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Minimum detectable difference ``(z_{1-α/2} + z_power) × se`` of a two-sided z-test."""
    if not (0.0 < alpha < 1.0 and 0.0 < power < 1.0):
        raise ValueError(f"mdd: alpha and power must be in (0, 1), got {alpha!r}, {power!r}")
    if not se >= 0:
        raise ValueError(f"mdd: se must be >= 0, got {se!r}")
    return float((z_quantile(1 - alpha / 2) + z_quantile(power)) * se)


def mean_bootstrap(a, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> PairedDiff:
    """One configuration's mean score with the same seed × clip bootstrap (``a - 0``)."""
    a = _check_matrix("a", a)
    return paired_bootstrap(a, np.where(np.isnan(a), np.nan, 0.0), n_boot, seed, alpha)
