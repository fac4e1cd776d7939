"""Seed × clip bootstrap, Holm and the MDD against numpy references and a simulation."""

import math

import numpy as np
import pytest
from scipy import stats

from mvlib.evaluate import significance as sig


def test_replicates_match_an_explicit_loop_over_drawn_indices():
    rng = np.random.default_rng(1)
    S, N, B = 3, 7, 5
    d = rng.normal(size=(S, N))
    clip_idx = rng.integers(0, N, size=(B, N))  # the clips each replicate draws
    seed_idx = rng.integers(0, S, size=(B, S))  # the seeds each replicate draws
    clip_counts = {0: np.stack([np.bincount(r, minlength=N) for r in clip_idx])}
    seed_counts = np.stack([np.bincount(r, minlength=S) for r in seed_idx])
    got = sig.bootstrap_replicates(d, clip_counts, seed_counts)
    # reference: for each drawn seed, mean over the drawn clips (same clips for every seed)
    want = [np.mean([d[s, clip_idx[b]].mean() for s in seed_idx[b]]) for b in range(B)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_replicates_nest_clips_in_splits_when_seeds_score_different_clips():
    # seed 0 scored clips 0-2 (split A), seeds 1 and 2 scored clips 3-6 (split B)
    d = np.full((3, 7), np.nan)
    d[0, :3] = [1.0, 2.0, 3.0]
    d[1, 3:] = [0.0, 1.0, 0.0, 1.0]
    d[2, 3:] = [2.0, 2.0, 2.0, 6.0]
    clip_counts = {0: np.array([[3, 0, 0]]), 1: np.array([[0, 0, 0, 4]])}
    seed_counts = np.array([[1, 1, 1]])
    got = sig.bootstrap_replicates(d, clip_counts, seed_counts)
    np.testing.assert_allclose(got, [(1.0 + 1.0 + 6.0) / 3])


def test_point_estimate_and_se_against_the_analytic_clip_bootstrap():
    rng = np.random.default_rng(2)
    a = rng.normal(0.6, 0.3, size=(1, 400))
    b = a - rng.normal(0.05, 0.2, size=(1, 400))
    res = sig.paired_bootstrap(a, b, n_boot=4000, seed=0)
    d = (a - b).ravel()
    assert res.estimate == pytest.approx(d.mean(), rel=1e-12)
    # one seed: the bootstrap se of a mean is sd(ddof=0)/sqrt(N), up to Monte Carlo error
    assert res.se == pytest.approx(d.std() / math.sqrt(d.size), rel=0.05)
    z = stats.norm.ppf(0.975)
    assert res.ci_low == pytest.approx(res.estimate - z * res.se)
    assert res.p == pytest.approx(2 * stats.norm.sf(abs(res.estimate) / res.se))
    assert (res.n_seeds, res.n_clips, res.n_boot) == (1, 400, 4000)
    assert sig.paired_bootstrap(a, b, n_boot=500, seed=3) == sig.paired_bootstrap(
        a, b, n_boot=500, seed=3
    )


def test_se_includes_seed_and_clip_variation():
    # crossed design d = mu + seed effect + clip effect: both enter the se
    rng = np.random.default_rng(3)
    S, N = 5, 300
    seed_eff = np.array([[-0.02], [-0.01], [0.0], [0.01], [0.02]])
    clip_eff = rng.normal(0, 0.3, size=(1, N))
    d = 0.02 + seed_eff + clip_eff
    res = sig.paired_bootstrap(d, np.zeros_like(d), n_boot=4000, seed=0)
    want = math.sqrt(seed_eff.var() / S + clip_eff.var() / N)  # ddof=0: what a bootstrap sees
    assert res.se == pytest.approx(want, rel=0.1)
    seeds_only = d.mean(1).std() / math.sqrt(S)  # what resampling seeds alone would see
    assert res.se > 1.5 * seeds_only
    # the parts apart: the seeds alone see the seed effect, the clips alone the clip effect
    assert res.se_units == pytest.approx(seeds_only, rel=0.1)
    assert res.se_clips == pytest.approx(clip_eff.std() / math.sqrt(N), rel=0.1)
    assert res.se_units**2 + res.se_clips**2 == pytest.approx(res.se**2, rel=0.15)


def test_se_parts_are_zero_for_the_source_that_does_not_vary():
    rng = np.random.default_rng(4)
    seeds_only = np.repeat(rng.normal(0, 0.1, size=(4, 1)), 50, axis=1)  # (S, N): per-seed
    res = sig.paired_bootstrap(seeds_only, np.zeros_like(seeds_only), n_boot=500)
    assert res.se_clips == pytest.approx(0.0, abs=1e-12) and res.se_units > 0
    clips_only = np.repeat(rng.normal(0, 0.1, size=(1, 50)), 4, axis=0)  # same on every seed
    res = sig.paired_bootstrap(clips_only, np.zeros_like(clips_only), n_boot=500)
    assert res.se_units == pytest.approx(0.0, abs=1e-12) and res.se_clips > 0
    # the parts come from the same draws as se: one source alone, se equals that part
    assert res.se == pytest.approx(res.se_clips, rel=1e-12)


def test_ci_covers_the_true_difference_at_about_the_nominal_rate():
    # 200 simulated experiments: 4 seeds x 150 clips, seed and clip effects, true diff 0.03
    rng = np.random.default_rng(4)
    hits, n_sim = 0, 200
    for i in range(n_sim):
        clip_a = rng.normal(0.5, 0.25, size=(1, 150))
        clip_d = rng.normal(0.0, 0.15, size=(1, 150))
        seed_d = rng.normal(0.0, 0.01, size=(4, 1))
        noise = rng.normal(0.0, 0.05, size=(4, 150))
        b = clip_a + rng.normal(0, 0.05, size=(4, 150))
        a = b + 0.03 + clip_d + seed_d + noise
        res = sig.paired_bootstrap(a, b, n_boot=300, seed=i)
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
    assert sig.mdd(se) == pytest.approx(0.02802, abs=1e-5)  # (1.95996 + 0.84162) * 0.01
    strict = sig.mdd(se, alpha=0.05 / 8)
    assert strict == pytest.approx((stats.norm.ppf(1 - 0.05 / 16) + 0.841621) * se, rel=1e-5)
    with pytest.raises(ValueError):
        sig.mdd(-1.0)


def test_bad_inputs_are_refused():
    a = np.zeros((2, 3))
    with pytest.raises(ValueError, match="differ in shape"):
        sig.paired_bootstrap(a, np.zeros((2, 4)))
    b = a.copy()
    b[0, 0] = np.nan
    with pytest.raises(ValueError, match="same"):
        sig.paired_bootstrap(a, b)
    with pytest.raises(ValueError, match="S seeds x N clips"):
        sig.paired_bootstrap(np.zeros(3), np.zeros(3))
    res = sig.paired_bootstrap(a, a)
    assert res.se == 0 and math.isnan(res.p) and res.estimate == 0
    m = sig.mean_bootstrap(np.array([[1.0, 0.0, 1.0, 1.0]]), n_boot=200)
    assert m.estimate == pytest.approx(0.75)
