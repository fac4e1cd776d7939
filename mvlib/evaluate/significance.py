"""Paired comparisons of configurations: sensors as clusters, Student t, Holm, per-row MDD.

Two configurations are compared on the same test clips scored by the same units (a unit is
a seed, or a (split seed, seed) pair), given as score matrices ndarray[S x N] (NaN: not
scored). The test clips' sensors are clusters: pass each clip's ``sensor_id`` as
``clusters``.

* :func:`paired_difference` returns a :class:`PairedDiff`: the mean over units of each
  unit's mean difference over its clips, its standard error from the units' and the
  sensors' variance components (closed form, deterministic), a Student t CI and p-value
  with Welch–Satterthwaite degrees of freedom, and the row's minimum detectable difference.
  A comparison whose units' part dominates the variance on fewer than :data:`MIN_DF` df is
  marked ``resolvable=False``; ``dominant_unit`` names a unit that alone dominates the SE.
* :func:`mean_interval`: one configuration's mean with its interval.
* :func:`holm`, :func:`holm_verdicts`: Holm-adjusted p-values of a table, and its
  verdicts (a comparison that is not resolvable is never significant).
* :func:`mdd`, :func:`mdd_summary`: minimum detectable differences, per row and for a
  table's footer.
* :func:`prob_best`: the bootstrap probability that each configuration scores highest.

The variance components, their bias corrections and degrees of freedom, and the coverage
that motivated them (``benchmarks/interval_coverage.py``) are written out in ``book/method.md``,
section "Paired comparisons".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from mvlib.evaluate.score_matrix import check_matrix, draw_counts, unit_splits

__all__ = [
    "PairedDiff",
    "MIN_DF",
    "DOMINANCE",
    "paired_difference",
    "holm",
    "holm_verdicts",
    "mdd",
    "mdd_summary",
    "mean_interval",
    "prob_best",
]

#: a comparison whose unit part (more than half its variance) has fewer df is "not resolvable"
MIN_DF = 3.0
#: a unit "dominates" a comparison's SE when leaving it out cuts the variance by this share
DOMINANCE = 0.75


def _t_quantile(q: float, df: float) -> float:
    return float(stats.norm.ppf(q) if not np.isfinite(df) else stats.t.ppf(q, df))


@dataclass(frozen=True)
class PairedDiff:
    """The paired difference ``a - b`` of two configurations with its statistics."""

    estimate: float  #: mean over units of the mean over clips of a - b
    se: float  #: standard error (all parts)
    ci_low: float
    ci_high: float
    p: float  #: two-sided, uncorrected (Student t with ``df``)
    se_units: float  #: the part of se from units (seeds, and split seeds)
    se_sensors: float  #: the part of se from the test sensors, each with its clips
    n_units: int  #: units (seeds, or (split seed, seed) pairs)
    n_clips: int  #: distinct clips scored by both
    df: float = math.inf  #: Welch–Satterthwaite degrees of freedom of se
    mdd: float = math.nan  #: this row's minimum detectable difference at its α, 80% power
    n_clusters: int = 0  #: test sensors (clusters) over all splits
    n_splits: int = 1
    resolvable: bool = True  #: False: the units cannot carry a verdict (see ``note``)
    dominant_unit: int = -1  #: row of a unit that alone dominates the SE, or -1
    unit_influence: float = 0.0  #: largest leave-one-unit-out share of the variance
    procedure: str = "cluster"  #: the procedure that computed it
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _cluster_ids(clusters, n: int) -> np.ndarray:
    """Integer cluster (sensor) code of each of n clips; None: every clip its own cluster."""
    if clusters is None:
        return np.arange(n)
    c = np.asarray(clusters)
    if c.shape != (n,):
        raise ValueError(f"clusters: expected one sensor id per clip ({n}), got shape {c.shape}")
    return np.unique(c, return_inverse=True)[1].ravel()


@dataclass(frozen=True)
class _Part:
    """Variance parts of one split's estimate (book/method.md, "Paired comparisons")."""

    theta: float
    units: int
    clusters: int
    v_units: float  #: max(v_U - v_I, 0); NaN with one unit
    v_clusters: float  #: v_C; NaN with one cluster


def _split_means(block: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``block`` ndarray[R x n] (all scored), ``codes`` ndarray[n] cluster codes ->
    (M ndarray[R x K] unit x sensor means, π ndarray[K] the sensors' shares of the clips)."""
    ids, inv = np.unique(codes, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    n_k = np.bincount(inv, minlength=ids.size)  # (K,)
    starts = np.concatenate([[0], np.cumsum(n_k)[:-1]])
    M = np.add.reduceat(block[:, order], starts, axis=1) / n_k  # (R, K)
    return M, n_k / n_k.sum()


def _split_part(M: np.ndarray, pi: np.ndarray) -> _Part:
    """Variance parts of one split from its unit x sensor means (book/method.md)."""
    R, K = M.shape
    m_u = M @ pi  # (R,)
    D = M.mean(axis=0)  # (K,)
    theta = float(m_u.mean())
    v_u = float(m_u.var(ddof=1) / R) if R > 1 else math.nan
    v_c = float(K / (K - 1) * np.sum(pi**2 * (D - theta) ** 2)) if K > 1 else math.nan
    if R > 1 and K > 1:
        r = M - m_u[:, None] - D[None, :] + theta  # (R, K) double-centred
        v_i = float(np.sum(pi**2) * np.sum(r**2) / ((R - 1) * (K - 1)) / R)
        v_u = max(v_u - v_i, 0.0)
    return _Part(theta, R, K, v_u, v_c)


def _combine(parts: list[_Part]) -> tuple:
    """(estimate, variance, units part, clusters part, df, df of the units' replicates)."""
    S = sum(p.units for p in parts)
    w = np.array([p.units / S for p in parts])  # (G,) unit shares
    theta = np.array([p.theta for p in parts])
    est = float(w @ theta)
    vu = np.array([0.0 if math.isnan(p.v_units) else p.v_units for p in parts]) * w**2
    vc = np.array([0.0 if math.isnan(p.v_clusters) else p.v_clusters for p in parts]) * w**2
    dfu = np.array([p.units - 1 for p in parts], dtype=np.float64)
    dfc = np.array([p.clusters - 1 for p in parts], dtype=np.float64)
    v_split, G = 0.0, len(parts)
    if G > 1:
        within = np.array([p.v_units + p.v_clusters for p in parts])
        within = np.where(np.isnan(within), 0.0, within)
        v_split = max(0.0, float(theta.var(ddof=1) - within.mean())) * float(np.sum(w**2))
    var = float(vu.sum() + vc.sum() + v_split)
    den_u = np.sum(np.divide(vu**2, dfu, out=np.zeros_like(vu), where=dfu > 0))
    if G > 1 and v_split > 0:  # the split part is s²_B - W̄: as uncertain as s²_B itself
        den_u += (float(theta.var(ddof=1)) * float(np.sum(w**2))) ** 2 / (G - 1)
    den = den_u + np.sum(np.divide(vc**2, dfc, out=np.zeros_like(vc), where=dfc > 0))
    df = float(var**2 / den) if den > 0 else math.inf
    v_units = float(vu.sum() + v_split)
    # replicates behind the units' part: the splits where they differ beyond their seeds,
    # else the seeds within the splits (3 seeds on one split: 2)
    reps = float(G - 1) if G > 1 and v_split > 0 else float(dfu.sum())
    return est, var, v_units, float(vc.sum()), df, reps


def _cluster_means(d: np.ndarray, codes: np.ndarray) -> list[tuple]:
    """Per split: (unit rows, M, π) (see :func:`_split_means`)."""
    return [(u, *_split_means(d[np.ix_(u, c)], codes[c])) for u, c in unit_splits(~np.isnan(d))]


def _influence(means: list[tuple], var: float) -> tuple[int, float]:
    """(unit whose leave-out cuts the variance most, that share) or (-1, share).

    The unit part without the unit is rescaled to the full number of units, so that only
    the unit's own deviation counts, not the loss of one replicate.
    """
    S = sum(M.shape[0] for _, M, _ in means)
    parts = [_split_part(M, pi) for _, M, pi in means]
    best, share = -1, 0.0
    if S < 3 or not var > 0:
        return best, share
    for g, (rows, M, pi) in enumerate(means):
        for i in range(M.shape[0]):
            if M.shape[0] == 1:
                continue  # a split of one unit cannot lose it
            rest = parts[:g] + [_split_part(np.delete(M, i, axis=0), pi)] + parts[g + 1 :]
            _, _, vu, vc, _, _ = _combine(rest)
            cut = 1.0 - (vu * (S - 1) / S + vc) / var
            if cut > share:
                best, share = int(rows[i]), cut
    return (best if share >= DOMINANCE else -1), float(share)


def paired_difference(
    a,
    b,
    alpha: float = 0.05,
    *,
    clusters=None,
    power: float = 0.8,
    min_df: float = MIN_DF,
) -> PairedDiff:
    """Paired difference ``a - b`` over units and test clips clustered in sensors.

    Parameters
    ----------
    a, b : ndarray[S x N]
        Per-clip scores of the two configurations, rows the same units, columns the same
        clips (NaN: not scored; a clip must be scored or not by both).
    alpha : float
        1 - confidence of the CI, and the level of the row's ``mdd``.
    clusters : array-like[N], optional
        Sensor id of every clip (e.g. the clips table's ``sensor_id`` of the test
        partition). None: every clip is its own cluster (clip-independent).
    power : float
        Power of the row's ``mdd``.
    min_df : float
        A comparison whose units' part is more than half its variance and has fewer df is
        marked not resolvable.

    Returns
    -------
    PairedDiff
        ``se`` is 0 (and ``p`` 0 or NaN) when there is no variation at all.
    """
    d, codes = _paired_cells(a, b, alpha, clusters)
    S, N = d.shape
    means = _cluster_means(d, codes)
    est, var, vu, vc, df, df_u = _combine([_split_part(M, pi) for _, M, pi in means])
    se = math.sqrt(var)
    dom, infl = _influence(means, var)
    resolvable, note = _resolvability(S, vu, var, df, df_u, min_df)
    if dom >= 0:
        note = (note + "; " if note else "") + f"SE dominated by unit {dom}"
    q = _t_quantile(1 - alpha / 2, df)
    return PairedDiff(
        estimate=est,
        se=se,
        ci_low=est - q * se,
        ci_high=est + q * se,
        p=_p_value(est, se, df),
        se_units=math.sqrt(vu),
        se_sensors=math.sqrt(vc),
        n_units=int(S),
        n_clips=int(N),
        df=df,
        mdd=mdd(se, alpha, power, df=df),
        n_clusters=int(np.unique(codes).size) if clusters is not None else 0,
        n_splits=len(means),
        resolvable=resolvable,
        dominant_unit=dom,
        unit_influence=infl,
        note=note,
    )


def _paired_cells(a, b, alpha: float, clusters) -> tuple[np.ndarray, np.ndarray]:
    """Checked differences ``a - b`` ndarray[S x N'] and their clips' cluster codes
    ndarray[N'], without the clips no unit scored."""
    a, b = check_matrix("a", a), check_matrix("b", b)
    if a.shape != b.shape:
        raise ValueError(f"paired_difference: a and b differ in shape, {a.shape} vs {b.shape}")
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        raise ValueError("paired_difference: a and b must score the same (seed, clip) cells")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"paired_difference: alpha must be in (0, 1), got {alpha!r}")
    codes = _cluster_ids(clusters, a.shape[1])
    d = a - b  # (S, N)
    keep = (~np.isnan(d)).any(axis=0)
    d, codes = d[:, keep], codes[keep]
    if not (~np.isnan(d)).any(axis=1).all():
        raise ValueError("paired_difference: a seed has no scored clip")
    return d, codes


def _resolvability(
    S: int, vu: float, var: float, df: float, df_u: float, min_df: float
) -> tuple[bool, str]:
    """Whether the units can carry a verdict, and the note that says why not: one unit, or
    a units' part over half the variance ``var`` resting on fewer than ``min_df`` df."""
    if S < 2:
        return False, "not resolvable with 1 unit: seed variation not estimable"
    if vu > 0.5 * var and df_u < min_df:
        return False, f"not resolvable with S={S} units: their spread dominates (df {df:.1f})"
    return True, ""


def _p_value(est: float, se: float, df: float) -> float:
    """Two-sided p-value of ``est / se`` from Student's t with ``df`` (normal when
    infinite); with ``se`` 0: NaN for a zero estimate, else 0."""
    if se > 0:
        t = abs(est) / se
        return float(2 * (stats.norm.sf(t) if math.isinf(df) else stats.t.sf(t, df)))
    return math.nan if est == 0 else 0.0


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


def holm_verdicts(diffs, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm-adjusted p-values of a table's comparisons and which are significant.

    Every comparison counts in Holm's m, but one marked not resolvable is never significant.

    Parameters
    ----------
    diffs : sequence of PairedDiff

    Returns
    -------
    (p_holm ndarray[m], significant ndarray[m] of bool)
    """
    diffs = list(diffs)
    p_holm = holm([d.p for d in diffs])
    ok = np.array([bool(getattr(d, "resolvable", True)) for d in diffs], dtype=bool)
    return p_holm, (p_holm < alpha) & ok


def mdd(se: float, alpha: float = 0.05, power: float = 0.8, df: float | None = None) -> float:
    """Minimum detectable difference ``(q_{1-α/2} + q_power) × se`` of a two-sided test.

    ``q`` are standard normal quantiles, or Student t quantiles with ``df`` degrees of
    freedom when ``df`` is given (and finite).
    """
    if not (0.0 < alpha < 1.0 and 0.0 < power < 1.0):
        raise ValueError(f"mdd: alpha and power must be in (0, 1), got {alpha!r}, {power!r}")
    if not se >= 0:
        raise ValueError(f"mdd: se must be >= 0, got {se!r}")
    df = math.inf if df is None else df
    return float((_t_quantile(1 - alpha / 2, df) + _t_quantile(power, df)) * se)


def mdd_summary(diffs, labels=None, alpha: float = 0.05, power: float = 0.8) -> dict:
    """Per-row MDDs of a table at Holm's strictest level α/m, for the table's footer.

    Parameters
    ----------
    diffs : sequence of PairedDiff (the table's comparisons; m = their number)
    labels : names of the comparisons (default "0", "1", ...)

    Returns
    -------
    dict
        ``alpha_strict``; ``mdd`` {label: the row's MDD at α/m with its own se and df};
        ``median``, ``min``, ``max`` over rows with a finite MDD; ``dominated`` {label:
        unit row} of rows whose SE one unit dominates; ``unresolvable`` [labels].
    """
    diffs = list(diffs)
    labels = [str(i) for i in range(len(diffs))] if labels is None else list(labels)
    assert len(labels) == len(diffs), "one label per comparison"
    m = max(len(diffs), 1)
    strict = alpha / m
    rows = {
        lab: mdd(d.se, strict, power, df=getattr(d, "df", None)) for lab, d in zip(labels, diffs)
    }
    finite = np.array([v for v in rows.values() if np.isfinite(v)])
    return {
        "alpha_strict": strict,
        "mdd": rows,
        "median": float(np.median(finite)) if finite.size else math.nan,
        "min": float(finite.min()) if finite.size else math.nan,
        "max": float(finite.max()) if finite.size else math.nan,
        "dominated": {
            lab: d.dominant_unit
            for lab, d in zip(labels, diffs)
            if getattr(d, "dominant_unit", -1) >= 0
        },
        "unresolvable": [
            lab for lab, d in zip(labels, diffs) if not getattr(d, "resolvable", True)
        ],
    }


def mean_interval(a, alpha: float = 0.05, *, clusters=None) -> PairedDiff:
    """One configuration's mean score with its interval, by :func:`paired_difference` of
    ``a - 0``."""
    a = check_matrix("a", a)
    zero = np.where(np.isnan(a), np.nan, 0.0)
    return paired_difference(a, zero, alpha, clusters=clusters)


def prob_best(scores: dict, clusters=None, n_boot: int = 2000, seed: int = 0) -> dict:
    """Bootstrap probability that each configuration has the highest mean score.

    Every replicate draws units (rows, the same draw for every configuration) and sensors
    (clusters, each with all its clips, the same draw for every configuration and task)
    with replacement; a configuration's replicate score is the mean over tasks of the mean
    over drawn units of each unit's mean over its drawn clips. Ties go to the first.

    Parameters
    ----------
    scores : {config: ndarray[S x N]} or {config: {task: ndarray[S x N_task]}}
        Per-clip (validation) scores; every configuration has the same tasks and shapes
        (the same units and clips), NaN where a unit did not score a clip.
    clusters : array-like[N], or {task: array-like[N_task]}, optional
        Sensor id of every clip; None: every clip its own cluster.

    Returns
    -------
    dict {config: probability}, in the input order (sums to 1)
    """
    if not scores:
        raise ValueError("prob_best: no configurations")
    names = list(scores)
    per = {c: (v if isinstance(v, dict) else {"": v}) for c, v in scores.items()}
    tasks = list(per[names[0]])
    mats = {}
    for c in names:
        if list(per[c]) != tasks:
            raise ValueError(f"prob_best: {c!r} has tasks {list(per[c])}, expected {tasks}")
        for t in tasks:
            mats[c, t] = check_matrix(f"prob_best({c!r}, {t!r})", per[c][t])
            if mats[c, t].shape != mats[names[0], t].shape:
                raise ValueError(f"prob_best: {c!r} {t!r} shape {mats[c, t].shape} differs")
    S = mats[names[0], tasks[0]].shape[0]
    if any(mats[names[0], t].shape[0] != S for t in tasks):
        raise ValueError("prob_best: every task must have the same units")
    ids = {}
    for t in tasks:
        n = mats[names[0], t].shape[1]
        c = clusters.get(t) if isinstance(clusters, dict) else clusters
        ids[t] = np.asarray(c) if c is not None else np.array([f"{t}:{i}" for i in range(n)])
        if ids[t].shape != (n,):
            raise ValueError(f"prob_best: clusters of task {t!r}: expected {n}, got {ids[t].shape}")
    universe, codes = np.unique(np.concatenate(list(ids.values())), return_inverse=True)
    codes = np.split(codes, np.cumsum([ids[t].size for t in tasks])[:-1])
    rng = np.random.default_rng(seed)
    cluster_counts = draw_counts(rng, n_boot, universe.size).astype(np.float64)  # (B, K)
    unit_counts = draw_counts(rng, n_boot, S).astype(np.float64)  # (B, S)
    total = np.zeros((len(names), n_boot))
    for t, code in zip(tasks, codes):
        w = cluster_counts[:, code]  # (B, N_t) weight of each clip
        for i, c in enumerate(names):
            x = mats[c, t]
            seen = ~np.isnan(x)
            num = w @ np.where(seen, x, 0.0).T  # (B, S)
            den = w @ seen.T.astype(np.float64)
            unit_mean = np.divide(num, den, out=np.full_like(num, np.nan), where=den > 0)
            fallback = np.nanmean(x, axis=1)[None, :]  # a unit none of whose clips was drawn
            unit_mean = np.where(np.isnan(unit_mean), fallback, unit_mean)
            total[i] += (unit_counts * unit_mean).sum(axis=1) / S / len(tasks)
    wins = np.bincount(np.argmax(total, axis=0), minlength=len(names))
    return {c: float(wins[i] / n_boot) for i, c in enumerate(names)}
