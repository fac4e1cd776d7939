"""Downstream metrics (paper 3.5), DCASE-UST style scores and seed statistics.

Everything here is plain numpy (scipy only for the Student t distribution), so the
reference implementations in scikit-learn can check it in the tests.

Conventions
-----------
* Multi-label inputs are ``ndarray[N x C]`` of 0/1; scores are probabilities in [0, 1].
  :func:`binarize` turns scores into predictions with ``score >= threshold``.
* :func:`jaccard_samples` follows scikit-learn 1.9 ``jaccard_score(average="samples")``
  with its default ``zero_division="warn"``: a sample whose true AND predicted label sets
  are both empty scores 0.0 (sklearn warns and sets 0.0). Pass ``zero_division=1.0`` to
  count "correctly predicted nothing" as a perfect sample instead.
* **The book's convention is** :data:`EMPTY_CLIP_JACCARD` ``= 1.0``: probes are selected
  and scored with it (``jaccard`` in probe results), and the sklearn-default value is
  reported beside it (``jaccard_empty0``). About a quarter of SONYC-style clips have no
  source at all. With 0.0 such a clip scores 0 whatever the probe predicts, so false alarms
  on empty clips cost nothing (neither in the score nor in model selection on validation)
  and the attainable maximum drops to the share of non-empty clips; with 1.0 an empty clip
  scores 1 for "nothing predicted" and 0 for any false alarm, which is what a sensor
  network needs from a detector.
* DSCΔ (paper eqs. 6, 7) is signed so that a POSITIVE value is the desired
  disentanglement: source information in ``z_p``, sensor information in ``z_s``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = [
    "binarize",
    "jaccard_samples",
    "jaccard_per_sample",
    "EMPTY_CLIP_JACCARD",
    "accuracy",
    "f1_micro",
    "f1_macro",
    "average_precision",
    "dcase_metrics",
    "dsc_delta",
    "dsc_priv",
    "dsc_shared",
    "mean_ci",
    "paired_test",
]


# --------------------------------------------------------------------------- validation


def _binary_matrix(name: str, a) -> np.ndarray:
    """``a`` as an int ``ndarray[N x C]`` of 0/1, or a ValueError naming ``name``."""
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array [N x C] of 0/1, got shape {a.shape}")
    if a.size and not np.isin(a, (0, 1)).all():
        bad = a[~np.isin(a, (0, 1))].ravel()[0]
        raise ValueError(f"{name}: expected only 0/1 values, found {bad!r}")
    return a.astype(np.int64)


def _same_shape(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names}: shapes differ, {a.shape} vs {b.shape}")


def _scores(name: str, s, shape: tuple | None = None) -> np.ndarray:
    """Finite float scores, optionally of a given shape."""
    s = np.asarray(s, dtype=np.float64)
    if shape is not None and s.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError(f"{name}: scores must be finite (found NaN or inf)")
    return s


# --------------------------------------------------------------------------- classification


def binarize(scores, threshold: float = 0.5) -> np.ndarray:
    """Multi-label predictions ``scores >= threshold`` as int 0/1, same shape as ``scores``."""
    return (_scores("scores", scores) >= threshold).astype(np.int64)


#: Jaccard of a clip with no true and no predicted label, as the book scores it (see above)
EMPTY_CLIP_JACCARD = 1.0


def jaccard_per_sample(y_true, y_pred, zero_division: float = 0.0) -> np.ndarray:
    """Per-sample Jaccard ``|t_n ∩ p_n| / |t_n ∪ p_n|``, ndarray[N] (see :func:`jaccard_samples`)."""
    t = _binary_matrix("y_true", y_true)
    p = _binary_matrix("y_pred", y_pred)
    _same_shape(t, p, "jaccard_samples(y_true, y_pred)")
    assert t.shape[0] > 0, "jaccard_samples: no samples"
    inter = (t & p).sum(axis=1)
    union = (t | p).sum(axis=1)
    return np.where(union > 0, inter / np.maximum(union, 1), float(zero_division))


def jaccard_samples(y_true, y_pred, zero_division: float = 0.0) -> float:
    """Sample-averaged Jaccard index (paper 3.5, multi-label source task).

    ``mean_n |t_n ∩ p_n| / |t_n ∪ p_n|``, equal to sklearn's
    ``jaccard_score(y_true, y_pred, average="samples")``.

    Parameters
    ----------
    y_true, y_pred : ndarray[N x C] of 0/1
    zero_division : float
        Score of a sample whose true and predicted sets are both empty. 0.0 is what
        sklearn 1.9 does by default ("warn" sets 0.0).

    Returns
    -------
    float in [0, 1]
    """
    return float(jaccard_per_sample(y_true, y_pred, zero_division).mean())


def accuracy(y_true, y_pred) -> float:
    """Fraction of exactly matching labels (multi-class: ``ndarray[N]`` of codes)."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    _same_shape(t, p, "accuracy(y_true, y_pred)")
    assert t.size > 0, "accuracy: no samples"
    return float((t == p).mean())


def _f1(tp, fp, fn) -> np.ndarray:
    """F1 = 2TP / (2TP + FP + FN), 0 where undefined (sklearn's zero_division default)."""
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.maximum(den, 1e-300), 0.0)


def f1_micro(y_true, y_pred) -> float:
    """Micro-averaged F1 of multi-label 0/1 predictions ``ndarray[N x C]``."""
    t = _binary_matrix("y_true", y_true)
    p = _binary_matrix("y_pred", y_pred)
    _same_shape(t, p, "f1_micro(y_true, y_pred)")
    tp = (t & p).sum()
    return float(_f1(tp, (p & (1 - t)).sum(), (t & (1 - p)).sum()))


def f1_macro(y_true, y_pred) -> float:
    """Macro F1 of multi-class codes ``ndarray[N]`` over the labels in ``y_true ∪ y_pred``.

    Matches sklearn ``f1_score(average="macro")`` (which uses the same label set).
    """
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    _same_shape(t, p, "f1_macro(y_true, y_pred)")
    labels = np.union1d(t, p)
    tp = np.array([((t == k) & (p == k)).sum() for k in labels])
    fp = np.array([((t != k) & (p == k)).sum() for k in labels])
    fn = np.array([((t == k) & (p != k)).sum() for k in labels])
    return float(_f1(tp, fp, fn).mean())


def average_precision(y_true, scores) -> float:
    """Step-wise average precision ``sum_k (R_k - R_{k-1}) P_k`` of one binary problem.

    Thresholds are the distinct score values (tied scores enter together), as in
    sklearn ``average_precision_score``. Returns NaN when ``y_true`` has no positive.

    Parameters
    ----------
    y_true : ndarray[M] of 0/1
    scores : ndarray[M]
    """
    y = np.asarray(y_true).ravel().astype(np.int64)
    s = _scores("scores", scores).ravel()
    _same_shape(y, s, "average_precision(y_true, scores)")
    n_pos = int(y.sum())
    if n_pos == 0:
        return math.nan
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    # last index of each group of tied scores: one threshold per distinct value
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tps = np.cumsum(y)[last]
    precision = tps / (last + 1)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def dcase_metrics(y_true, scores, threshold: float = 0.5) -> dict:
    """DCASE 2019/2020 task 5 style scores of multi-label source predictions.

    AUPRC is computed here as step-wise average precision (sklearn's definition); the
    official DCASE-UST script integrates a threshold sweep instead, which differs slightly.

    Parameters
    ----------
    y_true : ndarray[N x C] of 0/1
    scores : ndarray[N x C] of probabilities

    Returns
    -------
    dict
        ``micro_auprc`` (all N*C decisions pooled), ``macro_auprc`` (mean of per-class AP
        over classes with at least one positive; NaN if none has), ``micro_f1`` (at
        ``threshold``), ``class_auprc`` (list, NaN for excluded classes) and
        ``n_classes_no_positive``.
    """
    t = _binary_matrix("y_true", y_true)
    s = _scores("scores", scores, shape=t.shape)
    per_class = [average_precision(t[:, c], s[:, c]) for c in range(t.shape[1])]
    valid = [ap for ap in per_class if not math.isnan(ap)]
    return {
        "micro_auprc": average_precision(t.ravel(), s.ravel()),
        "macro_auprc": float(np.mean(valid)) if valid else math.nan,
        "micro_f1": f1_micro(t, binarize(s, threshold)),
        "class_auprc": per_class,
        "n_classes_no_positive": len(per_class) - len(valid),
    }


# --------------------------------------------------------------------------- DSCΔ


def _unit_score(name: str, v: float) -> float:
    v = float(v)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name}: expected a score in [0, 1], got {v!r}")
    return v


def dsc_delta(priv: float, shared: float, target: str = "private") -> float:
    """Directional subspace classification difference (paper 3.5).

    Parameters
    ----------
    priv, shared : float
        The same task's score with the ``z_p`` probe and with the ``z_s`` probe.
    target : "private" | "shared"
        Which subspace the task's information SHOULD live in. The result is
        ``desired - other``, so positive always means the desired disentanglement and
        identical subspace scores give 0.
    """
    p, s = _unit_score("priv", priv), _unit_score("shared", shared)
    if target == "private":
        return p - s
    if target == "shared":
        return s - p
    raise ValueError(f"dsc_delta: target must be 'private' or 'shared', got {target!r}")


def dsc_priv(source_zp: float, source_zs: float) -> float:
    """Eq. 6: ``clf(z_p)_source - clf(z_s)_source`` (> 0: source lives in z_p)."""
    return dsc_delta(source_zp, source_zs, target="private")


def dsc_shared(sensor_zs: float, sensor_zp: float) -> float:
    """Eq. 7: ``clf(z_s)_sensor - clf(z_p)_sensor`` (> 0: sensor lives in z_s).

    The paper prints ``z_n`` in eq. 7; it is ``z_p`` (the only other subspace).
    """
    return dsc_delta(sensor_zp, sensor_zs, target="shared")


# --------------------------------------------------------------------------- over seeds


def _vector(name: str, v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError(f"{name}: expected at least one value")
    if not np.isfinite(v).all():
        raise ValueError(f"{name}: values must be finite, got {v.tolist()}")
    return v


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and Student-t confidence half width over seeds.

    ``half = t_{(1+confidence)/2, n-1} * s / sqrt(n)`` with ``s`` the sample standard
    deviation (ddof=1). With one value the half width is NaN (no spread estimate).

    Returns
    -------
    (mean, half_width)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"mean_ci: confidence must be in (0, 1), got {confidence!r}")
    v = _vector("mean_ci(values)", values)
    n = v.size
    if n < 2:
        return float(v.mean()), math.nan
    sem = v.std(ddof=1) / math.sqrt(n)
    return float(v.mean()), float(stats.t.ppf((1 + confidence) / 2, n - 1) * sem)


def paired_test(a, b) -> dict:
    """Two-sided paired t-test of ``a - b`` over seeds (same seed order in both).

    Returns
    -------
    dict
        ``mean_diff``, ``t`` and ``p`` (NaN for fewer than two pairs; with zero spread of
        the differences ``t`` is ±inf and ``p`` 0, or both NaN when all differences are 0,
        as scipy's ``ttest_rel``).
    """
    a, b = _vector("paired_test(a)", a), _vector("paired_test(b)", b)
    if a.shape != b.shape:
        raise ValueError(f"paired_test: a and b differ in length, {a.size} vs {b.size}")
    d = a - b
    n, mean = d.size, float(d.mean())
    if n < 2:
        return {"mean_diff": mean, "t": math.nan, "p": math.nan}
    sem = d.std(ddof=1) / math.sqrt(n)
    if sem == 0.0:
        t = math.nan if mean == 0.0 else math.copysign(math.inf, mean)
    else:
        t = mean / sem
    p = math.nan if math.isnan(t) else float(2 * stats.t.sf(abs(t), n - 1))
    return {"mean_diff": mean, "t": float(t), "p": p}
