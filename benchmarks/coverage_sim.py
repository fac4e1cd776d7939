"""Coverage of the book's paired comparisons, measured on a hierarchical simulation.

A table of the book compares m configurations with one reference on the same test clips
and units (a unit is a seed, or a (split seed, seed) pair). Whether its 95% intervals hold
95% and its Holm-corrected tests hold the family-wise error rate (FWER) at 5% depends on
the variance components of the data, so this module draws data with those components and
a KNOWN true difference, runs a procedure on every comparison of a simulated table, and
counts.

The generative model (:class:`Scenario`)
----------------------------------------
For configuration c, unit u (in split g) and test clip n (of sensor k, in split g), on the
logit scale::

    η[c, u, n] = base + shift_c            fixed: the configurations' true levels
               + sensor_k + clip_n          difficulty, shared by every configuration
               + δ[c, k]                    sensor × configuration   (sd ``sd_sensor_config``)
               + γ[c, n]                    clip × configuration     (sd ``sd_clip_config``)
               + ε[c, u]                    unit × configuration     (sd ``sd_unit_config``)
               + φ[c, g]                    split × configuration    (sd ``sd_split_config``)

and the per-clip score is either 0/1 correctness ``Bernoulli(logistic(η))`` (the sensor
task's accuracy) or a clip Jaccard in [0, 1] (the source task): every clip has 8 classes,
each present with probability ``p_class`` (about a quarter of the clips are empty), and
each class is predicted wrongly with probability ``logistic(-(η + class_gap))``, the
predicted set being the true set with those classes flipped; a clip with no true and no
predicted class scores 1 (the book's convention). Each split has its own test sensors
(drawn afresh) and clips; every unit of a split scores that split's clips.

"Clip-independent" data have no sensor × configuration effect (``sd_sensor_config = 0``);
"sensor-clustered" data have one of logit sd 0.3 (the issue's measurement). The true
difference of a configuration to the reference is the population mean over sensors, clips,
units and splits, computed once per scenario by a large Monte Carlo draw (error ~1e-4).

The defaults follow the embedded default book (12 test sensors, 48 test clips each, 3 seeds)
and ``full.yml`` (4 split seeds × 3 seeds, 180 clips per sensor), with component sizes that
give the book's order of magnitude for the standard errors (0.01–0.03) and its observation
that seeds and splits outweigh test-clip sampling on ``full.yml``.

What is measured (:func:`measure`)
----------------------------------
Coverage: the share of all comparisons whose 95% interval holds the true difference (with
its Monte Carlo standard error computed over tables, since comparisons of one table share
the reference). FWER: with every configuration equal to the reference (``shifts`` all 0),
the share of tables in which the Holm-corrected procedure declares at least one difference.

``benchmarks/interval_coverage.py`` runs it for the before/after table; ``tests/evaluate/test_coverage.py``
imports it (this folder on ``sys.path``: the benchmarks are scripts, not a package).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from mvlib.evaluate.significance import PairedDiff, holm_verdicts

__all__ = ["Scenario", "Measured", "simulate_table", "true_differences", "measure", "SCENARIOS"]


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Scenario:
    """One design and data-generating model of a simulated table (logit-scale sds)."""

    score: str = "accuracy"  #: "accuracy" (0/1 per clip) | "jaccard" (clip Jaccard)
    n_splits: int = 1  #: split seeds, each with its own test sensors and clips
    seeds_per_split: int = 3  #: units per split
    sensors: int = 12  #: test sensors per split
    clips_per_sensor: int = 48
    n_compared: int = 8  #: comparisons of the table (configurations besides the reference)
    shifts: tuple = ()  #: logit shift of each compared configuration (default all 0: null)
    base: float = 0.85  #: logit of the typical score (about 0.7)
    sd_sensor: float = 0.8  #: sensor difficulty, shared by the configurations
    sd_clip: float = 1.2  #: clip difficulty, shared
    sd_sensor_config: float = 0.3  #: sensor × configuration (0: clip-independent)
    sd_clip_config: float = 0.5  #: clip × configuration
    sd_unit_config: float = 0.06  #: unit (seed) × configuration
    sd_split_config: float = 0.04  #: split × configuration (only with n_splits > 1)
    n_classes: int = 8  #: jaccard: classes per clip
    p_class: float = 0.15  #: jaccard: probability that a class is present
    class_gap: float = 1.5  #: jaccard: per-class predictions are easier than the clip

    @property
    def n_units(self) -> int:
        return self.n_splits * self.seeds_per_split

    def label(self) -> str:
        kind = "clustered" if self.sd_sensor_config > 0 else "independent"
        lay = f"{self.n_splits}x{self.seeds_per_split}" if self.n_splits > 1 else "1"
        return f"{self.score} S={self.n_units} (splits {lay}) {kind}"

    def shift(self) -> np.ndarray:
        """Logit shifts of the reference (0) and the compared configurations: ndarray[m+1]."""
        s = np.zeros(self.n_compared + 1)
        if self.shifts:
            assert len(self.shifts) == self.n_compared, "one shift per compared configuration"
            s[1:] = self.shifts
        return s


def _scores(scn: Scenario, eta: np.ndarray, labels: np.ndarray | None, rng) -> np.ndarray:
    """Per-clip scores from logits ``eta`` (..., N); ``labels`` (N, C) for jaccard."""
    if scn.score == "accuracy":
        return (rng.random(eta.shape) < _logistic(eta)).astype(np.float64)
    assert scn.score == "jaccard", scn.score
    wrong = rng.random(eta.shape + (scn.n_classes,)) < _logistic(-(eta[..., None] + scn.class_gap))
    pred = labels.astype(bool) ^ wrong  # (..., N, C)
    truth = np.broadcast_to(labels.astype(bool), pred.shape)
    inter = (truth & pred).sum(-1)
    union = (truth | pred).sum(-1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def simulate_table(scn: Scenario, rng: np.random.Generator):
    """One simulated table: per-clip scores of the reference and the compared configurations.

    Returns
    -------
    scores : ndarray[(m+1) x S x N]
        Configuration 0 is the reference; NaN where a unit does not score a clip (another
        split's clip).
    clusters : ndarray[N]
        Sensor id of every clip (unique across splits).
    """
    m1, R, K, n = scn.n_compared + 1, scn.seeds_per_split, scn.sensors, scn.clips_per_sensor
    G = scn.n_splits
    N = G * K * n
    out = np.full((m1, G * R, N), np.nan)
    clusters = np.repeat(np.arange(G * K), n)  # (N,)
    shift = scn.shift()
    for g in range(G):
        sensor = rng.normal(0, scn.sd_sensor, K)  # (K,)
        clip = rng.normal(0, scn.sd_clip, K * n)  # (Kn,)
        d_sensor = rng.normal(0, scn.sd_sensor_config, (m1, K))
        d_clip = rng.normal(0, scn.sd_clip_config, (m1, K * n))
        d_unit = rng.normal(0, scn.sd_unit_config, (m1, R))
        d_split = rng.normal(0, scn.sd_split_config, (m1, 1)) if G > 1 else np.zeros((m1, 1))
        eta = (
            scn.base
            + shift[:, None, None]
            + (np.repeat(sensor, n) + clip)[None, None, :]
            + np.repeat(d_sensor, n, axis=1)[:, None, :]
            + d_clip[:, None, :]
            + d_unit[:, :, None]
            + d_split[:, :, None]
        )  # (m+1, R, Kn)
        labels = None
        if scn.score == "jaccard":
            labels = rng.random((K * n, scn.n_classes)) < scn.p_class
        cols = slice(g * K * n, (g + 1) * K * n)
        out[:, g * R : (g + 1) * R, cols] = _scores(scn, eta, labels, rng)
    return out, clusters


def true_differences(scn: Scenario, n_draws: int = 400_000, seed: int = 12345) -> np.ndarray:
    """Population mean score of each compared configuration minus the reference's: ndarray[m].

    Every random effect is drawn afresh for each of ``n_draws`` clips (one clip of a new
    sensor, unit and split each), with common random numbers across configurations.
    """
    rng = np.random.default_rng(seed)
    sd = math.sqrt(
        scn.sd_sensor**2
        + scn.sd_clip**2
        + scn.sd_sensor_config**2
        + scn.sd_clip_config**2
        + scn.sd_unit_config**2
        + (scn.sd_split_config**2 if scn.n_splits > 1 else 0.0)
    )
    shift = scn.shift()
    z = rng.normal(0, sd, n_draws)  # (D,) the same draws for every configuration
    if scn.score == "accuracy":
        means = [_logistic(scn.base + s + z).mean() for s in shift]
    else:
        labels = rng.random((n_draws, scn.n_classes)) < scn.p_class
        u = rng.random((n_draws, scn.n_classes))
        means = []
        for s in shift:
            wrong = u < _logistic(-(scn.base + s + z[:, None] + scn.class_gap))
            pred = labels ^ wrong
            inter, union = (labels & pred).sum(-1), (labels | pred).sum(-1)
            means.append(np.where(union > 0, inter / np.maximum(union, 1), 1.0).mean())
    means = np.asarray(means)
    return means[1:] - means[0]


#: a procedure: (a, b, clusters, seed) -> PairedDiff of a - b
Procedure = Callable[[np.ndarray, np.ndarray, np.ndarray, int], PairedDiff]


@dataclass
class Measured:
    """What :func:`measure` found for one scenario and procedure."""

    scenario: str
    procedure: str
    coverage: float  #: share of comparisons whose CI holds the true difference
    coverage_se: float  #: its Monte Carlo SE, over tables
    fwer: float  #: share of tables with a false Holm-significant difference (null rows only)
    fwer_se: float
    unresolved: float  #: share of comparisons the procedure flagged as not resolvable
    mean_se: float  #: mean reported SE
    true_sd: float  #: SD of the estimates around their truth (what the SE should be)
    n_tables: int
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def measure(
    scn: Scenario,
    procedure: Procedure,
    n_tables: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    name: str = "",
    truth: np.ndarray | None = None,
) -> Measured:
    """Run ``procedure`` on every comparison of ``n_tables`` simulated tables and count.

    Returns
    -------
    Measured
        FWER counts only comparisons whose true difference is 0 (with ``shifts`` 0: all).
    """
    truth = true_differences(scn) if truth is None else np.asarray(truth)
    null = np.array([s == 0 for s in scn.shift()[1:]])
    rng = np.random.default_rng(seed)
    hits = np.zeros((n_tables, scn.n_compared))
    false_any = np.zeros(n_tables)
    unresolved = np.zeros((n_tables, scn.n_compared))
    ses, errs = [], []
    for t in range(n_tables):
        scores, clusters = simulate_table(scn, rng)
        diffs = [
            procedure(scores[j + 1], scores[0], clusters, seed * 100_003 + t * 97 + j)
            for j in range(scn.n_compared)
        ]
        for j, d in enumerate(diffs):
            hits[t, j] = d.ci_low <= truth[j] <= d.ci_high
            unresolved[t, j] = not getattr(d, "resolvable", True)
            ses.append(d.se)
            errs.append(d.estimate - truth[j])
        _, significant = holm_verdicts(diffs, alpha)
        false_any[t] = bool(np.any(significant & null))
    per_table = hits.mean(axis=1)
    return Measured(
        scenario=scn.label(),
        procedure=name,
        coverage=float(hits.mean()),
        coverage_se=float(per_table.std(ddof=1) / math.sqrt(n_tables)),
        fwer=float(false_any.mean()),
        fwer_se=float(math.sqrt(max(false_any.mean() * (1 - false_any.mean()), 1e-12) / n_tables)),
        unresolved=float(unresolved.mean()),
        mean_se=float(np.mean(ses)),
        true_sd=float(np.std(errs)),
        n_tables=n_tables,
    )


_BASE = Scenario()
_FULL = dict(n_splits=4, seeds_per_split=3, clips_per_sensor=180)
#: the scenarios of the before/after table: both scores, S = 3 (the default book) and
#: S = 12 (``full.yml``: 4 split seeds x 3 seeds), clip-independent and sensor-clustered
SCENARIOS = [
    replace(_BASE, score=score, sd_sensor_config=sc, **lay)
    for score in ("accuracy", "jaccard")
    for lay in ({}, _FULL)
    for sc in (0.0, 0.3)
]
