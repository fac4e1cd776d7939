"""The coverage simulation keeps the paired comparisons at their nominal levels.

Tables of 8 comparisons are drawn from the hierarchical model of
``benchmarks/coverage_sim.py`` with a sensor × configuration effect (logit sd 0.3). The
cluster procedure must cover the true difference in 92–98% of the comparisons and keep
Holm's family-wise error rate near 5%; the retired seed × clip bootstrap, run on the same
kind of data, must fail that check (it covers ~78–90%), so the test can catch a regression.

Tolerance: with 120 tables × 8 comparisons the Monte Carlo SE of a coverage is about 0.007
(``Measured.coverage_se``, computed over tables since comparisons of one table share the
reference); the band 0.92–0.98 is about ±4 SE around 0.95 and far above the retired
procedure's 0.78–0.90. The FWER of 120 tables has an SE of 0.02: the bound 0.10 is 0.05 +
2.5 SE. Everything is seeded, so the figures are reproducible; the full before/after table
(more tables) is ``python benchmarks/interval_coverage.py``.
"""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mvlib.evaluate.significance import paired_difference

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import coverage_sim as cv  # noqa: E402  (benchmarks/: scripts, not a package)
from seed_clip_bootstrap import seed_clip_bootstrap  # noqa: E402

CLUSTERED_S3 = cv.Scenario(score="accuracy", sd_sensor_config=0.3)  # the default book
#: 12 seeds on one split: more seeds narrow the retired interval, the sensor error stays
CLUSTERED_S12 = cv.Scenario(score="jaccard", seeds_per_split=12, sd_sensor_config=0.3)


def cluster(a, b, clusters, seed):
    return paired_difference(a, b, clusters=clusters)


def seed_clip(a, b, clusters, seed):
    return seed_clip_bootstrap(a, b, 200, seed)


@pytest.mark.parametrize("scn", [CLUSTERED_S3, CLUSTERED_S12], ids=["acc-S3", "jaccard-S12"])
def test_cluster_procedure_keeps_nominal_coverage_and_fwer(scn):
    m = cv.measure(scn, cluster, n_tables=120, seed=7)
    assert 0.92 <= m.coverage <= 0.98, m
    assert m.fwer <= 0.10, m
    # the SE it reports is the spread of its estimates around the truth (within 15%)
    assert m.mean_se == pytest.approx(m.true_sd, rel=0.15), m


def test_the_seed_clip_bootstrap_fails_the_same_check_on_clustered_data():
    m = cv.measure(replace(CLUSTERED_S12, score="accuracy"), seed_clip, n_tables=50, seed=7)
    assert m.coverage < 0.90, m  # far below the band the cluster procedure keeps
    assert m.mean_se < 0.8 * m.true_sd, m  # clips as independent: the SE is too small


def test_true_differences_match_the_tables_simulated_means():
    scn = replace(CLUSTERED_S3, shifts=(0.0, 0.3, -0.3, 0.0, 0.0, 0.0, 0.0, 0.6))
    truth = cv.true_differences(scn)
    assert truth[0] == pytest.approx(0.0, abs=2e-3) and truth[1] > 0.03 > -0.03 > truth[2]
    # the mean over many simulated tables (each of new sensors, clips, units) agrees
    rng = np.random.default_rng(3)
    diffs = []
    for _ in range(150):
        scores, _ = cv.simulate_table(scn, rng)
        means = scores.mean(axis=(1, 2))  # (m+1,)
        diffs.append(means[1:] - means[0])
    np.testing.assert_allclose(np.mean(diffs, axis=0), truth, atol=0.006)


def test_simulated_scores_have_the_books_shapes_and_conventions():
    rng = np.random.default_rng(0)
    jac = cv.Scenario(score="jaccard", n_splits=2, seeds_per_split=2, sensors=3)
    scores, clusters = cv.simulate_table(jac, rng)
    assert scores.shape == (9, 4, 2 * 3 * 48) and clusters.shape == (2 * 3 * 48,)
    # units of a split score exactly that split's clips; sensors are nested in splits
    assert np.isnan(scores[:, :2, 144:]).all() and not np.isnan(scores[:, :2, :144]).any()
    assert set(clusters[:144]).isdisjoint(clusters[144:])
    seen = scores[~np.isnan(scores)]
    assert seen.min() >= 0.0 and seen.max() <= 1.0 and 0.1 < (seen == 1.0).mean() < 0.9
    acc, _ = cv.simulate_table(cv.Scenario(), rng)
    assert set(np.unique(acc)) == {0.0, 1.0}
