"""Tests of mvlib.evaluate.metrics: sklearn/scipy references, hand-worked cases, conventions."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, f1_score, jaccard_score

from mvlib.evaluate.metrics import (
    accuracy,
    average_precision,
    binarize,
    dcase_metrics,
    dsc_delta,
    dsc_priv,
    dsc_shared,
    f1_macro,
    f1_micro,
    jaccard_samples,
    mean_ci,
    paired_test,
)


def _random_multilabel(seed: int, n: int = 200, c: int = 8):
    """Labels with varied prevalences (and some all-empty rows) and tie-heavy scores."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.05, 0.7, size=c)
    y = (rng.random((n, c)) < prevalence).astype(int)
    y[: n // 10] = 0  # empty label sets, as in many SONYC clips
    scores = np.clip(0.5 * y + rng.random((n, c)) * 0.8, 0, 1)
    scores = np.round(scores, 1)  # ties: several samples share a threshold
    return y, scores


def _sk(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


# --------------------------------------------------------------------------- Jaccard


def test_jaccard_hand_worked():
    y_true = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]])
    y_pred = np.array([[1, 0, 0], [1, 1, 1], [0, 0, 0], [0, 1, 0]])
    # per sample: {0}/{0,1} = 1/2; {1}/{0,1,2} = 1/3; empty/empty -> 0 (sklearn); 0/3 = 0
    assert jaccard_samples(y_true, y_pred) == pytest.approx((1 / 2 + 1 / 3 + 0 + 0) / 4)
    assert jaccard_samples(y_true, y_pred) == pytest.approx(5 / 24)
    # counting "correctly predicted nothing" as perfect instead: (5/6 + 1) / 4
    assert jaccard_samples(y_true, y_pred, zero_division=1.0) == pytest.approx(11 / 24)


def test_jaccard_empty_rows_follow_sklearn_default():
    y = np.zeros((3, 8), dtype=int)
    assert jaccard_samples(y, y) == 0.0
    assert _sk(jaccard_score, y, y, average="samples") == 0.0
    assert jaccard_samples(y, y, zero_division=1.0) == 1.0
    assert jaccard_score(y, y, average="samples", zero_division=1.0) == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_jaccard_matches_sklearn(seed):
    y, scores = _random_multilabel(seed)
    pred = binarize(scores, 0.5)
    assert jaccard_samples(y, pred) == pytest.approx(_sk(jaccard_score, y, pred, average="samples"))
    assert jaccard_samples(y, pred, zero_division=1.0) == pytest.approx(
        jaccard_score(y, pred, average="samples", zero_division=1.0)
    )


def test_binarize_threshold_inclusive():
    assert binarize(np.array([[0.49, 0.5, 0.51]])).tolist() == [[0, 1, 1]]
    assert binarize(np.array([[0.2, 0.7]]), 0.7).tolist() == [[0, 1]]


def test_input_validation():
    with pytest.raises(ValueError, match="0/1"):
        jaccard_samples(np.array([[0, 2]]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match="shapes differ"):
        jaccard_samples(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        jaccard_samples(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        dcase_metrics(np.zeros((2, 2)), np.array([[0.1, np.nan], [0.2, 0.3]]))
    with pytest.raises(ValueError, match="shape"):
        dcase_metrics(np.zeros((2, 2)), np.zeros((2, 3)))


# --------------------------------------------------------------------------- accuracy and F1


def test_accuracy_and_macro_f1():
    y = np.array([0, 1, 2, 2, 1])
    p = np.array([0, 1, 1, 2, 3])
    assert accuracy(y, p) == pytest.approx(3 / 5)
    # labels {0,1,2,3}: F1 = 2TP / (2TP + FP + FN)
    # 0: TP 1 -> 1; 1: TP 1, FP 1, FN 1 -> 1/2; 2: TP 1, FN 1 -> 2/3; 3: FP 1 -> 0
    assert f1_macro(y, p) == pytest.approx((1 + 1 / 2 + 2 / 3 + 0) / 4)
    assert f1_macro(y, p) == pytest.approx(_sk(f1_score, y, p, average="macro"))


@pytest.mark.parametrize("seed", [0, 1])
def test_f1_matches_sklearn(seed):
    y, scores = _random_multilabel(seed)
    pred = binarize(scores)
    assert f1_micro(y, pred) == pytest.approx(f1_score(y, pred, average="micro"))
    rng = np.random.default_rng(seed)
    t, p = rng.integers(0, 6, 100), rng.integers(0, 7, 100)
    assert f1_macro(t, p) == pytest.approx(_sk(f1_score, t, p, average="macro"))


def test_f1_micro_all_empty_is_zero():
    y = np.zeros((4, 3), dtype=int)
    assert f1_micro(y, y) == 0.0


# --------------------------------------------------------------------------- AUPRC


def test_average_precision_hand_worked():
    # sorted: 1 (.9), 0 (.8), 1 (.7), 0 (.1); (R, P) steps: (1/2, 1), (1/2, 1/2), (1, 2/3), (1, 1/2)
    # AP = 1/2 * 1 + 0 + 1/2 * 2/3 + 0 = 5/6
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)
    # tie: threshold .5 admits both tied samples at once: (R, P) = (1/2, 1/2), then (1, 2/3)
    # AP = 1/2 * 1/2 + 1/2 * 2/3 = 7/12
    assert average_precision([1, 0, 1], [0.5, 0.5, 0.2]) == pytest.approx(7 / 12)
    assert math.isnan(average_precision([0, 0], [0.3, 0.4]))


def test_dcase_metrics_hand_worked():
    y = np.array([[1, 0], [0, 0], [1, 0]])  # class 1 has no positive: excluded from macro
    s = np.array([[0.9, 0.2], [0.6, 0.7], [0.4, 0.1]])
    m = dcase_metrics(y, s)
    # class 0: sorted 1 (.9), 0 (.6), 1 (.4) -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    assert m["macro_auprc"] == pytest.approx(5 / 6)
    assert m["n_classes_no_positive"] == 1
    assert m["class_auprc"][0] == pytest.approx(5 / 6) and math.isnan(m["class_auprc"][1])
    # pooled: 1 (.9), 0 (.7), 0 (.6), 1 (.4), 0, 0 -> AP = 1/2 * 1 + 1/2 * 2/4 = 3/4
    assert m["micro_auprc"] == pytest.approx(3 / 4)
    # at 0.5: predictions [1,0], [1,1], [0,0] -> TP 1, FP 2, FN 1 -> F1 = 2/(2+2+1)
    assert m["micro_f1"] == pytest.approx(0.4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dcase_metrics_match_sklearn(seed):
    y, s = _random_multilabel(seed)
    assert (y.sum(axis=0) > 0).all()
    m = dcase_metrics(y, s)
    assert m["micro_auprc"] == pytest.approx(average_precision_score(y, s, average="micro"))
    assert m["macro_auprc"] == pytest.approx(average_precision_score(y, s, average="macro"))
    assert m["micro_f1"] == pytest.approx(f1_score(y, binarize(s), average="micro"))
    assert m["n_classes_no_positive"] == 0


def test_dcase_macro_excludes_classes_without_positives():
    y, s = _random_multilabel(5)
    y[:, [2, 6]] = 0
    m = dcase_metrics(y, s)
    keep = [0, 1, 3, 4, 5, 7]
    expected = np.mean([average_precision_score(y[:, c], s[:, c]) for c in keep])
    assert m["macro_auprc"] == pytest.approx(expected)
    assert m["n_classes_no_positive"] == 2
    # sklearn's own macro counts those classes as AP 0, which is lower
    assert _sk(average_precision_score, y, s, average="macro") < m["macro_auprc"]


# --------------------------------------------------------------------------- DSCΔ (eqs. 6, 7)


def test_dsc_signs():
    # z_p better on source: source information is in the private subspace -> positive (eq. 6)
    assert dsc_priv(source_zp=0.7, source_zs=0.5) == pytest.approx(0.2)
    assert dsc_priv(source_zp=0.5, source_zs=0.7) == pytest.approx(-0.2)
    # z_s better on sensor: sensor information is in the shared subspace -> positive (eq. 7)
    assert dsc_shared(sensor_zs=0.8, sensor_zp=0.6) == pytest.approx(0.2)
    assert dsc_shared(sensor_zs=0.6, sensor_zp=0.8) == pytest.approx(-0.2)
    # identical subspace scores: no disentanglement
    assert dsc_priv(0.55, 0.55) == 0.0 and dsc_shared(0.55, 0.55) == 0.0
    assert dsc_delta(0.9, 0.4) == pytest.approx(0.5)
    assert dsc_delta(0.9, 0.4, target="shared") == pytest.approx(-0.5)


def test_dsc_rejects_bad_scores():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dsc_priv(1.5, 0.2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dsc_shared(float("nan"), 0.2)
    with pytest.raises(ValueError, match="target"):
        dsc_delta(0.1, 0.2, target="joint")


# --------------------------------------------------------------------------- over seeds


def test_mean_ci_hand_worked():
    mean, half = mean_ci([1, 2, 3, 4])
    # s^2 = (2.25 + .25 + .25 + 2.25) / 3 = 5/3; sem = sqrt(5/3) / 2; t_{.975, 3} = 3.18245
    assert stats.t.ppf(0.975, 3) == pytest.approx(3.1824463, abs=1e-6)
    assert mean == 2.5
    assert half == pytest.approx(3.1824463 * math.sqrt(5 / 3) / 2, rel=1e-6)
    assert half == pytest.approx(2.0542603, rel=1e-6)
    # wider at 99 %
    assert mean_ci([1, 2, 3, 4], confidence=0.99)[1] > half


def test_mean_ci_against_scipy_interval():
    v = np.array([0.61, 0.63, 0.58, 0.60, 0.66])
    mean, half = mean_ci(v, 0.9)
    lo, hi = stats.t.interval(0.9, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert mean - half == pytest.approx(lo) and mean + half == pytest.approx(hi)


def test_mean_ci_limits():
    mean, half = mean_ci([0.7])
    assert mean == 0.7 and math.isnan(half)
    assert mean_ci([0.3, 0.3, 0.3]) == (pytest.approx(0.3), 0.0)
    with pytest.raises(ValueError):
        mean_ci([])
    with pytest.raises(ValueError):
        mean_ci([0.1, float("nan")])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_test_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.6, 0.02, size=5)
    b = a - rng.normal(0.01, 0.02, size=5)
    r = paired_test(a, b)
    ref = stats.ttest_rel(a, b)
    assert r["mean_diff"] == pytest.approx(np.mean(a - b))
    assert r["t"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)


def test_paired_test_limits():
    r = paired_test([0.5], [0.4])
    assert r["mean_diff"] == pytest.approx(0.1) and math.isnan(r["t"]) and math.isnan(r["p"])
    r = paired_test([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])  # constant non-zero difference
    assert r["t"] == math.inf and r["p"] == 0.0
    r = paired_test([1.0, 2.0], [1.0, 2.0])  # no difference at all
    assert math.isnan(r["t"]) and math.isnan(r["p"]) and r["mean_diff"] == 0.0
    with pytest.raises(ValueError, match="length"):
        paired_test([1.0, 2.0], [1.0])
