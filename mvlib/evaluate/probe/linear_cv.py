"""Cross-validated linear probes of pooled features, with 95% intervals (chapter 2).

What does a frontend carry before any training? Chapter 2 answers with a quick linear probe
(standardised logistic regression) of time-pooled features (mean and std over frames),
cross-validated so that every clip is scored once by a probe that did not see it:

* ``task="source"`` (8-class multi-label): one binary probe per class. Folds are grouped
  by sensor, so a clip's sources are predicted by a probe that never heard its sensor (the
  features must carry the source, not the sensor's channel). Scored by the macro balanced
  accuracy over the classes that have both a positive and a negative clip (chance 0.5); a
  class absent from the clips is named in ``unscored``, never averaged in as NaN. A class
  that one training fold lacks is predicted as that fold's constant.
* ``task="sensor"`` (multi-class): folds cannot be grouped by sensor (a sensor never seen
  in training cannot be named), so they are stratified by sensor. Scored by balanced
  accuracy (the mean per-sensor recall; chance 1/K for K sensors).

The 95% interval is a percentile bootstrap of the out-of-fold predictions that resamples
groups (sensors) as clusters and then clips within each drawn group, as the book's paired
statistics do (clips of one sensor are correlated). It describes the variability from which
sensors and clips were drawn, given the fitted probes; it does not refit them. With few
sensors the interval is wide, as it should be.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mvlib.data.labels import label_matrix
from mvlib.data.taxonomy import coarse_label_columns

__all__ = [
    "CV_METRICS",
    "CVScore",
    "cross_validated_scores",
    "pooled_mean_std",
    "score_stores",
]

#: the tasks of the cross-validated probe and their metric
CV_METRICS = {"source": "macro balanced accuracy", "sensor": "balanced accuracy"}
N_BOOT = 2000  #: bootstrap resamples of the 95% interval
CI_COVERAGE = 0.95


@dataclass(frozen=True)
class CVScore:
    """A cross-validated probe score with its 95% interval.

    ``folds`` ndarray[N] is the test fold of each clip, ``pred`` the out-of-fold
    predictions (ndarray[N] class indices for sensor, ndarray[N x C] 0/1 for source).
    """

    task: str
    metric: str
    score: float
    ci_low: float
    ci_high: float
    chance: float
    n_clips: int
    n_groups: int
    n_folds: int
    grouped: bool  #: folds grouped by ``groups`` (no group in two folds)
    unscored: tuple  #: source classes without both values among the clips (left out)
    folds: np.ndarray
    pred: np.ndarray

    def summary(self) -> dict:
        """The scalar fields (no arrays), for a table row."""
        d = asdict(self)
        del d["folds"], d["pred"]
        d["unscored"] = ", ".join(str(u) for u in self.unscored)
        return d


def _classifier():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))


def _check_inputs(X, y, groups, task):
    if task not in CV_METRICS:
        raise ValueError(f"task must be one of {sorted(CV_METRICS)}, got {task!r}")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"X: expected a 2-D array [N x d] with N >= 2, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"X: non-finite value in row {int(np.nonzero(~np.isfinite(X))[0][0])}")
    n = X.shape[0]
    y = np.asarray(y)
    if task == "source":
        if y.ndim != 2 or y.shape[0] != n or not np.isin(y, (0, 1)).all():
            raise ValueError(f"y: expected source labels [{n} x C] of 0/1, got shape {y.shape}")
        y = y.astype(np.int64)
    elif y.shape != (n,):
        raise ValueError(f"y: expected sensor ids of shape ({n},), got {y.shape}")
    else:
        y = y.astype(str)
    groups = np.arange(n).astype(str) if groups is None else np.asarray(groups).astype(str)
    if groups.shape != (n,):
        raise ValueError(f"groups: expected shape ({n},), got {groups.shape}")
    return X, y, groups


def _folds(y, groups, task, n_folds, seed) -> tuple[np.ndarray, bool]:
    """Test fold of each clip: grouped for source, stratified by sensor for sensor."""
    n = len(groups)
    if task == "source":
        uniq = np.unique(groups)
        if len(uniq) < 2:
            raise ValueError("groups: the source probe's folds need clips of >= 2 sensors")
        k = min(n_folds, len(uniq))
        order = np.random.default_rng(seed).permutation(len(uniq))
        fold_of = {g: i % k for i, g in zip(range(len(uniq)), uniq[order])}
        return np.array([fold_of[g] for g in groups]), len(uniq) < n
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("y: the sensor probe needs clips of >= 2 sensors")
    if counts.min() < 2:
        raise ValueError(
            f"y: sensor {classes[counts.argmin()]!r} has 1 clip; each needs >= 2 to be both "
            "trained on and scored"
        )
    k = int(min(n_folds, counts.min()))
    folds = np.empty(n, dtype=np.int64)
    cv = StratifiedKFold(k, shuffle=True, random_state=seed)
    for i, (_, te) in enumerate(cv.split(np.zeros((n, 1)), y)):
        folds[te] = i
    return folds, False


def _out_of_fold(X, y, folds, task) -> np.ndarray:
    """Each clip's prediction by the probe fitted on the other folds."""
    if task == "sensor":
        pred = np.empty(len(y), dtype=object)
        for f in np.unique(folds):
            tr, te = folds != f, folds == f
            pred[te] = _classifier().fit(X[tr], y[tr]).predict(X[te])
        return pred.astype(str)
    pred = np.zeros_like(y)
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        for c in range(y.shape[1]):
            yc = y[tr, c]
            if yc.min() == yc.max():  # the training folds hold one value: predict it
                pred[te, c] = yc[0]
            else:
                pred[te, c] = _classifier().fit(X[tr], yc).predict(X[te])
    return pred


def _weighted_scores(y, pred, w, task) -> np.ndarray:
    """The metric under clip weights w ndarray[B x N] (bootstrap counts): ndarray[B].

    Weights of 1 give the plain metric. Source: NaN where no class has both values.
    """
    if task == "sensor":
        correct = (y == pred).astype(np.float64)
        recalls = []
        for c in np.unique(y):
            inc = (y == c).astype(np.float64)
            den = w @ inc
            with np.errstate(invalid="ignore", divide="ignore"):
                recalls.append(np.where(den > 0, (w @ (inc * correct)) / den, np.nan))
        return np.nanmean(np.stack(recalls), axis=0)
    yf, pf = y.astype(np.float64), pred.astype(np.float64)
    pos, neg = w @ yf, w @ (1 - yf)  # (B, C)
    tp, tn = w @ (yf * pf), w @ ((1 - yf) * (1 - pf))
    with np.errstate(invalid="ignore", divide="ignore"):
        bal = np.where((pos > 0) & (neg > 0), (tp / pos + tn / neg) / 2, np.nan)
    ok = np.isfinite(bal)
    return np.where(ok.any(axis=1), np.nansum(bal, axis=1) / np.maximum(ok.sum(axis=1), 1), np.nan)


def _cluster_bootstrap_weights(groups, n_boot, rng) -> np.ndarray:
    """Counts ndarray[n_boot x N]: draw groups with replacement, then clips within each.

    A group drawn c times contributes c resamples of its n clips, i.e. a multinomial of
    c * n draws over its clips; drawn in one call per group for all resamples.
    """
    uniq, inv = np.unique(groups, return_inverse=True)
    n_groups = len(uniq)
    draws = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot)  # (B, G)
    w = np.zeros((n_boot, len(groups)))
    for g in range(n_groups):
        idx = np.nonzero(inv == g)[0]
        w[:, idx] = rng.multinomial(draws[:, g] * len(idx), np.full(len(idx), 1.0 / len(idx)))
    return w


def cross_validated_scores(
    X, y, groups, task: str, n_folds: int = 5, seed: int = 0, n_boot: int = N_BOOT
) -> CVScore:
    """Cross-validated linear-probe score of features for one task, with a 95% interval.

    Parameters
    ----------
    X : ndarray[N x d]
        Features (e.g. :func:`pooled_mean_std`).
    y : ndarray[N x C] of 0/1 (``task="source"``) or ndarray[N] sensor ids (``"sensor"``)
    groups : ndarray[N] or None
        The sensor of each clip: the source task's folds keep a sensor's clips together, and
        the interval resamples sensors as clusters. None: every clip is its own group.
    task : "source" | "sensor"
    n_folds : int
        Folds; fewer when there are fewer sensors (source) or clips of the rarest sensor
        (sensor).
    seed : int
        Fold assignment and bootstrap.
    n_boot : int
        Bootstrap resamples of the interval.

    Returns
    -------
    CVScore
        Source: macro balanced accuracy over the classes with both values among the clips
        (chance 0.5); sensor: balanced accuracy (chance 1/K). Never NaN.

    Raises
    ------
    ValueError
        Inputs of the wrong shape, fewer than 2 sensors, a sensor with 1 clip (sensor task),
        or no source class with both a positive and a negative clip.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sensor = np.repeat(["s0", "s1", "s2"], 20)  # 3 sensors of 20 clips each
    >>> X = rng.normal(size=(60, 3)) + (sensor[:, None] == ["s0", "s1", "s2"])  # a sensor offset
    >>> s = cross_validated_scores(X, sensor, sensor, "sensor")
    >>> print(f"{s.score:.2f} [{s.ci_low:.2f}, {s.ci_high:.2f}] (chance {s.chance:.2f})")
    0.57 [0.38, 0.75] (chance 0.33)
    """
    X, y, groups = _check_inputs(X, y, groups, task)
    unscored = _unscored_classes(y) if task == "source" else ()
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    folds, grouped = _folds(y, groups, task, n_folds, seed)
    pred = _out_of_fold(X, y, folds, task)
    score, chance = _point_score(y, pred, task, unscored)
    lo, hi = _bootstrap_interval(y, pred, groups, task, n_boot, seed, score)
    return CVScore(
        task=task,
        metric=CV_METRICS[task],
        score=score,
        ci_low=float(lo),
        ci_high=float(hi),
        chance=chance,
        n_clips=len(y),
        n_groups=len(np.unique(groups)),
        n_folds=int(folds.max()) + 1,
        grouped=grouped,
        unscored=unscored,
        folds=folds,
        pred=pred,
    )


def _unscored_classes(y: np.ndarray) -> tuple:
    """Source classes without both a positive and a negative clip; ValueError if all are."""
    both = (y.min(axis=0) == 0) & (y.max(axis=0) == 1)
    if not both.any():
        raise ValueError(
            "y: no source class has both a positive and a negative clip; the source "
            "probe needs clips with and without some source"
        )
    return tuple(int(c) for c in np.nonzero(~both)[0])


def _point_score(y, pred, task: str, unscored: tuple) -> tuple[float, float]:
    """The task's metric of the out-of-fold predictions, and its chance level."""
    if task == "sensor":
        score = float(balanced_accuracy_score(y, pred))
        chance = 1.0 / len(np.unique(y))
    else:
        cls = [c for c in range(y.shape[1]) if c not in unscored]
        score = float(np.mean([balanced_accuracy_score(y[:, c], pred[:, c]) for c in cls]))
        chance = 0.5
    return score, chance


def _bootstrap_interval(y, pred, groups, task: str, n_boot: int, seed: int, score: float):
    """95% cluster-bootstrap percentile interval of the metric (``(score, score)`` if none)."""
    rng = np.random.default_rng(seed)
    boot = _weighted_scores(y, pred, _cluster_bootstrap_weights(groups, n_boot, rng), task)
    boot = boot[np.isfinite(boot)]  # a resample without a scorable source class
    alpha = (1 - CI_COVERAGE) / 2
    return np.quantile(boot, [alpha, 1 - alpha]) if len(boot) else (score, score)


def pooled_mean_std(store, clip_ids) -> np.ndarray:
    """Time mean and std of each clip's features, concatenated: ndarray[N x 2D]."""
    out = []
    for c in clip_ids:
        x = store.get(c).astype(np.float32)  # (T, D)
        out.append(np.concatenate([x.mean(0), x.std(0)]))
    return np.stack(out)


def score_stores(stores: dict, clips, n_folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """:func:`cross_validated_scores` of pooled features of the same clips from several stores.

    Parameters
    ----------
    stores : dict name -> LatentStore
    clips : clip table rows to use (each must be in every store)

    Returns
    -------
    DataFrame
        One row per store; per task ``t`` in ("sensor", "source") the columns ``t`` (score),
        ``"t low"``, ``"t high"`` (95% interval), ``"t chance"`` and ``"t metric"``, then
        ``clips``, ``sensors`` and ``"source unscored"`` (classes without both values).
    """
    ids = clips["clip_id"].tolist()
    sensors = label_matrix(clips, "sensor")  # (N,)
    labels = {"sensor": sensors, "source": label_matrix(clips, "source")}  # (N,), (N, 8)
    rows = {}
    for name, store in stores.items():
        X = pooled_mean_std(store, ids)
        row: dict = {}
        for task in ("sensor", "source"):
            s = cross_validated_scores(X, labels[task], sensors, task, n_folds, seed)
            row.update(
                {
                    task: s.score,
                    f"{task} low": s.ci_low,
                    f"{task} high": s.ci_high,
                    f"{task} chance": s.chance,
                    f"{task} metric": s.metric,
                }
            )
            if task == "source":
                cols = list(coarse_label_columns())
                row["source unscored"] = ", ".join(cols[c] for c in s.unscored)
        row.update(clips=len(ids), sensors=len(np.unique(sensors)))
        rows[name] = row
    return pd.DataFrame(rows).T
