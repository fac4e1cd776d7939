"""The paired difference (sensors as clusters), Holm and the MDD against numpy references
and a simulation."""

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from mvlib.evaluate import significance as sig


def _reference(d, sensors):
    """The cluster procedure written out for one split (module docstring), in plain numpy."""
    R = d.shape[0]
    ks = sorted(set(sensors))
    M = np.stack([d[:, sensors == k].mean(axis=1) for k in ks], axis=1)  # (R, K)
    pi = np.array([(sensors == k).mean() for k in ks])
    K = len(ks)
    m_u, D = M @ pi, M.mean(axis=0)
    theta = m_u.mean()
    v_u = m_u.var(ddof=1) / R
    v_c = K / (K - 1) * np.sum(pi**2 * (D - theta) ** 2)
    r = M - m_u[:, None] - D[None, :] + theta
    v_i = np.sum(pi**2) * np.sum(r**2) / ((R - 1) * (K - 1)) / R
    v_u = max(v_u - v_i, 0.0)
    var = v_u + v_c
    df = var**2 / (v_u**2 / (R - 1) + v_c**2 / (K - 1))
    return theta, var, v_u, v_c, df


def test_cluster_procedure_against_a_numpy_reference():
    rng = np.random.default_rng(5)
    sensors = np.repeat(np.array(["s1", "s2", "s3", "s4", "s5", "s6"]), [3, 9, 5, 12, 7, 4])
    N = sensors.size
    sensor_eff = {k: rng.normal(0, 0.1) for k in set(sensors)}
    a = rng.normal(0.6, 0.2, (4, N)) + np.array([sensor_eff[k] for k in sensors])
    b = rng.normal(0.55, 0.2, (4, N))
    res = sig.paired_difference(a, b, clusters=sensors)
    theta, var, v_u, v_c, df = _reference(a - b, sensors)
    assert res.estimate == pytest.approx(theta, rel=1e-12)
    assert res.se == pytest.approx(math.sqrt(var), rel=1e-12)
    assert (res.se_units, res.se_sensors) == pytest.approx((math.sqrt(v_u), math.sqrt(v_c)))
    assert res.df == pytest.approx(df, rel=1e-12)
    q = stats.t.ppf(0.975, df)
    assert (res.ci_low, res.ci_high) == pytest.approx((theta - q * res.se, theta + q * res.se))
    assert res.p == pytest.approx(2 * stats.t.sf(abs(theta) / res.se, df))
    want_mdd = (q + stats.t.ppf(0.8, df)) * res.se
    assert res.mdd == pytest.approx(want_mdd) and res.mdd == sig.mdd(res.se, df=res.df)
    assert (res.n_units, res.n_clips, res.n_clusters) == (4, N, 6)


def test_clustered_errors_widen_the_interval_only_when_sensors_are_given():
    rng = np.random.default_rng(6)
    sensors = np.repeat(np.arange(12), 40)
    shared = rng.normal(0, 0.15, 12)[sensors]  # one sensor's clips err together
    d = shared + rng.normal(0, 0.3, (3, sensors.size))
    free = sig.paired_difference(d, np.zeros_like(d))
    clustered = sig.paired_difference(d, np.zeros_like(d), clusters=sensors)
    assert clustered.se > 1.5 * free.se
    # clip-independent behaviour without clusters: every clip its own cluster
    each = sig.paired_difference(d, np.zeros_like(d), clusters=np.arange(sensors.size))
    assert replace(each, n_clusters=0) == free
    assert free.n_clusters == 0 and clustered.n_clusters == 12


def test_se_includes_seed_and_clip_variation():
    # crossed design d = mu + seed effect + clip effect: both parts exactly as derived
    rng = np.random.default_rng(3)
    S, N = 5, 300
    seed_eff = np.array([[-0.02], [-0.01], [0.0], [0.01], [0.02]])
    clip_eff = rng.normal(0, 0.3, size=(1, N))
    d = 0.02 + seed_eff + clip_eff
    res = sig.paired_difference(d, np.zeros_like(d))
    assert res.se_units == pytest.approx(seed_eff.std(ddof=1) / math.sqrt(S), rel=1e-9)
    assert res.se_sensors == pytest.approx(clip_eff.std(ddof=1) / math.sqrt(N), rel=1e-9)
    assert res.se**2 == pytest.approx(res.se_units**2 + res.se_sensors**2, rel=1e-9)


def test_se_parts_are_zero_for_the_source_that_does_not_vary():
    rng = np.random.default_rng(4)
    seeds_only = np.repeat(rng.normal(0, 0.1, size=(4, 1)), 50, axis=1)  # (S, N): per-seed
    res = sig.paired_difference(seeds_only, np.zeros_like(seeds_only))
    assert res.se_sensors == pytest.approx(0.0, abs=1e-12) and res.se_units > 0
    clips_only = np.repeat(rng.normal(0, 0.1, size=(1, 50)), 4, axis=0)  # same on every seed
    res = sig.paired_difference(clips_only, np.zeros_like(clips_only))
    assert res.se_units == pytest.approx(0.0, abs=1e-12) and res.se_sensors > 0
    # the parts come from the same draws as se: one source alone, se equals that part
    assert res.se == pytest.approx(res.se_sensors, rel=1e-12)


def test_ci_covers_the_true_difference_at_about_the_nominal_rate():
    # 200 simulated experiments: 4 seeds x 150 clips, seed and clip effects, true diff 0.03
    rng = np.random.default_rng(4)
    hits, n_sim = 0, 200
    for _ in range(n_sim):
        clip_a = rng.normal(0.5, 0.25, size=(1, 150))
        clip_d = rng.normal(0.0, 0.15, size=(1, 150))
        seed_d = rng.normal(0.0, 0.01, size=(4, 1))
        noise = rng.normal(0.0, 0.05, size=(4, 150))
        b = clip_a + rng.normal(0, 0.05, size=(4, 150))
        a = b + 0.03 + clip_d + seed_d + noise
        res = sig.paired_difference(a, b)
        hits += res.ci_low <= 0.03 <= res.ci_high
    assert 0.88 <= hits / n_sim <= 0.99, hits / n_sim


def test_holm_against_a_hand_computation():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    got = sig.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02])
    # NaN stays NaN and does not count in m; caps at 1
    got = sig.holm([0.2, math.nan, 0.7])
    np.testing.assert_allclose(got, [0.4, math.nan, 0.7])
    np.testing.assert_allclose(sig.holm([0.6, 0.9]), [1.0, 1.0])
    with pytest.raises(ValueError, match="p-values"):
        sig.holm([1.5])


def test_mdd_formula():
    se = 0.01
    want = (stats.norm.ppf(1 - 0.05 / 2) + stats.norm.ppf(0.8)) * se
    assert sig.mdd(se) == pytest.approx(want)
    with_df = (stats.t.ppf(0.975, 2) + stats.t.ppf(0.8, 2)) * se  # t quantiles, 3 units
    assert sig.mdd(se, df=2) == pytest.approx(with_df) and with_df > 1.9 * want
    assert sig.mdd(se) == pytest.approx(0.02802, abs=1e-5)  # (1.95996 + 0.84162) * 0.01
    strict = sig.mdd(se, alpha=0.05 / 8)
    assert strict == pytest.approx((stats.norm.ppf(1 - 0.05 / 16) + 0.841621) * se, rel=1e-5)
    with pytest.raises(ValueError):
        sig.mdd(-1.0)


def test_bad_inputs_are_refused():
    a = np.zeros((2, 3))
    with pytest.raises(ValueError, match="differ in shape"):
        sig.paired_difference(a, np.zeros((2, 4)))
    b = a.copy()
    b[0, 0] = np.nan
    with pytest.raises(ValueError, match="same"):
        sig.paired_difference(a, b)
    with pytest.raises(ValueError, match="S seeds x N clips"):
        sig.paired_difference(np.zeros(3), np.zeros(3))
    res = sig.paired_difference(a, a)
    assert res.se == 0 and math.isnan(res.p) and res.estimate == 0
    m = sig.mean_interval(np.array([[1.0, 0.0, 1.0, 1.0]]))
    assert m.estimate == pytest.approx(0.75)


def test_three_seeds_that_dominate_cannot_carry_a_verdict():
    # three runs that differ a lot, clips nearly noiseless: df ~ 2, never "significant"
    rng = np.random.default_rng(8)
    d = np.array([[0.10], [0.13], [0.16]]) + rng.normal(0, 0.001, (3, 200))
    res = sig.paired_difference(d, np.zeros_like(d))
    assert res.df < sig.MIN_DF and not res.resolvable
    assert "not resolvable with S=3" in res.note
    assert res.p < 0.05  # Student t with 2 df still rejects ...
    p_holm, significant = sig.holm_verdicts([res])
    assert p_holm[0] == pytest.approx(res.p) and not significant[0]  # ... but no verdict
    assert res.ci_high - res.ci_low > 2 * stats.t.ppf(0.975, 2) * res.se_units * 0.99
    one = sig.paired_difference(d[:1], np.zeros_like(d[:1]))
    assert not one.resolvable and "1 unit" in one.note


def test_a_collapsed_run_is_named_as_the_unit_that_dominates():
    rng = np.random.default_rng(9)
    sensors = np.repeat(np.arange(12), 20)
    d = rng.normal(0.01, 0.2, (6, sensors.size))
    ok = sig.paired_difference(d, np.zeros_like(d), clusters=sensors)
    d[4] -= 0.4  # one run stopped at its 3rd epoch: far worse on every clip
    bad = sig.paired_difference(d, np.zeros_like(d), clusters=sensors)
    assert ok.dominant_unit == -1 and bad.dominant_unit == 4
    assert bad.unit_influence >= sig.DOMINANCE > ok.unit_influence
    assert "dominated by unit 4" in bad.note
    summary = sig.mdd_summary([ok, bad], labels=["fine", "unstable"])
    assert summary["alpha_strict"] == pytest.approx(0.025)
    assert summary["dominated"] == {"unstable": 4}
    rows = summary["mdd"]
    assert rows["fine"] == pytest.approx(sig.mdd(ok.se, 0.025, df=ok.df))
    assert summary["max"] == rows["unstable"] > rows["fine"] == summary["min"]
    assert summary["median"] == pytest.approx((rows["fine"] + rows["unstable"]) / 2)


def test_splits_add_their_between_split_variance():
    # two splits with their own clips; the second split is shifted for every unit
    rng = np.random.default_rng(10)
    d = np.full((6, 120), np.nan)
    d[:3, :60] = 0.0 + rng.normal(0, 0.05, (3, 60))
    d[3:, 60:] = 0.2 + rng.normal(0, 0.05, (3, 60))
    sensors = np.repeat(np.arange(12), 10)
    zero = np.where(np.isnan(d), np.nan, 0.0)
    res = sig.paired_difference(d, zero, clusters=sensors)
    split_means = np.array([np.nanmean(d[:3]), np.nanmean(d[3:])])
    # the between-split spread dominates: se² is the variance of the mean of two splits
    assert res.se**2 == pytest.approx(split_means.var(ddof=1) / 2, rel=0.02)
    assert res.n_splits == 2 and res.df < 3 and not res.resolvable


def test_prob_best_resamples_units_and_sensors():
    rng = np.random.default_rng(11)
    sensors = np.repeat(np.arange(6), 10)
    base = rng.normal(0.6, 0.1, (3, 60))
    scores = {"a": base + 0.2, "b": base, "c": base + 1e-9}
    p = sig.prob_best(scores, clusters=sensors, n_boot=500)
    assert list(p) == ["a", "b", "c"] and p["a"] == 1.0 and sum(p.values()) == pytest.approx(1)
    # two configurations with noisy, nearly equal scores: a coin toss, not a clear winner
    x = {"x": rng.normal(0.6, 0.2, (3, 60)), "y": rng.normal(0.6, 0.2, (3, 60))}
    q = sig.prob_best(x, clusters=sensors, n_boot=2000)
    assert 0.1 < q["x"] < 0.9 and q["x"] + q["y"] == pytest.approx(1.0)
    # both tasks: the criterion is the mean over tasks, as the book chooses on validation
    two = {
        "x": {"source": base + 0.1, "sensor": base - 0.05},
        "y": {"source": base, "sensor": base},
    }
    assert sig.prob_best(two, {"source": sensors, "sensor": sensors}, n_boot=300)["x"] == 1.0
    with pytest.raises(ValueError, match="tasks"):
        sig.prob_best({"x": {"source": base}, "y": {"sensor": base}})
