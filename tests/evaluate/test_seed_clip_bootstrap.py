"""The retired seed × test-clip bootstrap (``benchmarks/seed_clip_bootstrap.py``), kept to
measure it against the book's procedure: its replicates, its interval, a table under it."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_results import make_results
from scipy import stats

from mvlib.report import tables

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from seed_clip_bootstrap import (  # noqa: E402  (benchmarks/: scripts, not a package)
    bootstrap_replicates,
    seed_clip_bootstrap,
    seed_clip_procedure,
)


def test_replicates_match_an_explicit_loop_over_drawn_indices():
    rng = np.random.default_rng(1)
    S, N, B = 3, 7, 5
    d = rng.normal(size=(S, N))
    clip_idx = rng.integers(0, N, size=(B, N))  # the clips each replicate draws
    seed_idx = rng.integers(0, S, size=(B, S))  # the seeds each replicate draws
    clip_counts = {0: np.stack([np.bincount(r, minlength=N) for r in clip_idx])}
    seed_counts = np.stack([np.bincount(r, minlength=S) for r in seed_idx])
    got = bootstrap_replicates(d, clip_counts, seed_counts)
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
    got = bootstrap_replicates(d, clip_counts, seed_counts)
    np.testing.assert_allclose(got, [(1.0 + 1.0 + 6.0) / 3])


def test_the_seed_clip_bootstrap_resamples_with_normal_quantiles():
    rng = np.random.default_rng(2)
    a = rng.normal(0.6, 0.3, size=(1, 400))
    b = a - rng.normal(0.05, 0.2, size=(1, 400))
    res = seed_clip_bootstrap(a, b, n_boot=4000, seed=0)
    d = (a - b).ravel()
    assert res.estimate == pytest.approx(d.mean(), rel=1e-12)
    # one seed: the bootstrap se of a mean is sd(ddof=0)/sqrt(N), up to Monte Carlo error
    assert res.se == pytest.approx(d.std() / math.sqrt(d.size), rel=0.05)
    z = stats.norm.ppf(0.975)
    assert res.ci_low == pytest.approx(res.estimate - z * res.se)
    assert res.p == pytest.approx(2 * stats.norm.sf(abs(res.estimate) / res.se))
    assert (res.n_units, res.n_clips, res.df) == (1, 400, math.inf)
    assert res.procedure == "seed × test-clip bootstrap (4000 replicates, normal quantiles)"
    again = seed_clip_bootstrap(a, b, n_boot=500, seed=3)
    assert again == seed_clip_bootstrap(a, b, n_boot=500, seed=3)


def test_a_table_under_the_seed_clip_bootstrap_for_comparison(tmp_path):
    results = make_results(tmp_path / "runs")
    new = tables.table1(results)
    old = tables.table1(results, procedure=seed_clip_procedure(300))
    assert old.comparisons.procedure.str.startswith("seed × test-clip bootstrap").all()
    assert (old.comparisons.df == np.inf).all() and (new.comparisons.procedure == "cluster").all()
    # same estimates, other intervals: the retired one ignores the sensors and uses z
    np.testing.assert_allclose(old.comparisons.estimate, new.comparisons.estimate)
    assert not np.allclose(old.comparisons.se, new.comparisons.se)
    assert "seed × test-clip bootstrap (300 replicates, normal quantiles)" in old.notes
    assert "test sensors as clusters" in new.notes
