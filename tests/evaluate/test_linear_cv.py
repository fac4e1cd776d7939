"""Tests of mvlib.evaluate.probe.linear_cv: chapter 2's cross-validated linear probe."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import PredefinedSplit, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mvlib.data.taxonomy import coarse_label_columns
from mvlib.evaluate.probe.linear_cv import (
    _cluster_bootstrap_weights,
    _weighted_scores,
    cross_validated_scores,
    score_stores,
)

N_SENSORS, PER_SENSOR, N_CLASSES = 6, 20, 8


def _toy(seed=0, informative=True):
    """Clips of 6 sensors; source 7 of 8 present (class 7 never), features noise or labels."""
    rng = np.random.default_rng(seed)
    sensors = np.repeat([f"s{i}" for i in range(N_SENSORS)], PER_SENSOR)
    codes = np.unique(sensors, return_inverse=True)[1]
    y_src = (rng.random((len(sensors), N_CLASSES)) < 0.35).astype(np.int64)
    y_src[:, 7] = 0  # a class absent from every clip: must not make the score NaN
    noise = rng.normal(size=(len(sensors), N_SENSORS + N_CLASSES))
    if not informative:
        return noise, sensors, y_src
    signal = np.concatenate([2.0 * np.eye(N_SENSORS)[codes], 2.0 * y_src], axis=1)
    return signal + noise, sensors, y_src


def _clf():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))


def test_sensor_score_is_sklearn_balanced_accuracy_of_stratified_folds():
    X, sensors, _ = _toy()
    s = cross_validated_scores(X, sensors, sensors, "sensor", n_folds=5, seed=3)
    assert s.metric == "balanced accuracy" and not s.grouped and s.n_folds == 5
    # every fold holds every sensor (stratified), each clip is scored once
    for f in range(5):
        assert set(sensors[s.folds == f]) == set(sensors)
    pred = cross_val_predict(_clf(), X, sensors, cv=PredefinedSplit(s.folds))
    np.testing.assert_array_equal(s.pred, pred)
    assert s.score == pytest.approx(balanced_accuracy_score(sensors, pred), abs=1e-12)
    assert s.chance == pytest.approx(1 / N_SENSORS)


def test_source_score_is_macro_balanced_accuracy_of_sensor_grouped_folds():
    X, sensors, y_src = _toy()
    s = cross_validated_scores(X, y_src, sensors, "source", n_folds=3, seed=1)
    assert s.grouped and s.n_folds == 3
    for g in np.unique(sensors):  # a sensor's clips all lie in one fold
        assert len(set(s.folds[sensors == g])) == 1
    cv = PredefinedSplit(s.folds)
    direct = []
    for c in range(7):  # class 7 has no positive: left out, named
        p = cross_val_predict(_clf(), X, y_src[:, c], cv=cv)
        np.testing.assert_array_equal(s.pred[:, c], p)
        direct.append(balanced_accuracy_score(y_src[:, c], p))
    assert s.unscored == (7,)
    assert np.isfinite(s.score)
    assert s.score == pytest.approx(np.mean(direct), abs=1e-12)
    assert s.chance == 0.5


def test_class_missing_from_a_training_fold_is_predicted_constant_not_nan():
    X, sensors, y_src = _toy()
    y_src[:, 6] = 0
    y_src[sensors == "s0", 6] = 1  # only s0 has class 6: its test fold trains without it
    s = cross_validated_scores(X, y_src, sensors, "source", n_folds=3)
    held = s.folds == s.folds[sensors == "s0"][0]
    assert (s.pred[held, 6] == 0).all()
    assert np.isfinite(s.score) and np.isfinite(s.ci_low) and np.isfinite(s.ci_high)


@pytest.mark.parametrize("task", ["sensor", "source"])
def test_random_features_score_near_chance_informative_above(task):
    Xr, sensors, y_src = _toy(informative=False)
    Xi, _, _ = _toy(informative=True)
    y = sensors if task == "sensor" else y_src
    rand = cross_validated_scores(Xr, y, sensors, task)
    info = cross_validated_scores(Xi, y, sensors, task)
    assert rand.ci_low <= rand.chance <= rand.ci_high
    assert abs(rand.score - rand.chance) < 0.08
    assert info.ci_low > info.chance + 0.1
    assert rand.ci_low <= rand.score <= rand.ci_high and info.ci_low <= info.score


def test_weighted_scores_with_unit_weights_equal_the_metric():
    X, sensors, y_src = _toy()
    rng = np.random.default_rng(0)
    pred_sen = np.where(rng.random(len(sensors)) < 0.5, sensors, "s0")
    w1 = np.ones((1, len(sensors)))
    got = _weighted_scores(sensors, pred_sen, w1, "sensor")[0]
    assert got == pytest.approx(balanced_accuracy_score(sensors, pred_sen), abs=1e-12)
    pred_src = (rng.random(y_src.shape) < 0.4).astype(np.int64)
    ref = np.mean([balanced_accuracy_score(y_src[:, c], pred_src[:, c]) for c in range(7)])
    assert _weighted_scores(y_src, pred_src, w1, "source")[0] == pytest.approx(ref, abs=1e-12)
    # integer weights are repetitions of clips
    w = rng.integers(0, 3, (1, len(sensors)))
    rep = np.repeat(np.arange(len(sensors)), w[0])
    ref_w = balanced_accuracy_score(sensors[rep], pred_sen[rep])
    assert _weighted_scores(sensors, pred_sen, w.astype(float), "sensor")[0] == pytest.approx(ref_w)


def test_cluster_bootstrap_draws_whole_sensors():
    groups = np.repeat(["a", "b", "c"], [2, 3, 5])
    w = _cluster_bootstrap_weights(groups, 200, np.random.default_rng(0))
    # per resample, the clip counts of each drawn sensor add up to its size times its draws
    for g, size in (("a", 2), ("b", 3), ("c", 5)):
        assert (w[:, groups == g].sum(axis=1) % size == 0).all()
    assert (w.sum(axis=1) >= 6).all()  # three sensor draws of >= 2 clips each


def test_refuses_what_it_cannot_score():
    X, sensors, y_src = _toy()
    with pytest.raises(ValueError, match="no source class"):
        cross_validated_scores(X, np.zeros_like(y_src), sensors, "source")
    with pytest.raises(ValueError, match="1 clip"):
        s = sensors.copy()
        s[0] = "lonely"
        cross_validated_scores(X, s, s, "sensor")
    with pytest.raises(ValueError, match=">= 2 sensors"):
        cross_validated_scores(X, y_src, np.zeros(len(X)), "source")
    with pytest.raises(ValueError, match="task"):
        cross_validated_scores(X, sensors, sensors, "speaker")


def test_score_stores_rows_and_columns():
    X, sensors, y_src = _toy()
    cols = list(coarse_label_columns())
    ids = [f"c{i}" for i in range(len(X))]

    class Store:  # one frame per clip: pooled std is 0, the mean is the feature
        def __init__(self, feats):
            self.f = dict(zip(ids, feats))

        def get(self, c):
            return self.f[c][None, :]

    clips = pd.DataFrame({"clip_id": ids, "sensor_id": sensors})
    for j, c in enumerate(cols):
        clips[c] = y_src[:, j]
    Xr, _, _ = _toy(informative=False)
    table = score_stores({"informative": Store(X), "random": Store(Xr)}, clips)
    assert list(table.index) == ["informative", "random"]
    assert table.loc["informative", "source unscored"] == cols[7]
    assert table.loc["informative", "sensor"] > table.loc["random", "sensor"]
    assert table.loc["informative", "source low"] > 0.5
    assert not table[["sensor", "source", "sensor low", "source high"]].isna().any().any()
